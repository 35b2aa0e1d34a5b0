//! One RTSP publish (ANNOUNCE ... RECORD) from SDP and interleaved packets
//! to [`MediaFrame`]s: picks the tracks, builds their configuration records,
//! depacketizes, and puts every track on one millisecond clock.

use bytes::Bytes;

use super::aac::{AacDepacketizer, AuHeaderLayout};
use super::h26x::{AccessUnit, H26xDepacketizer, ParameterSets};
use super::jitter::JitterBuffer;
use super::records::video_record;
use super::reorder::DecodeTimes;
use super::rtp::{parse_sender_report, Arrival, RtpPacket, SenderReport, SequenceTracker};
use super::sdp::{decode_base64, decode_hex, parse_sdp, SdpMedia};
use crate::codec::{AacConfig, OpusConfig};
use crate::{AudioCodec, MediaError, MediaFrame, VideoCodec};

const WHAT: &str = "RTSP publish";
/// Packets a UDP track holds behind a gap before giving it up as loss.
const JITTER_DEPTH: usize = 32;

/// Counters of what was lost or thrown away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// RTP packets missing by sequence number.
    pub packets_lost: u64,
    /// Packets dropped: late, duplicated, unparsable, or on no known channel.
    pub packets_dropped: u64,
    /// Pictures or audio frames dropped as damaged or while resyncing.
    pub frames_dropped: u64,
    /// UDP packets that arrived out of order and were put back in place.
    pub packets_reordered: u64,
}

enum Depacketizer {
    Video {
        codec: VideoCodec,
        depacketizer: H26xDepacketizer,
        record: Option<Bytes>,
    },
    Audio {
        depacketizer: AacDepacketizer,
        config: Bytes,
    },
    /// RFC 7587: every payload is one Opus packet; the header is implied.
    Opus {
        config: Bytes,
    },
    /// A section we do not package: SETUP is allowed, its packets are dropped.
    Ignored,
}

struct Track {
    media: SdpMedia,
    depacketizer: Depacketizer,
    rtp_channel: Option<u8>,
    /// Set for tracks received over UDP, where packets may be reordered.
    jitter: Option<JitterBuffer>,
    sequence: SequenceTracker,
    sender_report: Option<SenderReport>,
    /// This track's first packet on the session clock, in ms.
    offset_ms: Option<i64>,
}

/// The sans-io half of an RTSP push.
pub struct PushSession {
    tracks: Vec<Track>,
    /// NTP time (ms) of the session clock's zero, from the first track that started.
    origin_ntp_ms: Option<i64>,
    decode_times: DecodeTimes,
    last_audio_dts: Option<i64>,
    stats: PushStats,
    scratch_units: Vec<AccessUnit>,
    scratch_audio: Vec<(i64, Bytes)>,
    scratch_packets: Vec<RtpPacket>,
}

impl PushSession {
    /// Chooses the first H.264/H.265 video and the first AAC or Opus audio section of
    /// an ANNOUNCEd SDP. Other sections are kept (their SETUP succeeds) but
    /// not packaged. An SDP with neither is refused.
    pub fn from_sdp(sdp: &[u8]) -> Result<Self, MediaError> {
        let mut tracks = Vec::new();
        let (mut has_video, mut has_audio) = (false, false);
        for media in parse_sdp(sdp)? {
            let depacketizer = match (media.media.as_str(), media.encoding.as_str()) {
                ("video", "h264" | "h265") if !has_video => {
                    has_video = true;
                    video_depacketizer(&media)?
                }
                ("audio", "mpeg4-generic") if !has_audio => {
                    has_audio = true;
                    audio_depacketizer(&media)?
                }
                ("audio", "opus") if !has_audio => {
                    has_audio = true;
                    opus_depacketizer(&media)
                }
                _ => Depacketizer::Ignored,
            };
            let track = Track {
                media,
                depacketizer,
                rtp_channel: None,
                jitter: None,
                sequence: SequenceTracker::default(),
                sender_report: None,
                offset_ms: None,
            };
            tracks.push(track);
        }
        if !has_video && !has_audio {
            return Err(MediaError::unsupported(WHAT, "no H.264, H.265, AAC (MPEG4-GENERIC) or Opus stream"));
        }
        Ok(Self {
            tracks,
            origin_ntp_ms: None,
            decode_times: DecodeTimes::default(),
            last_audio_dts: None,
            stats: PushStats::default(),
            scratch_units: Vec::new(),
            scratch_audio: Vec::new(),
            scratch_packets: Vec::new(),
        })
    }

