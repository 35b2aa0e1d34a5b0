//! The owner's view of a live stream as JSON, for the management API.

use serde_json::{json, Value};

use crate::StreamStatus;

/// The JSON shape the API passes on.
pub fn status_json(status: &StreamStatus) -> Value {
    let publisher = status.publisher.as_ref().map(|report| {
        json!({
            "gop_last_ms": report.gop_last_ms,
            "gop_average_ms": report.gop_average_ms,
            "gop_max_ms": report.gop_max_ms,
            "keyframes_regular": report.keyframes_regular,
            "b_frames": report.b_frames,
            "video_bitrate_bps": report.video_bitrate_bps,
            "audio_bitrate_bps": report.audio_bitrate_bps,
            "frame_rate": report.frame_rate,
            "has_video": report.has_video,
            "has_audio": report.has_audio,
        })
    });
    json!({
        "state": if status.live { "live" } else if status.ended { "ended" } else { "offline" },
        "since_ms": status.since_ms,
        "codecs": status.codecs,
        "resolution": status.resolution.map(|(width, height)| json!({"width": width, "height": height})),
        "frame_rate": status.frame_rate,
        "bitrate_peak_bps": status.bitrate_bps.map(|(peak, _)| peak),
        "bitrate_average_bps": status.bitrate_bps.map(|(_, average)| average),
        "newest_msn": status.newest_msn,
        "waiting_requests": status.waiting_requests,
        "publisher": publisher,
        "advice": status.advice,
        "clock": status.clock.map(|clock| json!({
            "drift_ms": clock.offset_ms,
            "rate_ppm": clock.rate_ppm,
            "pdt_corrections": clock.corrections,
        })),
    })
}
