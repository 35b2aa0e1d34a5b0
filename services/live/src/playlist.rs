//! Playlists rendered from the edge state, cached per state version.

use bytes::Bytes;
use media::hls::{
    MediaPlaylist, MultivariantPlaylist, PlaylistPart, PlaylistSegment, ServerControl, SkipRequest, Variant,
};

use crate::edge::{EdgeState, LiveStream};

impl LiveStream {
    /// The media playlist as of now, or None before the first part.
    pub fn media_playlist(&self, skip: SkipRequest) -> Option<Bytes> {
        let mut state = self.lock();
        state.newest_part()?;
        let version = state.version;
        if let Some((_, _, body)) = state.rendered.iter().find(|(at, kind, _)| *at == version && *kind == skip) {
            return Some(body.clone());
        }
        let body = Bytes::from(build_media_playlist(&state).render(skip));
        state.rendered.push((version, skip, body.clone()));
        Some(body)
    }

    pub fn multivariant_playlist(&self) -> Option<String> {
        let state = self.lock();
        // BANDWIDTH is measured; before the first part there is nothing to measure.
        state.newest_part()?;
        let info = state.info.as_ref()?;
        let (peak, average) = measured_bandwidth(&state).unwrap_or((0, 0));
        let variant = Variant {
            uri: "media.m3u8".into(),
            bandwidth: peak.max(average).max(1),
            average_bandwidth: (average > 0).then_some(average),
            codecs: info.codecs(),
            resolution: info.video.as_ref().map(|video| (video.width(), video.height())),
            frame_rate: info.video.as_ref().and_then(|video| video.frame_rate()),
        };
        Some(MultivariantPlaylist { variants: vec![variant] }.render())
    }
}

fn build_media_playlist(state: &EdgeState) -> MediaPlaylist {
    let part_target = f64::from(state.part_target_ms.unwrap_or(200)) / 1000.0;
    let target_duration = state.target_duration;
    let first_discontinuity = state.segments.front().is_some_and(|segment| segment.start.discontinuity);
    let segments = state
        .segments
        .iter()
        .map(|segment| PlaylistSegment {
            msn: segment.msn,
            duration: segment.duration,
            uri: format!("seg{}.m4s", segment.msn),
            init_uri: format!("init{}.mp4", segment.start.init_version),
            discontinuity: segment.start.discontinuity,
            program_date_time_ms: segment.start.program_date_time_ms,
            parts: segment
                .parts
                .iter()
                .enumerate()
                .map(|(index, part)| PlaylistPart {
                    duration: part.duration,
                    uri: format!("seg{}.{index}.m4s", segment.msn),
                    independent: part.independent,
                    gap: false,
                })
                .collect(),
            complete: segment.complete,
            gap: segment.gap,
        })
        .collect();
    MediaPlaylist {
        target_duration,
        part_target,
        server_control: ServerControl {
            part_hold_back: 3.0 * part_target,
            hold_back: 3.0 * f64::from(target_duration),
            can_skip_until: 6.0 * f64::from(target_duration),
        },
        discontinuity_sequence: state.removed_discontinuities + u64::from(first_discontinuity),
        segments,
        preload_hint_uri: state.hinted_part().map(|(msn, index)| format!("seg{msn}.{index}.m4s")),
        rendition_reports: Vec::new(),
        ended: state.ended_at.is_some(),
    }
}

/// (peak, average) bits per second over the complete segments in memory,
/// or over the open segment's parts before any segment completed.
pub(crate) fn measured_bandwidth(state: &EdgeState) -> Option<(u64, u64)> {
    let rate = |bytes: usize, seconds: f64| (seconds > 0.0).then(|| (bytes as f64 * 8.0 / seconds) as u64);
    let complete: Vec<(usize, f64)> =
        state.segments.iter().filter_map(|segment| Some((segment.data.as_ref()?.len(), segment.duration))).collect();
    if complete.is_empty() {
        let segment = state.segments.back()?;
        let bytes = segment.parts.iter().map(|part| part.data.len()).sum();
        let seconds = segment.parts.iter().map(|part| part.duration).sum();
        let measured = rate(bytes, seconds)?;
        return Some((measured, measured));
    }
    let peak = complete.iter().filter_map(|&(bytes, seconds)| rate(bytes, seconds)).max()?;
    let total_bytes = complete.iter().map(|(bytes, _)| bytes).sum();
    let total_seconds = complete.iter().map(|(_, seconds)| seconds).sum();
    Some((peak, rate(total_bytes, total_seconds)?))
}