    /// The track a SETUP URI names: by its `a=control` value (relative or
    /// absolute), or the only track when there is one.
    pub fn track_for_setup(&self, uri: &str) -> Option<usize> {
        let uri = uri.trim_end_matches('/');
        let by_control = self.tracks.iter().position(|track| {
            track.media.control.as_deref().is_some_and(|control| {
                let control = control.trim_end_matches('/');
                !control.is_empty() && control != "*" && (uri == control || uri.ends_with(&format!("/{control}")))
            })
        });
        by_control.or_else(|| (self.tracks.len() == 1).then_some(0))
    }

    /// Routes interleaved channel `rtp_channel` (RTP) and the next one (RTCP) to `track`.
    pub fn bind_channel(&mut self, track: usize, rtp_channel: u8) -> Result<(), MediaError> {
        let taken = self.tracks.iter().enumerate().any(|(index, other)| {
            index != track && other.rtp_channel.is_some_and(|channel| channel / 2 == rtp_channel / 2)
        });
        if taken {
            return Err(MediaError::invalid(WHAT, format!("interleaved channel {rtp_channel} already in use")));
        }
        let track = self.tracks.get_mut(track).ok_or_else(|| MediaError::invalid(WHAT, "no such track"))?;
        track.rtp_channel = Some(rtp_channel);
        Ok(())
    }

    /// As [`Self::bind_channel`], for a track whose packets come over UDP
    /// (fed in as if on `rtp_channel`): they are put back in sequence order
    /// first, holding at most a few dozen packets behind a gap.
    pub fn bind_reordered_channel(&mut self, track: usize, rtp_channel: u8) -> Result<(), MediaError> {
        self.bind_channel(track, rtp_channel)?;
        if let Some(track) = self.tracks.get_mut(track) {
            track.jitter.get_or_insert_with(|| JitterBuffer::new(JITTER_DEPTH));
        }
        Ok(())
    }

    /// True once some track has a channel, so RECORD can start.
    pub fn is_set_up(&self) -> bool {
        self.tracks.iter().any(|track| track.rtp_channel.is_some())
    }

    /// Configuration frames known from the SDP, to push before any media.
    pub fn initial_frames(&self) -> Vec<MediaFrame> {
        let mut frames = Vec::new();
        for track in self.tracks.iter().filter(|track| track.rtp_channel.is_some()) {
            match &track.depacketizer {
                Depacketizer::Video { codec, record: Some(record), .. } => {
                    frames.push(MediaFrame::VideoConfig { codec: *codec, record: record.clone() })
                }
                Depacketizer::Audio { config, .. } => {
                    frames.push(MediaFrame::AudioConfig { codec: AudioCodec::Aac, record: config.clone() })
                }
                Depacketizer::Opus { config } => {
                    frames.push(MediaFrame::AudioConfig { codec: AudioCodec::Opus, record: config.clone() })
                }
                _ => {}
            }
        }
        frames
    }

    /// RFC 6381 codec strings of the packaged tracks, for logs and status.
    pub fn describe(&self) -> Vec<String> {
        self.tracks
            .iter()
            .filter(|track| !matches!(track.depacketizer, Depacketizer::Ignored))
            .map(|track| format!("{}/{}", track.media.media, track.media.encoding))
            .collect()
    }

    /// True once the video arrived out of presentation order (B-frames):
    /// pictures are then held a few frames deep to give them decode times.
    pub fn has_b_frames(&self) -> bool {
        self.decode_times.reordering()
    }

    pub fn stats(&self) -> PushStats {
        let mut stats = self.stats;
        for track in &self.tracks {
            stats.packets_lost += track.sequence.lost;
            stats.packets_dropped += track.sequence.out_of_order;
            if let Some(jitter) = &track.jitter {
                stats.packets_reordered += jitter.reordered;
                stats.packets_dropped += jitter.duplicates;
            }
            match &track.depacketizer {
                Depacketizer::Video { depacketizer, .. } => {
                    stats.frames_dropped += depacketizer.dropped_frames;
                    stats.packets_dropped += depacketizer.bad_packets;
                }
                Depacketizer::Audio { depacketizer, .. } => {
                    stats.frames_dropped += depacketizer.dropped_frames;
                    stats.packets_dropped += depacketizer.bad_packets;
                }
                Depacketizer::Opus { .. } | Depacketizer::Ignored => {}
            }
        }
        stats
    }

