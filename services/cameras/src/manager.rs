//! Camera pulls in a cluster: every ingest pod looks at the cameras in the
//! database; whoever holds a camera's lease pulls it, through one RTSP
//! session however many watch. A pod that dies stops renewing, and another
//! takes the lease and the stream over (with the usual epoch fencing).
//!
//! An on-demand camera is pulled only while viewers ask for it: the pods
//! that serve viewers record each request in `camera_demand`
//! (`origin::DemandRecorder`), and a pod competes for the lease only while the
//! newest request is younger than the camera's linger. Once it is older, the
//! holder stops the pull and gives the lease up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use catalog::{CameraPullMode, CameraSource, Database};
use publisher::Gate;
use tokio::time::Instant;

use crate::config::CameraConfig;
use crate::status::{CameraState, CameraStatus};
use crate::supervisor::{CameraPull, PullHandle};

/// How often the demand for on-demand cameras is looked at: the wait a
/// first viewer adds before the pull starts.
const DEMAND_POLL: Duration = Duration::from_millis(500);

enum BoardEntry {
    Pulling(PullHandle),
    /// An on-demand pull this pod stopped for want of viewers.
    Idle(CameraStatus),
}

/// The status of the camera pulls this pod runs, by stream name.
#[derive(Clone, Default)]
pub struct CameraBoard(Arc<std::sync::Mutex<HashMap<String, BoardEntry>>>);

impl CameraBoard {
    pub fn status(&self, stream: &str) -> Option<CameraStatus> {
        match self.0.lock().ok()?.get(stream)? {
            BoardEntry::Pulling(handle) => Some(handle.status()),
            BoardEntry::Idle(status) => Some(status.clone()),
        }
    }

    /// The state of every pull on the board, for the metrics.
    pub fn states(&self) -> Vec<CameraState> {
        let Ok(entries) = self.0.lock() else { return Vec::new() };
        entries
            .values()
            .map(|entry| match entry {
                BoardEntry::Pulling(handle) => handle.status().state,
                BoardEntry::Idle(status) => status.state,
            })
            .collect()
    }

    fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut entries) = self.0.lock() {
            entries.retain(|name, _| keep(name));
        }
    }

    fn set(&self, stream: &str, entry: Option<BoardEntry>) {
        if let Ok(mut entries) = self.0.lock() {
            match entry {
                Some(entry) => entries.insert(stream.to_owned(), entry),
                None => entries.remove(stream),
            };
        }
    }
}

/// A camera as the catalog describes it, ready to pull.
#[derive(Clone)]
struct Camera {
    config: CameraConfig,
}

impl Camera {
    fn source(&self) -> &CameraSource {
        &self.config.source
    }

    /// Whether the camera should be pulled now, given when viewers last
    /// asked for each stream (unix ms).
    fn wanted(&self, name: &str, demand: &HashMap<String, i64>, now_ms: i64) -> bool {
        match self.source().mode {
            CameraPullMode::Always => true,
            CameraPullMode::OnDemand => demand.get(name).is_some_and(|&at| {
                now_ms.saturating_sub(at) < i64::try_from(self.source().linger_ms).unwrap_or(i64::MAX)
            }),
        }
    }
}

struct Running {
    pull: CameraPull,
    config: CameraConfig,
}

pub struct CameraManager {
    pub board: CameraBoard,
    pub database: Database,
    /// Who pulls which camera: database rows or Kubernetes Lease objects.
    pub leases: Arc<dyn cluster::LeaseStore>,
    /// Claims each camera's stream (epochs, fencing) and opens it on the live edge.
    pub gate: Gate,
    /// A lease not renewed this long passes to another pod.
    pub lease: Duration,
    /// Which non-public networks cameras may be on.
    pub outbound: catalog::OutboundPolicy,
}

fn lease_name(stream: &str) -> String {
    format!("camera:{stream}")
}

