//! One connection to a camera: DESCRIBE, SETUP, PLAY, then frames into the
//! live edge until something fails. The supervisor decides what happens next.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use media::rtsp::timing::{ticks_to_ms, AudioTiming, VideoTiming};
use media::rtsp::tracks::{plan_tracks, Offer, TrackPlan};
use media::MediaFrame;
use publisher::{Claim, Gate, Publication};
use retina::client::{Credentials, PlayOptions, Session, SessionGroup, SessionOptions, SetupOptions, Transport};
use retina::codec::{AudioFrame, CodecItem, FrameFormat, ParametersRef, VideoFrame};

use crate::config::{CameraConfig, RtpTransport};
use crate::status::{CameraState, StatusBoard};
use crate::tracks::{audio_config, video_config};
use crate::PullError;

pub(crate) struct SessionContext<'a> {
    pub config: &'a CameraConfig,
    /// Claims the stream (in a cluster: for this pod, with its epoch).
    pub gate: &'a Gate,
    pub board: &'a StatusBoard,
    pub group: &'a Arc<SessionGroup>,
}

/// How one connection ended.
pub(crate) struct SessionEnd {
    pub error: PullError,
    /// Frames reached the live edge, so the next failure starts a fresh backoff.
    pub went_online: bool,
}

pub(crate) async fn pull_once(context: SessionContext<'_>) -> SessionEnd {
    let claim = match context.gate.claim(&context.config.name, None).await {
        Ok(claim) => claim,
        Err(refusal) => {
            return SessionEnd { error: PullError::refused(&context.config.name, &refusal), went_online: false }
        }
    };
    let mut pull =
        Pull { context, claim, publish: None, last_video_record: None, video_timing: VideoTiming::default() };
    let error = match pull.run().await {
        Ok(never) => match never {},
        Err(error) => error,
    };
    SessionEnd { error, went_online: pull.publish.is_some() }
}

pub(crate) struct Pull<'a> {
    pub context: SessionContext<'a>,
    claim: Claim,
    /// The stream on the live edge; dropping it starts the reconnect grace period.
    pub publish: Option<Publication>,
    last_video_record: Option<Bytes>,
    video_timing: VideoTiming,
}

