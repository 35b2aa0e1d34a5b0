//! The cluster registry. Each live stream has one owning ingest pod at a
//! time, named in the database with an epoch that grows on every takeover.
//! Everything an owner writes (index rows, objects) is fenced on its epoch,
//! so a pod that lost a stream can never write over its successor.

mod authorizer;
mod claim;
mod fenced;
mod index;
mod kube_lease;
mod lease;
mod peers;
mod retention;
mod retire;

use std::time::Duration;

use sqlx::AnyPool;

pub use authorizer::ClusterAuthorizer;
pub use claim::{Claim, PublisherProbe};
pub use fenced::{FencedWriter, FencedWriterStats};
pub use index::StoredSegment;
pub use kube_lease::{lease_object_name, KubeLeaseStore};
pub use lease::{LeaseFuture, LeaseStore};
pub use peers::{internal_client, publisher_probe, InternalSecret, RemoteStatus, INTERNAL_SECRET_HEADER};
pub use retention::{RetentionConfig, MAX_DVR_WINDOW};
pub use retire::{LiveControl, Purged};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("stream {0} is being published on another ingest pod")]
    Busy(String),
    #[error("this pod no longer owns stream {0}")]
    Fenced(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot open the database: {0}")]
    Open(#[from] db::DbError),
    #[error("Kubernetes API: {0}")]
    Kubernetes(String),
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
}

/// Who serves a live stream's edge right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pod: String,
    /// host:port of the owner's internal live-edge endpoint.
    pub address: String,
    pub epoch: i64,
    pub heartbeat_ms: i64,
    pub ended: bool,
}

/// Registry settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This pod's name, unique in the cluster (the pod name in Kubernetes).
    pub pod: String,
    /// host:port where other pods reach this pod's internal endpoint.
    pub address: String,
    /// How often an owner renews its claims (1 s).
    pub heartbeat: Duration,
    /// A claim not renewed this long is free without asking its owner (5 s).
    pub lease: Duration,
    /// Heartbeats, leases and retention compare its wall clock with the
    /// other pods' (the system's; pods need NTP).
    pub clock: clock::Clock,
    /// Complete segments a new owner lists from its predecessor (the live window).
    pub history_segments: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            pod: "relay".into(),
            address: "127.0.0.1:8081".into(),
            heartbeat: Duration::from_secs(1),
            lease: Duration::from_secs(5),
            clock: clock::Clock::system(),
            history_segments: 10,
        }
    }
}

type OwnerRow = (Option<String>, Option<String>, i64, i64, i64);

/// The registry over one database (SQLite in `all`, PostgreSQL in a cluster).
#[derive(Clone)]
pub struct ClusterRegistry {
    pool: AnyPool,
    config: ClusterConfig,
}

impl ClusterRegistry {
    pub fn new(pool: AnyPool, config: ClusterConfig) -> Self {
        Self { pool, config }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Now on the registry's wall clock, in Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.config.clock.unix_ms()
    }

    /// The stream's owner as the database says, fresh or not.
    pub async fn owner(&self, stream: &str) -> Result<Option<Owner>, ClusterError> {
        let row: Option<OwnerRow> = sqlx::query_as(
            "SELECT owner, owner_address, epoch, heartbeat_ms, ended FROM live_owners WHERE stream = $1",
        )
        .bind(stream)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(pod, address, epoch, heartbeat_ms, ended)| {
            Some(Owner { pod: pod?, address: address?, epoch, heartbeat_ms, ended: ended != 0 })
        }))
    }

    /// Renews this pod's claim; `Fenced` when another pod took it over.
    pub async fn heartbeat(&self, stream: &str, epoch: i64) -> Result<(), ClusterError> {
        let updated = sqlx::query("UPDATE live_owners SET heartbeat_ms = $1 WHERE stream = $2 AND epoch = $3")
            .bind(self.now_ms())
            .bind(stream)
            .bind(epoch)
            .execute(&self.pool)
            .await?;
        fenced_unless_updated(updated.rows_affected(), stream)
    }

    /// Marks the stream ended (its publisher stayed away past the grace).
    pub async fn end(&self, stream: &str, epoch: i64) -> Result<(), ClusterError> {
        let updated = sqlx::query("UPDATE live_owners SET ended = 1, open_msn = NULL WHERE stream = $1 AND epoch = $2")
            .bind(stream)
            .bind(epoch)
            .execute(&self.pool)
            .await?;
        fenced_unless_updated(updated.rows_affected(), stream)
    }
}

fn fenced_unless_updated(rows: u64, stream: &str) -> Result<(), ClusterError> {
    if rows == 0 {
        Err(ClusterError::Fenced(stream.to_owned()))
    } else {
        Ok(())
    }
}

/// The pool of `url` (`sqlite://…` or `postgres://…`), migrated, as the
/// management service opens it.
pub async fn connect(url: &str) -> Result<AnyPool, ClusterError> {
    Ok(db::Db::connect(url).await?.pool().clone())
}
