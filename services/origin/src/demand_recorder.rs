//! Viewer demand for on-demand cameras, recorded in the catalog: a request
//! for such a stream is written to `camera_demand`, at most once a second
//! per stream from this pod, in a task of its own so the request never
//! waits for the database. The ingest pods read it (`cameras` crate).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use catalog::Database;
use tokio::time::Instant;

use crate::demand::DemandHook;

/// Longest a recorded request counts as fresh for the throttle.
const RECORD_EVERY: Duration = Duration::from_secs(1);
/// How long the list of on-demand cameras is trusted before it is read again.
const NAMES_FRESH_FOR: Duration = Duration::from_secs(2);
/// A read of that list is given up after this long.
const NAMES_READ_TIMEOUT: Duration = Duration::from_millis(500);

type OnDemandNames = Arc<RwLock<(Option<Instant>, HashSet<String>)>>;

pub struct DemandRecorder {
    database: Database,
    /// Stamps each request: the pods that pull compare it with theirs.
    clock: clock::Clock,
    /// The names of the on-demand cameras and when they were read.
    on_demand: OnDemandNames,
    /// Set while a read of that list is under way; the others use the previous one.
    reading: Arc<AtomicBool>,
    recorded: Mutex<HashMap<String, Instant>>,
}

impl DemandRecorder {
    pub fn new(database: Database, clock: clock::Clock) -> Self {
        Self {
            database,
            clock,
            on_demand: Arc::new(RwLock::new((None, HashSet::new()))),
            reading: Arc::new(AtomicBool::new(false)),
            recorded: Mutex::default(),
        }
    }

    /// Answers from the list in memory. Only a request that finds no list
    /// yet waits for the database; a stale list is read again in the
    /// background, so viewers' requests never wait for it.
    async fn is_on_demand(&self, stream: &str) -> bool {
        let (read_at, known) = match self.on_demand.read() {
            Ok(names) => (names.0, names.1.contains(stream)),
            Err(_) => return false,
        };
        match read_at {
            Some(at) if at.elapsed() < NAMES_FRESH_FOR => known,
            Some(_) => {
                if !self.reading.swap(true, Ordering::AcqRel) {
                    let (database, names, reading) =
                        (self.database.clone(), self.on_demand.clone(), self.reading.clone());
                    tokio::spawn(async move { read_names(&database, &names, &reading).await });
                }
                known
            }
            None => {
                if !self.reading.swap(true, Ordering::AcqRel) {
                    read_names(&self.database, &self.on_demand, &self.reading).await;
                }
                self.on_demand.read().is_ok_and(|names| names.1.contains(stream))
            }
        }
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

/// Reads the list of on-demand cameras into `names`, then clears `reading`.
async fn read_names(database: &Database, names: &OnDemandNames, reading: &AtomicBool) {
    match tokio::time::timeout(NAMES_READ_TIMEOUT, database.on_demand_camera_names()).await {
        Ok(Ok(read)) => {
            if let Ok(mut known) = names.write() {
                *known = (Some(Instant::now()), read);
            }
        }
        Ok(Err(error)) => tracing::warn!(%error, "cannot list the on-demand cameras"),
        Err(_) => tracing::warn!("listing the on-demand cameras timed out"),
    }
    reading.store(false, Ordering::Release);
}

impl DemandHook for DemandRecorder {
    fn viewer_requested<'a>(&'a self, stream: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            if !self.is_on_demand(stream).await {
                return false;
            }
            if self.due(stream) {
                let database = self.database.clone();
                let stream = stream.to_owned();
                let at_ms = self.clock.unix_ms();
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
