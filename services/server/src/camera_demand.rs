//! Viewer demand for on-demand cameras, as the origin's `DemandHook`: a
//! request for such a stream is written to `camera_demand`, at most once a
//! second per stream from this pod, in a task of its own so the request
//! never waits for the database. The ingest pods read it (`crate::cameras`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// Longest a recorded request counts as fresh for the throttle.
const RECORD_EVERY: Duration = Duration::from_secs(1);
/// How long the list of on-demand cameras is trusted before it is read again.
const NAMES_FRESH_FOR: Duration = Duration::from_secs(2);
/// A request never waits longer than this for that list.
const NAMES_READ_TIMEOUT: Duration = Duration::from_millis(500);

pub struct DemandRecorder {
    database: api::Database,
    /// The names of the on-demand cameras and when they were read.
    on_demand: RwLock<(Option<Instant>, HashSet<String>)>,
    /// One reader of the list at a time; the others use the previous one.
    reading: tokio::sync::Mutex<()>,
    recorded: Mutex<HashMap<String, Instant>>,
}

impl DemandRecorder {
    pub fn new(database: api::Database) -> Self {
        Self {
            database,
            on_demand: RwLock::new((None, HashSet::new())),
            reading: tokio::sync::Mutex::new(()),
            recorded: Mutex::default(),
        }
    }

    async fn is_on_demand(&self, stream: &str) -> bool {
        let fresh = |recorder: &Self| {
            recorder.on_demand.read().ok().and_then(|names| {
                let read_at = names.0?;
                (read_at.elapsed() < NAMES_FRESH_FOR).then(|| names.1.contains(stream))
            })
        };
        if let Some(known) = fresh(self) {
            return known;
        }
        if let Ok(_reading) = self.reading.try_lock() {
            let read = tokio::time::timeout(NAMES_READ_TIMEOUT, self.database.on_demand_camera_names()).await;
            match read {
                Ok(Ok(names)) => {
                    if let Ok(mut known) = self.on_demand.write() {
                        *known = (Some(Instant::now()), names);
                    }
                }
                Ok(Err(error)) => tracing::warn!(%error, "cannot list the on-demand cameras"),
                Err(_) => tracing::warn!("listing the on-demand cameras timed out"),
            }
        }
        self.on_demand.read().is_ok_and(|names| names.1.contains(stream))
    }

    /// True when this request should be written (the last one from this
    /// pod is older than `RECORD_EVERY`).
    fn due(&self, stream: &str) -> bool {
        let Ok(mut recorded) = self.recorded.lock() else { return false };
        let now = Instant::now();
        if recorded.get(stream).is_some_and(|at| now.duration_since(*at) < RECORD_EVERY) {
            return false;
        }
        if recorded.len() > 10_000 {
            recorded.retain(|_, at| now.duration_since(*at) < RECORD_EVERY);
        }
        recorded.insert(stream.to_owned(), now);
        true
    }
}

impl origin::DemandHook for DemandRecorder {
    fn viewer_requested<'a>(&'a self, stream: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            if !self.is_on_demand(stream).await {
                return false;
            }
            if self.due(stream) {
                let database = self.database.clone();
                let stream = stream.to_owned();
                let at_ms = live::unix_ms_now();
                tokio::spawn(async move {
                    if let Err(error) = database.record_camera_demand(&stream, at_ms).await {
                        tracing::warn!(%stream, %error, "cannot record viewer demand for the camera");
                    }
                });
            }
            true
        })
    }
}
