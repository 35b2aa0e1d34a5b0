//! What to pull from a camera and how hard to try. Every field has a
//! documented default and unknown keys are rejected.

use std::time::Duration;

use serde::Deserialize;

use crate::redact::{split_credentials, SplitUrl};
use crate::PullError;

/// How RTP reaches us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtpTransport {
    /// Interleaved on the RTSP connection; works through NAT and firewalls.
    #[default]
    Tcp,
    /// Separate UDP ports; lower latency on a clean LAN, no reorder buffer.
    Udp,
}

/// When the camera is pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullMode {
    /// Pulled all the time.
    #[default]
    Always,
    /// Pulled while viewers ask for it, stopped `linger_ms` after the last one.
    OnDemand,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Live stream name the camera publishes as (required).
    pub name: String,
    /// `rtsp://host[:port]/path` (required). Credentials in the URL are
    /// accepted and moved to `username`/`password`.
    pub url: String,
    /// RTSP user name (none).
    #[serde(default)]
    pub username: Option<String>,
    /// RTSP password (none).
    #[serde(default)]
    pub password: Option<String>,
    /// `tcp` or `udp` (tcp).
    #[serde(default)]
    pub transport: RtpTransport,
    /// `always` or `on_demand` (always).
    #[serde(default)]
    pub mode: PullMode,
    /// On demand: how long the pull outlives the last viewer request, in ms (30000).
    #[serde(default = "defaults::linger_ms")]
    pub linger_ms: u64,
    /// First wait before reconnecting, in ms (1000).
    #[serde(default = "defaults::backoff_min_ms")]
    pub backoff_min_ms: u64,
    /// Longest wait between reconnects, in ms (30000).
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Connecting and each RTSP request must finish within this, in ms (10000).
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// A playing camera that sends no frame this long is offline, in ms (10000).
    #[serde(default = "defaults::stall_timeout_ms")]
    pub stall_timeout_ms: u64,
}

mod defaults {
    pub fn linger_ms() -> u64 {
        30_000
    }
    pub fn backoff_min_ms() -> u64 {
        1_000
    }
    pub fn backoff_max_ms() -> u64 {
        30_000
    }
    pub fn connect_timeout_ms() -> u64 {
        10_000
    }
    pub fn stall_timeout_ms() -> u64 {
        10_000
    }
}

impl CameraConfig {
    /// A configuration with every optional field at its default.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            username: None,
            password: None,
            transport: RtpTransport::default(),
            mode: PullMode::default(),
            linger_ms: defaults::linger_ms(),
            backoff_min_ms: defaults::backoff_min_ms(),
            backoff_max_ms: defaults::backoff_max_ms(),
            connect_timeout_ms: defaults::connect_timeout_ms(),
            stall_timeout_ms: defaults::stall_timeout_ms(),
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
        let mut split = split_credentials(&self.url)?;
        if let Some(username) = &self.username {
            split.username = Some(username.clone());
            split.password = self.password.clone().or(split.password);
        }
        Ok(split)
    }

    /// The URL as it may appear in logs and status.
    pub fn redacted_url(&self) -> String {
        crate::redact::redact_url(&self.url)
    }

    pub(crate) fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
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
    fn defaults_apply_and_unknown_keys_are_rejected() {
        let json = r#"{"name": "door", "url": "rtsp://10.0.0.5/stream1", "mode": "on_demand"}"#;
        let config: CameraConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.mode, PullMode::OnDemand);
        assert_eq!(config.transport, RtpTransport::Tcp);
        assert_eq!(config.linger_ms, 30_000);
        assert_eq!(config.backoff_min_ms, 1_000);
        assert_eq!(config.backoff_max_ms, 30_000);
        config.validate().unwrap();
        let typo = r#"{"name": "door", "url": "rtsp://10.0.0.5/", "transprot": "udp"}"#;
        assert!(serde_json::from_str::<CameraConfig>(typo).is_err());
    }

    #[test]
    fn validation_rejects_bad_values() {
        let mut config = CameraConfig::new("door", "http://10.0.0.5/");
        assert!(config.validate().is_err(), "only rtsp URLs");
        config.url = "rtsp://10.0.0.5/".into();
        config.backoff_min_ms = 60_000;
        assert!(config.validate().is_err(), "min above max");
        config.backoff_min_ms = 500;
        config.name = "a/b".into();
        assert!(config.validate().is_err(), "names are one path segment");
    }

    #[test]
    fn explicit_credentials_win_over_the_url() {
        let mut config = CameraConfig::new("door", "rtsp://admin:old@10.0.0.5:8554/live");
        let split = config.endpoint().unwrap();
        assert_eq!(split.url.as_str(), "rtsp://10.0.0.5:8554/live");
        assert_eq!((split.username.as_deref(), split.password.as_deref()), (Some("admin"), Some("old")));
        config.username = Some("viewer".into());
        config.password = Some("new".into());
        let split = config.endpoint().unwrap();
        assert_eq!((split.username.as_deref(), split.password.as_deref()), (Some("viewer"), Some("new")));
        assert_eq!(config.redacted_url(), "rtsp://10.0.0.5:8554/live");
    }
}