    /// One interleaved frame; completed media frames are appended to `out`.
    pub fn push_interleaved(&mut self, channel: u8, data: Bytes, out: &mut Vec<MediaFrame>) {
        let found = self.tracks.iter().position(|track| track.rtp_channel.is_some_and(|rtp| rtp / 2 == channel / 2));
        let Some(index) = found else {
            self.stats.packets_dropped += 1;
            return;
        };
        let is_rtcp = self.tracks.get(index).and_then(|track| track.rtp_channel).is_some_and(|rtp| rtp != channel);
        if is_rtcp {
            if let (Some(report), Some(track)) = (parse_sender_report(&data), self.tracks.get_mut(index)) {
                // Only the first report is used: later ones would shift the timeline.
                track.sender_report.get_or_insert(report);
            }
            return;
        }
        let packet = match RtpPacket::parse(data) {
            Ok(packet) => packet,
            Err(_) => {
                self.stats.packets_dropped += 1;
                return;
            }
        };
        match self.tracks.get_mut(index).and_then(|track| track.jitter.as_mut()) {
            Some(jitter) => {
                let mut ready = std::mem::take(&mut self.scratch_packets);
                jitter.push(packet, &mut ready);
                for packet in ready.drain(..) {
                    self.push_rtp(index, packet, out);
                }
                self.scratch_packets = ready;
            }
            None => self.push_rtp(index, packet, out),
        }
    }

