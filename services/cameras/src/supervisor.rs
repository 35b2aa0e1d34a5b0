//! The pull task of one camera: connects, reconnects with backoff and
//! parks on configuration errors. When a camera is pulled at all (always,
//! or on demand across pods) is the [`crate::CameraManager`]'s decision.

use std::sync::Arc;
use std::time::Duration;

use publisher::Gate;
use retina::client::SessionGroup;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::config::CameraConfig;
use crate::session::{pull_once, SessionContext};
use crate::status::{CameraState, CameraStatus, StatusBoard};
use crate::PullError;

/// A running camera pull. Dropping it stops the pull; use [`PullHandle`]s
/// to share it.
pub struct CameraPull {
    handle: PullHandle,
    task: Option<JoinHandle<()>>,
}

/// A cheap, cloneable way to read and steer a [`CameraPull`].
#[derive(Clone)]
pub struct PullHandle {
    shared: Arc<Shared>,
}

struct Shared {
    config: watch::Sender<CameraConfig>,
    status: watch::Receiver<CameraStatus>,
    stop: watch::Sender<bool>,
}

impl CameraPull {
    /// Starts pulling, claiming the stream through `gate` before each
    /// connection (in a cluster: epochs,
    /// fencing, continuity). Must be called inside a tokio runtime.
    pub fn spawn(config: CameraConfig, gate: Gate) -> Result<CameraPull, PullError> {
        config.validate()?;
        let clock = gate.registry().config().clock.clone();
        let since_ms = clock.unix_ms();
        let (board, status) = StatusBoard::new(CameraStatus::new(&config.name, config.redacted_url(), since_ms), clock);
        let (config_sender, config_receiver) = watch::channel(config);
        let (stop, stop_receiver) = watch::channel(false);
        let task = Supervisor { gate, board, config: config_receiver, stop: stop_receiver, attempts: 0 };
        let task = tokio::spawn(task.run());
        let shared = Arc::new(Shared { config: config_sender, status, stop });
        Ok(CameraPull { handle: PullHandle { shared }, task: Some(task) })
    }

    pub fn handle(&self) -> PullHandle {
        self.handle.clone()
    }

    pub fn status(&self) -> CameraStatus {
        self.handle.status()
    }

    pub fn subscribe(&self) -> watch::Receiver<CameraStatus> {
        self.handle.subscribe()
    }

    pub fn update_config(&self, config: CameraConfig) -> Result<(), PullError> {
        self.handle.update_config(config)
    }

    /// Stops the pull and waits until the camera connection is closed and
    /// the live edge released.
    pub async fn stop(mut self) {
        self.handle.shared.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for CameraPull {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl PullHandle {
    pub fn status(&self) -> CameraStatus {
        self.shared.status.borrow().clone()
    }

    /// Every status change, for an API that streams it.
    pub fn subscribe(&self) -> watch::Receiver<CameraStatus> {
        self.shared.status.clone()
    }

    /// Applies a new configuration: the pull restarts with it, including one
    /// parked in `waiting_for_config`. An identical configuration is a no-op.
    pub fn update_config(&self, config: CameraConfig) -> Result<(), PullError> {
        config.validate()?;
        self.shared.config.send_if_modified(|current| {
            let changed = *current != config;
            *current = config;
            changed
        });
        Ok(())
    }
}

/// Why the supervisor stopped waiting.
enum Wake {
    ConfigChanged,
    Stop,
    /// The wait ran out.
    Continue,
}

struct Supervisor {
    gate: Gate,
    board: StatusBoard,
    config: watch::Receiver<CameraConfig>,
    stop: watch::Receiver<bool>,
    attempts: u64,
}

impl Supervisor {
    async fn run(mut self) {
        let group = Arc::new(SessionGroup::default());
        loop {
            let config = self.config.borrow_and_update().clone();
            self.board.update(|status| {
                status.name = config.name.clone();
                status.url = config.redacted_url();
                status.warnings.clear();
            });
            match self.pull_with_config(&config, &group).await {
                Wake::Stop => break,
                Wake::ConfigChanged | Wake::Continue => continue,
            }
        }
        self.board.set_state(CameraState::Stopped, None);
    }

    /// Runs until the configuration changes or the pull is stopped.
    async fn pull_with_config(&mut self, config: &CameraConfig, group: &Arc<SessionGroup>) -> Wake {
        let mut backoff =
            Backoff::new(Duration::from_millis(config.backoff_min_ms), Duration::from_millis(config.backoff_max_ms));
        loop {
            self.attempts += 1;
            if self.attempts > 1 {
                self.board.update(|status| status.reconnects += 1);
            }
            self.board.set_state(CameraState::Connecting, None);
            let context = SessionContext { config, gate: &self.gate, board: &self.board, group };
            let ended = tokio::select! {
                ended = pull_once(context) => ended,
                wake = wait_for_change(&mut self.config, &mut self.stop) => return wake,
            };
            if ended.went_online {
                backoff.reset();
            }
            let reason = ended.error.to_string();
            if ended.error.needs_new_config() {
                tracing::warn!(camera = %config.name, %reason, "camera pull waits for a configuration change");
                self.board.set_state(CameraState::WaitingForConfig, Some(reason));
                return wait_for_change(&mut self.config, &mut self.stop).await;
            }
            let delay = backoff.next_delay();
            tracing::warn!(camera = %config.name, %reason, retry_in_ms = delay.as_millis() as u64, "camera offline");
            self.board.update(|status| status.failed_attempts += 1);
            self.board.set_state(CameraState::Offline, Some(reason));
            match self.wait(tokio::time::sleep(delay)).await {
                Wake::Continue => continue,
                other => return other,
            }
        }
    }

    /// Waits for `until`, a configuration change or a stop.
    async fn wait(&mut self, until: impl std::future::Future<Output = ()>) -> Wake {
        tokio::select! {
            _ = until => Wake::Continue,
            wake = wait_for_change(&mut self.config, &mut self.stop) => wake,
        }
    }
}

async fn wait_for_change(config: &mut watch::Receiver<CameraConfig>, stop: &mut watch::Receiver<bool>) -> Wake {
    tokio::select! {
        changed = config.changed() => match changed {
            Ok(()) => Wake::ConfigChanged,
            Err(_) => Wake::Stop,
        },
        _ = stop.wait_for(|stop| *stop) => Wake::Stop,
    }
}
