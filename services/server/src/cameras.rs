//! Camera pulls in a cluster: every ingest pod looks at the cameras in the
//! database; whoever holds a camera's lease pulls it, through one RTSP
//! session however many watch. A pod that dies stops renewing, and another
//! takes the lease and the stream over (with the usual epoch fencing).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use api::{Database, StreamKind};
use cluster::ClusterRegistry;
use live::Registry;
use rtsp::{CameraConfig, CameraPull};
use tokio::sync::watch;

/// The status of the camera pulls this pod runs, by stream name.
#[derive(Clone, Default)]
pub struct CameraBoard(Arc<std::sync::Mutex<HashMap<String, rtsp::PullHandle>>>);

impl CameraBoard {
    pub fn status(&self, stream: &str) -> Option<rtsp::CameraStatus> {
        self.0.lock().ok()?.get(stream).map(|handle| handle.status())
    }

    fn set(&self, stream: &str, handle: Option<rtsp::PullHandle>) {
        if let Ok(mut handles) = self.0.lock() {
            match handle {
                Some(handle) => handles.insert(stream.to_owned(), handle),
                None => handles.remove(stream),
            };
        }
    }
}

pub struct CameraManager {
    pub board: CameraBoard,
    pub database: Database,
    pub cluster: ClusterRegistry,
    pub live: Arc<Registry>,
    pub claimer: Arc<dyn ingest::StreamAuthorizer>,
    /// A lease not renewed this long passes to another pod.
    pub lease: Duration,
}

fn lease_name(stream: &str) -> String {
    format!("camera:{stream}")
}

impl CameraManager {
    /// Runs until `shutdown`, then stops its pulls and gives their leases up
    /// so another pod takes them at once.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut pulls: HashMap<String, (CameraPull, CameraConfig)> = HashMap::new();
        let mut tick = tokio::time::interval(self.lease / 3);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            let cameras = match self.cameras().await {
                Ok(cameras) => cameras,
                Err(error) => {
                    tracing::warn!(%error, "cannot list cameras");
                    continue;
                }
            };
            for (name, config) in &cameras {
                let held = match self.cluster.acquire_lease(&lease_name(name), self.lease).await {
                    Ok(held) => held,
                    Err(error) => {
                        tracing::warn!(camera = %name, %error, "cannot renew the camera lease");
                        false
                    }
                };
                match (held, pulls.get_mut(name)) {
                    (true, Some((pull, running))) => {
                        if running != config && pull.update_config(config.clone()).is_ok() {
                            *running = config.clone();
                        }
                    }
                    (true, None) => {
                        let claimer = Some(self.claimer.clone());
                        match CameraPull::spawn_claimed(config.clone(), self.live.clone(), claimer) {
                            Ok(pull) => {
                                tracing::info!(camera = %name, "this pod pulls the camera");
                                self.board.set(name, Some(pull.handle()));
                                pulls.insert(name.clone(), (pull, config.clone()));
                            }
                            Err(error) => tracing::warn!(camera = %name, %error, "camera configuration refused"),
                        }
                    }
                    (false, Some(_)) => {
                        tracing::warn!(camera = %name, "lost the camera lease; stopping the pull");
                        self.board.set(name, None);
                        if let Some((pull, _)) = pulls.remove(name) {
                            pull.stop().await;
                        }
                    }
                    (false, None) => {}
                }
            }
            let gone: Vec<String> = pulls.keys().filter(|name| !cameras.contains_key(*name)).cloned().collect();
            for name in gone {
                self.board.set(&name, None);
                if let Some((pull, _)) = pulls.remove(&name) {
                    pull.stop().await;
                }
                let _ = self.cluster.release_lease(&lease_name(&name)).await;
            }
        }
        for (name, (pull, _)) in pulls {
            pull.stop().await;
            let _ = self.cluster.release_lease(&lease_name(&name)).await;
        }
    }

    async fn cameras(&self) -> Result<HashMap<String, CameraConfig>, api::ApiError> {
        let mut cameras = HashMap::new();
        for stream in self.database.streams(None).await? {
            if stream.kind != StreamKind::Camera {
                continue;
            }
            let Some(source) = self.database.camera_source(&stream.id).await? else { continue };
            let mut config = CameraConfig::new(&stream.name, source.url);
            config.username = source.username;
            config.password = source.password;
            cameras.insert(stream.name, config);
        }
        Ok(cameras)
    }
}