impl CameraManager {
    /// Runs until `shutdown`, then stops its pulls and gives their leases up
    /// so another pod takes them at once.
    ///
    /// Every third of the lease it lists the cameras and renews (or tries
    /// to take) the lease of each one it should pull. In between it looks
    /// only at the demand, so a viewer of an idle on-demand camera waits
    /// for the next look, not for a whole round.
    pub async fn run(self, shutdown: listener::Shutdown) {
        let mut pulls: HashMap<String, Running> = HashMap::new();
        let mut cameras: HashMap<String, Camera> = HashMap::new();
        let round = self.lease / 3;
        let mut listed_at: Option<Instant> = None;
        let mut tick = tokio::time::interval(DEMAND_POLL.min(round));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.begun() => break,
            }
            let full_round = listed_at.is_none_or(|at| at.elapsed() >= round);
            let any_on_demand = cameras.values().any(|camera| camera.source().mode == CameraPullMode::OnDemand);
            if !full_round && !any_on_demand {
                continue;
            }
            let demand = match self.database.camera_demand().await {
                Ok(demand) => demand,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the viewer demand for cameras");
                    continue;
                }
            };
            let now_ms = self.gate.registry().config().clock.unix_ms();
            if full_round {
                match self.cameras().await {
                    Ok(listed) => {
                        cameras = listed;
                        listed_at = Some(Instant::now());
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot list cameras");
                        continue;
                    }
                }
                for (name, camera) in &cameras {
                    let wanted = camera.wanted(name, &demand, now_ms);
                    self.steer(name, camera, wanted, &mut pulls).await;
                }
                let gone: Vec<String> = pulls.keys().filter(|name| !cameras.contains_key(*name)).cloned().collect();
                for name in gone {
                    self.stop(&name, &mut pulls).await;
                }
                self.board.retain(|name| cameras.contains_key(name));
            } else {
                // Between rounds: only start what viewers now ask for.
                for (name, camera) in &cameras {
                    if !pulls.contains_key(name) && camera.wanted(name, &demand, now_ms) {
                        self.steer(name, camera, true, &mut pulls).await;
                    }
                }
            }
        }
        let names: Vec<String> = pulls.keys().cloned().collect();
        for name in names {
            self.stop(&name, &mut pulls).await;
        }
    }

    /// Pulls `camera` if this pod should and can (it holds or takes the
    /// lease), or stops pulling it.
    async fn steer(&self, name: &str, camera: &Camera, wanted: bool, pulls: &mut HashMap<String, Running>) {
        if !wanted {
            if pulls.contains_key(name) {
                tracing::info!(camera = %name, linger_ms = camera.source().linger_ms, "no viewers; stopping the pull");
                let last = pulls.get(name).map(|running| running.pull.status());
                self.stop(name, pulls).await;
                if let Some(mut status) = last {
                    status.state = CameraState::Idle;
                    status.reason = Some("pulled on demand; nobody is watching".into());
                    status.since_unix_ms = self.gate.registry().config().clock.unix_ms();
                    self.board.set(name, Some(BoardEntry::Idle(status)));
                }
            }
            return;
        }
        let held = match self.leases.acquire(&lease_name(name), self.lease).await {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(camera = %name, %error, "cannot renew the camera lease");
                false
            }
        };
        match (held, pulls.get_mut(name)) {
            (true, Some(running)) => {
                if running.config != camera.config && running.pull.update_config(camera.config.clone()).is_ok() {
                    running.config = camera.config.clone();
                }
            }
            (true, None) => match CameraPull::spawn(camera.config.clone(), self.gate.clone()) {
                Ok(pull) => {
                    tracing::info!(camera = %name, mode = camera.source().mode.as_str(), "this pod pulls the camera");
                    self.board.set(name, Some(BoardEntry::Pulling(pull.handle())));
                    pulls.insert(name.to_owned(), Running { pull, config: camera.config.clone() });
                }
                Err(error) => tracing::warn!(camera = %name, %error, "camera configuration refused"),
            },
            (false, Some(_)) => {
                tracing::warn!(camera = %name, "lost the camera lease; stopping the pull");
                self.board.set(name, None);
                if let Some(running) = pulls.remove(name) {
                    running.pull.stop().await;
                }
            }
            (false, None) => {}
        }
    }

    /// Stops the pull (the camera connection is closed when this returns)
    /// and gives the lease up so another pod may take it at once.
    async fn stop(&self, name: &str, pulls: &mut HashMap<String, Running>) {
        if let Some(running) = pulls.remove(name) {
            running.pull.stop().await;
        }
        if let Err(error) = self.leases.release(&lease_name(name)).await {
            tracing::warn!(camera = %name, %error, "cannot release the camera lease; it expires on its own");
        }
    }

    async fn cameras(&self) -> Result<HashMap<String, Camera>, catalog::CatalogError> {
        let sources = self.database.camera_sources_by_name().await?;
        Ok(sources
            .into_iter()
            .map(|(name, source)| {
                let config =
                    CameraConfig { outbound: self.outbound.clone(), ..CameraConfig::new(name.clone(), source) };
                (name, Camera { config })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(mode: CameraPullMode, linger_ms: u64) -> Camera {
        let source = CameraSource { mode, linger_ms, ..CameraSource::new("rtsp://10.0.0.5/stream") };
        Camera { config: CameraConfig::new("door", source) }
    }

    #[test]
    fn an_on_demand_camera_is_wanted_until_its_linger_passes() {
        let lazy = camera(CameraPullMode::OnDemand, 30_000);
        let asked_at = 1_780_000_000_000;
        let demand = HashMap::from([("door".to_owned(), asked_at)]);
        assert!(!lazy.wanted("door", &HashMap::new(), asked_at), "nobody asked");
        assert!(lazy.wanted("door", &demand, asked_at + 29_999));
        assert!(!lazy.wanted("door", &demand, asked_at + 30_000), "the linger is over");
        assert!(!lazy.wanted("other", &demand, asked_at), "demand is per stream");
        let always = camera(CameraPullMode::Always, 30_000);
        assert!(always.wanted("door", &HashMap::new(), asked_at + 3_600_000));
    }
}
