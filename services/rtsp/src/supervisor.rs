//! The pull task of one camera: connects, reconnects with backoff, parks
//! on configuration errors, and on demand runs only while viewers ask.

use std::sync::Arc;
use std::time::Duration;

use live::Registry;
use retina::client::SessionGroup;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::config::{CameraConfig, PullMode};
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
    /// When a viewer last asked for the stream.
    demand: watch::Sender<Option<Instant>>,
    stop: watch::Sender<bool>,
}

impl CameraPull {
    /// Starts pulling (or, on demand, waiting for a viewer) into `registry`.
    /// Must be called inside a tokio runtime.
    pub fn spawn(config: CameraConfig, registry: Arc<Registry>) -> Result<CameraPull, PullError> {
        Self::spawn_claimed(config, registry, None)
    }

    /// As [`Self::spawn`], claiming the stream through `claimer` before each
    /// connection (a cluster's registry: epochs, fencing, continuity).
    pub fn spawn_claimed(
        config: CameraConfig,
        registry: Arc<Registry>,
        claimer: Option<Arc<dyn ingest::StreamAuthorizer>>,
    ) -> Result<CameraPull, PullError> {
        config.validate()?;
        let (board, status) = StatusBoard::new(CameraStatus::new(&config.name, config.redacted_url()));
        let (config_sender, config_receiver) = watch::channel(config);
        let (demand, demand_receiver) = watch::channel(None);
        let (stop, stop_receiver) = watch::channel(false);
        let task = Supervisor {
            registry,
            claimer,
            board,
            config: config_receiver,
            demand: demand_receiver,
            stop: stop_receiver,
            attempts: 0,
        };
        let task = tokio::spawn(task.run());
        let shared = Arc::new(Shared { config: config_sender, status, demand, stop });
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

    pub fn viewer_requested(&self) {
        self.handle.viewer_requested()
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

    /// A viewer asked for the stream: an idle on-demand pull starts, a
    /// running one stays up for another `linger_ms`. Cheap; call it on every
    /// playlist request. No effect on `always` pulls.
    pub fn viewer_requested(&self) {
        self.shared.demand.send_replace(Some(Instant::now()));
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
    /// The wait ran out, or on demand: a viewer arrived or left.
    Continue,
}

struct Supervisor {
    registry: Arc<Registry>,
    claimer: Option<Arc<dyn ingest::StreamAuthorizer>>,
    board: StatusBoard,
    config: watch::Receiver<CameraConfig>,
    demand: watch::Receiver<Option<Instant>>,
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
            if config.mode == PullMode::OnDemand && !self.viewers_recently(config) {
                self.board.set_state(CameraState::Idle, None);
                match self.wait(std::future::pending(), true).await {
                    Wake::Continue => continue,
                    other => return other,
                }
            }
            self.attempts += 1;
            if self.attempts > 1 {
                self.board.update(|status| status.reconnects += 1);
            }
            self.board.set_state(CameraState::Connecting, None);
            let context = SessionContext {
                config,
                registry: &self.registry,
                claimer: self.claimer.as_ref(),
                board: &self.board,
                group,
            };
            let ended = tokio::select! {
                ended = pull_once(context) => ended,
                wake = wait_for_change(&mut self.config, &mut self.stop) => return wake,
                _ = linger_expired(&self.demand, config) => {
                    tracing::info!(camera = %config.name, "no viewer within the linger time; camera pull paused");
                    continue;
                }
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
            // Viewer requests do not cut the backoff short.
            match self.wait(tokio::time::sleep(delay), false).await {
                Wake::Continue => continue,
                other => return other,
            }
        }
    }

    /// Waits for `until`, a configuration change, a stop, or, if asked, a
    /// viewer request.
    async fn wait(&mut self, until: impl std::future::Future<Output = ()>, wake_on_viewer: bool) -> Wake {
        tokio::select! {
            _ = until => Wake::Continue,
            wake = wait_for_change(&mut self.config, &mut self.stop) => wake,
            changed = self.demand.changed(), if wake_on_viewer => match changed {
                Ok(()) => Wake::Continue,
                Err(_) => Wake::Stop,
            },
        }
    }

    fn viewers_recently(&self, config: &CameraConfig) -> bool {
        self.demand.borrow().is_some_and(|last| last.elapsed() < config.linger())
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

/// On demand: resolves once no viewer asked for `linger`. Never for `always`.
async fn linger_expired(demand: &watch::Receiver<Option<Instant>>, config: &CameraConfig) {
    if config.mode != PullMode::OnDemand {
        return std::future::pending().await;
    }
    loop {
        let last = *demand.borrow();
        let Some(last) = last else { return };
        tokio::time::sleep_until(last + config.linger()).await;
        if *demand.borrow() == Some(last) {
            return;
        }
    }
}
