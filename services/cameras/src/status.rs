//! What a pull is doing, published on a watch channel so the API can show
//! it without asking the pull task.

use serde::Serialize;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// On demand and nobody is watching: no connection.
    Idle,
    /// Connecting, describing or setting up; no frame yet.
    Connecting,
    /// Frames are flowing into the live edge.
    Online,
    /// The last attempt failed; another follows after the backoff.
    Offline,
    /// The camera cannot work as configured (not found, unsupported codec):
    /// no retries until the configuration changes.
    WaitingForConfig,
    /// The pull was stopped.
    Stopped,
}

impl CameraState {
    /// The name the API and the metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Idle => "idle",
            CameraState::Connecting => "connecting",
            CameraState::Online => "online",
            CameraState::Offline => "offline",
            CameraState::WaitingForConfig => "waiting_for_config",
            CameraState::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraStatus {
    pub name: String,
    pub state: CameraState,
    /// Camera URL without credentials.
    pub url: String,
    /// Why the pull is offline or waiting, without credentials.
    pub reason: Option<String>,
    /// When `state` last changed (Unix ms).
    pub since_unix_ms: i64,
    /// RFC 6381 codec strings of the tracks being packaged.
    pub codecs: Vec<String>,
    /// Display size of the video, once known.
    pub resolution: Option<(u32, u32)>,
    /// Problems that do not stop the stream, such as skipped audio.
    pub warnings: Vec<String>,
    /// Connection attempts after the first.
    pub reconnects: u64,
    /// RTP packets lost, over the life of the pull.
    pub packets_lost: u64,
    /// Connection attempts since the last success.
    pub failed_attempts: u64,
}

impl CameraStatus {
    pub(crate) fn new(name: &str, url: String, since_unix_ms: i64) -> Self {
        Self {
            name: name.to_owned(),
            state: CameraState::Idle,
            url,
            reason: None,
            since_unix_ms,
            codecs: Vec::new(),
            resolution: None,
            warnings: Vec::new(),
            reconnects: 0,
            packets_lost: 0,
            failed_attempts: 0,
        }
    }
}

/// The pull task's side of the status channel.
pub(crate) struct StatusBoard {
    sender: watch::Sender<CameraStatus>,
    /// Stamps state changes.
    clock: clock::Clock,
}

impl StatusBoard {
    pub fn new(initial: CameraStatus, clock: clock::Clock) -> (Self, watch::Receiver<CameraStatus>) {
        let (sender, receiver) = watch::channel(initial);
        (Self { sender, clock }, receiver)
    }

    pub fn set_state(&self, state: CameraState, reason: Option<String>) {
        let now_ms = self.clock.unix_ms();
        self.sender.send_modify(|status| {
            if status.state != state {
                status.since_unix_ms = now_ms;
            }
            status.state = state;
            status.reason = reason;
        });
    }

    pub fn update(&self, change: impl FnOnce(&mut CameraStatus)) {
        self.sender.send_modify(change);
    }

    pub fn warn(&self, warning: String) {
        self.sender.send_if_modified(|status| {
            if status.warnings.contains(&warning) {
                return false;
            }
            status.warnings.push(warning);
            true
        });
    }
}