    fn push_rtp(&mut self, index: usize, packet: RtpPacket, out: &mut Vec<MediaFrame>) {
        let Some(track) = self.tracks.get_mut(index) else { return };
        if packet.payload_type != track.media.payload_type {
            self.stats.packets_dropped += 1;
            return;
        }
        let ticks = match track.sequence.arrive(packet.sequence_number, packet.timestamp) {
            Arrival::Stale => return,
            Arrival::InOrder(ticks) => ticks,
            Arrival::AfterLoss(ticks) => {
                match &mut track.depacketizer {
                    Depacketizer::Video { depacketizer, .. } => depacketizer.lost(),
                    Depacketizer::Audio { depacketizer, .. } => depacketizer.lost(),
                    Depacketizer::Opus { .. } | Depacketizer::Ignored => {}
                }
                ticks
            }
        };
        if track.offset_ms.is_none() {
            let offset = start_offset(&mut self.origin_ntp_ms, track, packet.timestamp);
            track.offset_ms = Some(offset);
        }
        let offset_ms = track.offset_ms.unwrap_or(0);
        let clock_rate = track.media.clock_rate;
        match &mut track.depacketizer {
            Depacketizer::Video { codec, depacketizer, record } => {
                depacketizer.push(ticks, packet.marker, &packet.payload, &mut self.scratch_units);
                for unit in self.scratch_units.drain(..) {
                    if unit.new_parameters || record.is_none() {
                        match video_record(*codec, depacketizer.parameters()) {
                            Some(Ok(fresh)) if record.as_ref() != Some(&fresh) => {
                                *record = Some(fresh.clone());
                                let config = MediaFrame::VideoConfig { codec: *codec, record: fresh };
                                self.decode_times.push_config(config, out);
                            }
                            Some(Err(_)) | None if record.is_none() => {
                                self.stats.frames_dropped += 1;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    let pts_ms = offset_ms + ticks_to_ms(unit.timestamp, clock_rate);
                    self.decode_times.push_picture(pts_ms, unit.keyframe, unit.data, out);
                }
            }
            Depacketizer::Audio { depacketizer, .. } => {
                depacketizer.push(ticks, packet.marker, &packet.payload, &mut self.scratch_audio);
                for (timestamp, data) in self.scratch_audio.drain(..) {
                    let time_ms = offset_ms + ticks_to_ms(timestamp, clock_rate);
                    let dts_ms = self.last_audio_dts.map_or(time_ms, |last| time_ms.max(last));
                    self.last_audio_dts = Some(dts_ms);
                    out.push(MediaFrame::Audio { dts_ms, data });
                }
            }
            Depacketizer::Opus { .. } if packet.payload.is_empty() => self.stats.packets_dropped += 1,
            Depacketizer::Opus { .. } => {
                let time_ms = offset_ms + ticks_to_ms(ticks, clock_rate);
                let dts_ms = self.last_audio_dts.map_or(time_ms, |last| time_ms.max(last));
                self.last_audio_dts = Some(dts_ms);
                out.push(MediaFrame::Audio { dts_ms, data: packet.payload });
            }
            Depacketizer::Ignored => {}
        }
    }
}

/// Where a track's first packet falls on the session clock: its sender
/// report's wall time relative to the first track's, never before zero.
/// Without reports every track starts at zero.
fn start_offset(origin_ntp_ms: &mut Option<i64>, track: &Track, first_timestamp: u32) -> i64 {
    let Some(report) = track.sender_report else { return 0 };
    let rate = i64::from(track.media.clock_rate.max(1));
    let since_report = i64::from(first_timestamp.wrapping_sub(report.rtp_timestamp) as i32);
    let first_ntp_ms = report.ntp_ms() + since_report * 1000 / rate;
    let origin = *origin_ntp_ms.get_or_insert(first_ntp_ms);
    (first_ntp_ms - origin).clamp(0, 10_000)
}

/// Ticks of a `clock_rate` Hz clock to milliseconds, rounded to nearest,
/// from the full tick count so 29.97 fps or 21.33 ms AAC frames never drift.
fn ticks_to_ms(ticks: i64, clock_rate: u32) -> i64 {
    let rate = i128::from(clock_rate.max(1));
    let scaled = i128::from(ticks) * 1000 + rate / 2;
    scaled.div_euclid(rate).clamp(i128::from(i64::MIN / 2), i128::from(i64::MAX / 2)) as i64
}

fn video_depacketizer(media: &SdpMedia) -> Result<Depacketizer, MediaError> {
    if media.clock_rate == 0 {
        return Err(MediaError::invalid(WHAT, "video without a clock rate"));
    }
    let mut sets = ParameterSets::default();
    let codec = if media.encoding == "h265" {
        let one = |name: &str| media.parameter(name).map(first_set).transpose();
        sets.vps = one("sprop-vps")?;
        sets.sps = one("sprop-sps")?;
        sets.pps = one("sprop-pps")?;
        VideoCodec::H265
    } else {
        if let Some(mode) = media.parameter("packetization-mode").filter(|mode| !matches!(*mode, "0" | "1")) {
            return Err(MediaError::unsupported(WHAT, format!("H.264 packetization-mode {mode}")));
        }
        for set in media.parameter("sprop-parameter-sets").unwrap_or_default().split(',') {
            let nal = Bytes::from(decode_base64(set)?);
            match nal.first().map(|header| header & 0x1f) {
                Some(7) => sets.sps = Some(nal),
                Some(8) => sets.pps = Some(nal),
                _ => {}
            }
        }
        VideoCodec::H264
    };
    // Unusable sprop values are not fatal: in-band parameter sets may follow.
    let record = video_record(codec, &sets).and_then(Result::ok);
    Ok(Depacketizer::Video { codec, depacketizer: H26xDepacketizer::new(codec, sets), record })
}

fn first_set(value: &str) -> Result<Bytes, MediaError> {
    decode_base64(value.split(',').next().unwrap_or_default()).map(Bytes::from)
}

fn audio_depacketizer(media: &SdpMedia) -> Result<Depacketizer, MediaError> {
    let config = media.parameter("config").ok_or_else(|| MediaError::invalid(WHAT, "AAC without config="))?;
    let config = Bytes::from(decode_hex(config)?);
    let aac = AacConfig::parse(config.clone())?;
    let clock_rate = media.clock_rate;
    if clock_rate == 0 {
        return Err(MediaError::invalid(WHAT, "AAC without a clock rate"));
    }
    let au_ticks = i64::from(aac.samples_per_frame) * i64::from(clock_rate) / i64::from(aac.sample_rate.max(1));
    let layout = AuHeaderLayout::from_sdp(media)?;
    Ok(Depacketizer::Audio { depacketizer: AacDepacketizer::new(layout, au_ticks), config })
}

/// Opus over RTP always declares 48000/2; `sprop-stereo=0` says the sender
/// sends mono.
fn opus_depacketizer(media: &SdpMedia) -> Depacketizer {
    let channels = if media.parameter("sprop-stereo") == Some("0") { 1 } else { 2 };
    Depacketizer::Opus { config: OpusConfig::for_channels(channels).record }
}
