//! Which of a presentation's streams are packaged: the first H.264/H.265
//! video and the first AAC or Opus audio, from their SDP media type and
//! encoding name. Used by camera pulls (the SDP of a DESCRIBE).

use crate::{MediaError, VideoCodec};

/// The streams of one presentation that are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackPlan {
    pub video: usize,
    pub audio: Option<usize>,
    /// The audio is Opus, which retina cannot depacketize: the pull then
    /// runs every track through our own RTP depacketizers.
    pub opus: bool,
    /// Streams left out, as status warnings.
    pub warnings: Vec<String>,
}

/// One described stream, as far as choosing goes.
pub struct Offer<'a> {
    pub media: &'a str,
    pub encoding: &'a str,
}

/// The first H.264/H.265 video stream and the first AAC or Opus audio
/// stream. Other audio is skipped with a warning; video in another codec
/// is `Unsupported` (naming the codec), no video at all `Invalid`.
pub fn plan_tracks<'a>(offers: impl IntoIterator<Item = Offer<'a>>) -> Result<TrackPlan, MediaError> {
    let mut video = None;
    let mut other_video = None;
    let mut audio = None;
    let mut opus = false;
    let mut warnings = Vec::new();
    for (index, offer) in offers.into_iter().enumerate() {
        match offer.media {
            "video" if video.is_none() && video_codec(offer.encoding).is_some() => video = Some(index),
            "video" => {
                other_video.get_or_insert_with(|| offer.encoding.to_owned());
            }
            "audio" if audio.is_none() && matches!(offer.encoding, "mpeg4-generic" | "opus") => {
                audio = Some(index);
                opus = offer.encoding == "opus";
            }
            "audio" if audio.is_none() => warnings.push(format!(
                "audio in {} is not supported (AAC and Opus are packaged); the stream has no audio",
                audio_label(offer.encoding)
            )),
            _ => {}
        }
    }
    match (video, other_video) {
        (Some(video), _) => {
            if audio.is_some() {
                warnings.clear();
            }
            Ok(TrackPlan { video, audio, opus, warnings })
        }
        (None, Some(encoding)) => Err(MediaError::unsupported("video codec", encoding)),
        (None, None) => Err(MediaError::invalid("presentation", "no video stream")),
    }
}

fn video_codec(encoding: &str) -> Option<VideoCodec> {
    match encoding {
        "h264" => Some(VideoCodec::H264),
        "h265" => Some(VideoCodec::H265),
        _ => None,
    }
}

fn audio_label(encoding: &str) -> String {
    match encoding {
        "pcmu" => "G.711 µ-law (PCMU)".to_owned(),
        "pcma" => "G.711 A-law (PCMA)".to_owned(),
        other => other.to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(list: &[(&'static str, &'static str)]) -> Vec<Offer<'static>> {
        list.iter().map(|(media, encoding)| Offer { media, encoding }).collect()
    }

    #[test]
    fn picks_h264_and_aac() {
        let plan = plan_tracks(offers(&[("audio", "mpeg4-generic"), ("video", "h264")])).unwrap();
        assert_eq!(plan, TrackPlan { video: 1, audio: Some(0), opus: false, warnings: vec![] });
        let plan = plan_tracks(offers(&[("video", "h265"), ("application", "vnd.onvif.metadata")])).unwrap();
        assert_eq!(plan, TrackPlan { video: 0, audio: None, opus: false, warnings: vec![] });
        let plan = plan_tracks(offers(&[("video", "h264"), ("audio", "pcmu"), ("audio", "opus")])).unwrap();
        assert_eq!(plan, TrackPlan { video: 0, audio: Some(2), opus: true, warnings: vec![] });
    }

    #[test]
    fn unsupported_audio_is_skipped_with_a_warning() {
        let plan = plan_tracks(offers(&[("video", "h264"), ("audio", "pcmu")])).unwrap();
        assert_eq!((plan.video, plan.audio), (0, None));
        assert_eq!(plan.warnings.len(), 1);
        assert!(plan.warnings[0].contains("PCMU"), "{:?}", plan.warnings);
        let plan = plan_tracks(offers(&[("video", "h264"), ("audio", "l16")])).unwrap();
        assert!(plan.warnings[0].contains("L16"), "{:?}", plan.warnings);
        // A second, AAC audio stream is used instead and no warning stays.
        let plan = plan_tracks(offers(&[("video", "h264"), ("audio", "pcma"), ("audio", "mpeg4-generic")])).unwrap();
        assert_eq!((plan.audio, plan.warnings.len()), (Some(2), 0));
    }

    #[test]
    fn unsupported_or_missing_video_is_refused() {
        let error = plan_tracks(offers(&[("video", "jpeg"), ("audio", "mpeg4-generic")])).unwrap_err();
        assert_eq!(error, MediaError::unsupported("video codec", "jpeg"));
        let error = plan_tracks(offers(&[("audio", "mpeg4-generic")])).unwrap_err();
        assert!(matches!(error, MediaError::Invalid { .. }));
    }
}
