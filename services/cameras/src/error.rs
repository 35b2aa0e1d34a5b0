//! The one error type of the RTSP pull, and how each kind is treated: retried
//! with backoff, or parked until the configuration changes.

use crate::redact::scrub;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    #[error("invalid camera configuration: {0}")]
    InvalidConfig(String),
    /// Unreachable, refused, timed out, rejected credentials, dropped: worth retrying.
    #[error("{0}")]
    Unavailable(String),
    #[error("the camera has no such stream (404)")]
    NotFound,
    #[error("unsupported video codec {0}; only H.264 and H.265 are packaged")]
    UnsupportedVideo(String),
    #[error("the camera offers no video stream")]
    NoVideo,
    #[error("stream name {0} is already being published by another source")]
    NameTaken(String),
    #[error("the camera sent media that cannot be packaged: {0}")]
    Media(String),
    #[error("no frame for {0} ms")]
    Stalled(u64),
    #[error("timed out after {0} ms waiting for the camera")]
    TimedOut(u64),
}

impl PullError {
    /// True when retrying cannot help until the configuration changes.
    pub fn needs_new_config(&self) -> bool {
        matches!(self, Self::InvalidConfig(_) | Self::NotFound | Self::UnsupportedVideo(_) | Self::NoVideo)
    }

    /// The shared publisher path turned the camera's stream away.
    pub(crate) fn refused(name: &str, refusal: &publisher::Refusal) -> Self {
        match refusal {
            publisher::Refusal::CannotClaim(reason) | publisher::Refusal::CannotCheck(reason) => {
                Self::Unavailable(reason.to_string())
            }
            _ => Self::NameTaken(name.to_owned()),
        }
    }

    /// No video stream the camera offers can be packaged.
    pub(crate) fn from_track_choice(error: media::MediaError) -> Self {
        match error {
            media::MediaError::Unsupported { detail, .. } => Self::UnsupportedVideo(detail),
            _ => Self::NoVideo,
        }
    }

    /// The camera's address is one the outbound policy refuses: parked
    /// until the configuration (or the policy, at a restart) changes. A
    /// name that does not resolve may resolve later.
    pub(crate) fn from_outbound(error: catalog::OutboundError) -> Self {
        match error {
            catalog::OutboundError::Unresolved { .. } => Self::Unavailable(error.to_string()),
            refused => Self::InvalidConfig(refused.to_string()),
        }
    }

    /// Maps an RTSP client error to a reason fit for status and logs: the
    /// first line only (the rest is packet context), with any secret removed.
    pub(crate) fn from_retina(error: &retina::Error, secrets: &[&str]) -> Self {
        match error.status_code() {
            Some(404) => return Self::NotFound,
            Some(401) => return Self::Unavailable("the camera rejected the credentials (401)".into()),
            Some(403) => return Self::Unavailable("the camera refused access (403)".into()),
            _ => {}
        }
        let text = error.to_string();
        let first_line = text.lines().find(|line| !line.trim().is_empty()).unwrap_or("RTSP error");
        Self::Unavailable(scrub(first_line.trim(), secrets))
    }
}
