//! Pulls with Opus audio. retina has no Opus depacketizer and keeps its
//! depacketizers' input private, so such a session reads retina's raw RTP
//! and RTCP and runs every track through the sans-io depacketizers the push
//! server uses ([`media::rtsp::PushSession`]). retina still does the RTSP
//! exchange, authentication, transports and keepalives.

use bytes::Bytes;
use futures::StreamExt;
use media::codec::{AudioConfig, VideoConfig};
use media::rtsp::PushSession;
use media::MediaFrame;
use retina::client::{PacketItem, Playing, Session};

use crate::session::{kicked, Pull};
use crate::PullError;
use media::rtsp::tracks::TrackPlan;

/// Interleaved-style channel a retina stream's RTP is fed in on (RTCP: +1).
fn channel_of(stream: usize) -> Option<u8> {
    u8::try_from(stream.checked_mul(2)?).ok().filter(|channel| *channel < u8::MAX)
}

fn media_error(error: media::MediaError) -> PullError {
    PullError::Media(error.to_string())
}

impl Pull<'_> {
    pub(crate) async fn run_packets(
        &mut self,
        mut playing: Session<Playing>,
        plan: &TrackPlan,
        sdp: &[u8],
        retina_error: &(dyn Fn(retina::Error) -> PullError + Sync),
    ) -> Result<std::convert::Infallible, PullError> {
        let config = self.context.config;
        let mut depacketizer = PushSession::from_sdp(sdp).map_err(media_error)?;
        for stream in std::iter::once(plan.video).chain(plan.audio) {
            let channel = channel_of(stream).ok_or_else(|| PullError::Media("too many streams".into()))?;
            depacketizer.bind_channel(stream, channel).map_err(media_error)?;
        }
        let mut frames = depacketizer.initial_frames();
        // The audio configuration must be known when video takes the stream live.
        frames.sort_by_key(|frame| !matches!(frame, MediaFrame::AudioConfig { .. }));
        let mut pending_audio: Option<(MediaFrame, String)> = None;
        let mut lost_before = 0;
        loop {
            for frame in frames.drain(..) {
                self.packet_frame(frame, &mut pending_audio, plan)?;
            }
            let lost = depacketizer.stats().packets_lost;
            self.count_loss(u16::try_from(lost.saturating_sub(lost_before)).unwrap_or(u16::MAX));
            lost_before = lost;

            let next = tokio::time::timeout(config.stall_timeout(), playing.next());
            let item = tokio::select! {
                item = next => item,
                _ = kicked(&self.publish) => return Err(PullError::NameTaken(config.name.clone())),
            };
            let (channel, data) = match item {
                Err(_) => return Err(PullError::Stalled(config.stall_timeout_ms)),
                Ok(None) => return Err(PullError::Unavailable("the camera ended the session".into())),
                Ok(Some(Err(error))) => return Err(retina_error(error)),
                Ok(Some(Ok(PacketItem::Rtp(packet)))) => {
                    (channel_of(packet.stream_id()), Bytes::copy_from_slice(packet.raw()))
                }
                Ok(Some(Ok(PacketItem::Rtcp(packet)))) => {
                    (channel_of(packet.stream_id()).map(|rtp| rtp + 1), Bytes::copy_from_slice(packet.raw()))
                }
                Ok(Some(Ok(_))) => continue,
            };
            if let Some(channel) = channel {
                depacketizer.push_interleaved(channel, data, &mut frames);
            }
        }
    }

    /// Before the first video configuration, audio configuration waits and
    /// media is dropped; the first video configuration takes the stream live.
    fn packet_frame(
        &mut self,
        frame: MediaFrame,
        pending_audio: &mut Option<(MediaFrame, String)>,
        plan: &TrackPlan,
    ) -> Result<(), PullError> {
        match frame {
            MediaFrame::VideoConfig { codec, ref record } => {
                let parsed = VideoConfig::parse(codec, record.clone()).map_err(media_error)?;
                let (codec_string, resolution) = (parsed.codec_string(), (parsed.width(), parsed.height()));
                self.video_configuration(frame, codec_string, resolution, || {
                    (pending_audio.take(), plan.audio.is_some())
                })
            }
            MediaFrame::AudioConfig { codec, ref record } if self.publish.is_none() => {
                let parsed = AudioConfig::parse(codec, record.clone()).map_err(media_error)?;
                *pending_audio = Some((frame, parsed.codec_string()));
                Ok(())
            }
            other => self.push(other),
        }
    }
}