impl Pull<'_> {
    async fn run(&mut self) -> Result<std::convert::Infallible, PullError> {
        let config = self.context.config;
        let endpoint = config.endpoint()?;
        let secrets: Vec<String> = endpoint.username.iter().chain(endpoint.password.iter()).cloned().collect();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let retina_error = |error: retina::Error| PullError::from_retina(&error, &secrets);
        let credentials = endpoint
            .username
            .clone()
            .map(|username| Credentials { username, password: endpoint.password.clone().unwrap_or_default() });
        let options = SessionOptions::default()
            .creds(credentials)
            .user_agent(concat!("relay-rtsp/", env!("CARGO_PKG_VERSION")).to_owned())
            .session_group(self.context.group.clone());

        let url = within(config, checked_address(config, endpoint.url.clone())).await??;
        let mut session = within(config, Session::describe(url, options)).await?.map_err(retina_error)?;
        let sdp = Bytes::copy_from_slice(session.sdp());
        let plan = plan_tracks(
            session.streams().iter().map(|stream| Offer { media: stream.media(), encoding: stream.encoding_name() }),
        )
        .map_err(PullError::from_track_choice)?;
        for warning in &plan.warnings {
            tracing::warn!(camera = %config.name, %warning, "camera stream skipped");
            self.context.board.warn(warning.clone());
        }
        let transport = match config.transport {
            RtpTransport::Tcp => Transport::Tcp(Default::default()),
            RtpTransport::Udp => Transport::Udp(Default::default()),
        };
        for stream in std::iter::once(plan.video).chain(plan.audio) {
            let setup = SetupOptions::default().transport(transport.clone()).frame_format(FrameFormat::MP4);
            within(config, session.setup(stream, setup)).await?.map_err(retina_error)?;
        }
        let playing = within(config, session.play(PlayOptions::default())).await?.map_err(retina_error)?;
        if plan.opus {
            return self.run_packets(playing, &plan, &sdp, &retina_error).await;
        }
        let mut demuxed = playing.demuxed().map_err(retina_error)?;
        let mut audio_timing = AudioTiming::default();

        loop {
            let next = tokio::time::timeout(config.stall_timeout(), demuxed.next());
            let item = tokio::select! {
                item = next => item,
                _ = kicked(&self.publish) => return Err(PullError::NameTaken(config.name.clone())),
            };
            let item = match item {
                Err(_) => return Err(PullError::Stalled(config.stall_timeout_ms)),
                Ok(None) => return Err(PullError::Unavailable("the camera ended the session".into())),
                Ok(Some(Err(error))) => return Err(retina_error(error)),
                Ok(Some(Ok(item))) => item,
            };
            match item {
                CodecItem::VideoFrame(frame) if frame.stream_id() == plan.video => {
                    // Parameters are looked at only when they may have changed.
                    let fresh = frame.has_new_parameters() || self.last_video_record.is_none();
                    let stream = demuxed.streams().get(plan.video).filter(|_| fresh);
                    let params = match stream.and_then(|stream| stream.parameters()) {
                        Some(ParametersRef::Video(params)) => Some(params.clone()),
                        _ => None,
                    };
                    self.video(frame, params, &plan, &demuxed)?;
                }
                CodecItem::AudioFrame(frame) if Some(frame.stream_id()) == plan.audio => {
                    self.audio(frame, &mut audio_timing)?;
                }
                _ => {}
            }
        }
    }

    fn video(
        &mut self,
        frame: VideoFrame,
        params: Option<retina::codec::VideoParameters>,
        plan: &TrackPlan,
        demuxed: &retina::client::Demuxed,
    ) -> Result<(), PullError> {
        self.count_loss(frame.loss());
        if let Some(params) = params {
            self.video_parameters(&params, plan, demuxed)?;
        }
        // Nothing is packaged before the first parameters.
        if self.publish.is_none() {
            return Ok(());
        }
        let pts_ms = ticks_to_ms(frame.timestamp().elapsed(), frame.timestamp().clock_rate().get());
        let (dts_ms, cts_ms) = self.video_timing.map(pts_ms);
        if self.video_timing.saw_reordering() {
            self.context.board.warn("the camera sends B-frames; decode times are approximated".into());
        }
        let keyframe = frame.is_random_access_point();
        self.push(MediaFrame::Video { dts_ms, cts_ms, keyframe, data: Bytes::from(frame.into_data()) })
    }

    /// The first parameters open the live stream; different ones later
    /// become a new configuration frame (new init segment, discontinuity).
    fn video_parameters(
        &mut self,
        params: &retina::codec::VideoParameters,
        plan: &TrackPlan,
        demuxed: &retina::client::Demuxed,
    ) -> Result<(), PullError> {
        let (config_frame, codec, resolution) = video_config(params)?;
        self.video_configuration(config_frame, codec, resolution, || {
            let audio = plan.audio.and_then(|index| match demuxed.streams().get(index)?.parameters() {
                Some(ParametersRef::Audio(params)) => audio_config(params),
                _ => None,
            });
            (audio, plan.audio.is_some())
        })
    }

    /// A video configuration frame: the first takes the stream live with the
    /// audio `audio` yields (and whether audio was expected); a different
    /// one later becomes a new init segment.
    pub(crate) fn video_configuration(
        &mut self,
        config_frame: MediaFrame,
        codec: String,
        resolution: (u32, u32),
        audio: impl FnOnce() -> (Option<(MediaFrame, String)>, bool),
    ) -> Result<(), PullError> {
        let MediaFrame::VideoConfig { record, .. } = &config_frame else { return Ok(()) };
        if self.last_video_record.as_ref() == Some(record) {
            return Ok(());
        }
        if self.last_video_record.replace(record.clone()).is_none() {
            let (audio, audio_expected) = audio();
            return self.go_live(config_frame, codec, resolution, audio, audio_expected);
        }
        tracing::info!(camera = %self.context.config.name, "camera sent new video parameters");
        self.push(config_frame)?;
        self.context.board.update(|status| {
            status.resolution = Some(resolution);
            if let Some(video) = status.codecs.first_mut() {
                *video = codec;
            }
        });
        Ok(())
    }

    fn audio(&mut self, frame: AudioFrame, timing: &mut AudioTiming) -> Result<(), PullError> {
        self.count_loss(frame.loss());
        // Audio before the first video parameters has no init segment to join.
        if self.publish.is_none() {
            return Ok(());
        }
        let dts_ms = timing.map(ticks_to_ms(frame.timestamp().elapsed(), frame.timestamp().clock_rate().get()));
        self.push(MediaFrame::Audio { dts_ms, data: Bytes::copy_from_slice(frame.data()) })
    }

    /// Claims the live stream once the first video parameters are known, so a
    /// camera that never sends a decodable picture never opens a playlist.
    pub(crate) fn go_live(
        &mut self,
        video_config: MediaFrame,
        video_codec: String,
        resolution: (u32, u32),
        audio: Option<(MediaFrame, String)>,
        audio_expected: bool,
    ) -> Result<(), PullError> {
        let name = &self.context.config.name;
        let publication = self.claim.open().map_err(|refusal| PullError::refused(name, &refusal))?;
        self.publish = Some(publication);
        self.push(video_config)?;
        let mut codecs = vec![video_codec];
        if let Some((frame, codec)) = audio {
            self.push(frame)?;
            codecs.push(codec);
        } else if audio_expected {
            self.context.board.warn("the camera's audio stream has no usable configuration; audio skipped".into());
        }
        tracing::info!(camera = %name, url = %self.context.config.redacted_url(), "camera online");
        self.context.board.update(|status| {
            status.codecs = codecs;
            status.resolution = Some(resolution);
            status.failed_attempts = 0;
        });
        self.context.board.set_state(CameraState::Online, None);
        Ok(())
    }

    pub(crate) fn push(&mut self, frame: MediaFrame) -> Result<(), PullError> {
        let Some(session) = self.publish.as_mut() else { return Ok(()) };
        session.push(frame).map_err(|error| PullError::Media(error.to_string()))
    }

    pub(crate) fn count_loss(&self, lost: u16) {
        if lost > 0 {
            self.context.board.update(|status| status.packets_lost += u64::from(lost));
        }
    }
}

pub(crate) use publisher::kicked;

/// `url` with its host replaced by an address the outbound policy allows,
/// so the connection goes where the check looked (no second resolution).
/// RTSP has no redirects retina follows, and every later request of the
/// session travels on this one connection.
async fn checked_address(config: &CameraConfig, mut url: url::Url) -> Result<url::Url, PullError> {
    let host = url.host_str().ok_or_else(|| PullError::InvalidConfig("the camera URL has no host".into()))?;
    let port = url.port().unwrap_or(554);
    let addresses = config.outbound.resolve(host, port).await.map_err(PullError::from_outbound)?;
    let address = addresses.first().ok_or_else(|| PullError::Unavailable(format!("cannot resolve {host}")))?;
    url.set_ip_host(address.ip())
        .map_err(|()| PullError::InvalidConfig("the camera URL cannot take an address".into()))?;
    Ok(url)
}

/// Bounds one RTSP exchange by the connect timeout.
async fn within<T>(config: &CameraConfig, step: impl Future<Output = T>) -> Result<T, PullError> {
    tokio::time::timeout(config.connect_timeout(), step)
        .await
        .map_err(|_| PullError::TimedOut(config.connect_timeout_ms))
}
