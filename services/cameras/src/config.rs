//! What to pull from a camera and how hard to try. Where the camera is and
//! when it is pulled is the catalog's [`CameraSource`], the one camera
//! model; the rest tunes the connection.

use std::time::Duration;

use catalog::{CameraSource, OutboundPolicy};

use crate::redact::{split_credentials, SplitUrl};
use crate::PullError;

/// How RTP reaches us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtpTransport {
    /// Interleaved on the RTSP connection; works through NAT and firewalls.
    #[default]
    Tcp,
    /// Separate UDP ports; lower latency on a clean LAN, no reorder buffer.
    Udp,
}

/// One camera pull; every field but `name` and `source` has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraConfig {
    /// Live stream name the camera publishes as.
    pub name: String,
    /// URL, credentials, pull mode (credentials in the URL are accepted and
    /// used unless `username` is set).
    pub source: CameraSource,
    /// `tcp` or `udp` (tcp).
    pub transport: RtpTransport,
    /// First wait before reconnecting, in ms (1000).
    pub backoff_min_ms: u64,
    /// Longest wait between reconnects, in ms (30000).
    pub backoff_max_ms: u64,
    /// Connecting and each RTSP request must finish within this, in ms (10000).
    pub connect_timeout_ms: u64,
    /// A playing camera that sends no frame this long is offline, in ms (10000).
    pub stall_timeout_ms: u64,
    /// Which non-public networks the camera may be on (none).
    pub outbound: OutboundPolicy,
}

impl CameraConfig {
    /// A configuration with every tuning field at its default.
    pub fn new(name: impl Into<String>, source: CameraSource) -> Self {
        Self {
            name: name.into(),
            source,
            transport: RtpTransport::default(),
            backoff_min_ms: 1_000,
            backoff_max_ms: 30_000,
            connect_timeout_ms: 10_000,
            stall_timeout_ms: 10_000,
            outbound: OutboundPolicy::default(),
        }
    }

    pub fn validate(&self) -> Result<(), PullError> {
        let invalid = |reason: &str| Err(PullError::InvalidConfig(reason.to_owned()));
        if self.name.is_empty() || self.name.contains('/') {
            return invalid("name must be non-empty and contain no '/'");
        }
        self.endpoint()?;
        if self.backoff_min_ms == 0 || self.backoff_min_ms > self.backoff_max_ms {
            return invalid("backoff_min_ms must be at least 1 and at most backoff_max_ms");
        }
        if self.connect_timeout_ms == 0 || self.stall_timeout_ms == 0 {
            return invalid("connect_timeout_ms and stall_timeout_ms must be positive");
        }
        Ok(())
    }

    /// The URL without credentials, and the credentials to use.
    pub(crate) fn endpoint(&self) -> Result<SplitUrl, PullError> {
        let mut split = split_credentials(&self.source.url)?;
        if let Some(username) = &self.source.username {
            split.username = Some(username.clone());
            split.password = self.source.password.clone().or(split.password);
        }
        Ok(split)
    }

    /// The URL as it may appear in logs and status.
    pub fn redacted_url(&self) -> String {
        crate::redact::redact_url(&self.source.url)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub(crate) fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply() {
        let config = CameraConfig::new("door", CameraSource::new("rtsp://10.0.0.5/stream1"));
        assert_eq!(config.transport, RtpTransport::Tcp);
        assert_eq!((config.backoff_min_ms, config.backoff_max_ms), (1_000, 30_000));
        config.validate().unwrap();
    }

    #[test]
    fn validation_rejects_bad_values() {
        let mut config = CameraConfig::new("door", CameraSource::new("http://10.0.0.5/"));
        assert!(config.validate().is_err(), "only rtsp URLs");
        config.source.url = "rtsp://10.0.0.5/".into();
        config.backoff_min_ms = 60_000;
        assert!(config.validate().is_err(), "min above max");
        config.backoff_min_ms = 500;
        config.name = "a/b".into();
        assert!(config.validate().is_err(), "names are one path segment");
    }

    #[test]
    fn explicit_credentials_win_over_the_url() {
        let mut config = CameraConfig::new("door", CameraSource::new("rtsp://admin:old@10.0.0.5:8554/live"));
        let split = config.endpoint().unwrap();
        assert_eq!(split.url.as_str(), "rtsp://10.0.0.5:8554/live");
        assert_eq!((split.username.as_deref(), split.password.as_deref()), (Some("admin"), Some("old")));
        config.source.username = Some("viewer".into());
        config.source.password = Some("new".into());
        let split = config.endpoint().unwrap();
        assert_eq!((split.username.as_deref(), split.password.as_deref()), (Some("viewer"), Some("new")));
        assert_eq!(config.redacted_url(), "rtsp://10.0.0.5:8554/live");
    }
}
