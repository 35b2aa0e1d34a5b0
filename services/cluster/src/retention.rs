//! DVR windows and the retention sweeper. Segments older than their
//! stream's window leave the index and, unless bucket lifecycle rules do it,
//! storage; objects of retired streams still pending are purged. One pod
//! sweeps at a time, holding the `retention-sweeper` lease.

use std::sync::Arc;
use std::time::Duration;

use storage::ObjectStore;

use crate::{ClusterError, ClusterRegistry};

const SWEEPER_LEASE: &str = "retention-sweeper";
/// Rows removed per statement, so one sweep never holds a long lock.
const BATCH: i64 = 500;

/// Sweeper settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// DVR window of streams without their own (2 h).
    pub default_window: Duration,
    /// Delete objects too; false when bucket lifecycle rules expire them.
    pub delete_objects: bool,
    /// How often the leader sweeps (60 s).
    pub every: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { default_window: Duration::from_secs(7200), delete_objects: true, every: Duration::from_secs(60) }
    }
}

/// The longest DVR window a stream may have.
pub const MAX_DVR_WINDOW: Duration = Duration::from_secs(24 * 3600);

impl ClusterRegistry {
    /// `stream`'s DVR window, or `default` when it has none of its own.
    pub async fn dvr_window(&self, stream: &str, default: Duration) -> Result<Duration, ClusterError> {
        let secs = sqlx::query_scalar::<_, i64>("SELECT window_secs FROM stream_dvr_windows WHERE stream = $1")
            .bind(stream)
            .fetch_optional(&self.pool)
            .await?;
        Ok(secs.map_or(default, |secs| Duration::from_secs(secs.max(0) as u64)))
    }

    /// Sets `stream`'s DVR window, capped at 24 h.
    pub async fn set_dvr_window(&self, stream: &str, window: Duration) -> Result<(), ClusterError> {
        let secs = window.min(MAX_DVR_WINDOW).as_secs() as i64;
        let updated = sqlx::query("UPDATE stream_dvr_windows SET window_secs = $1 WHERE stream = $2")
            .bind(secs)
            .bind(stream)
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO stream_dvr_windows (stream, window_secs) VALUES ($1, $2)")
                .bind(stream)
                .bind(secs)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// One sweep: for every stream, index rows (and objects) that ended
    /// before its window. Returns how many segments went.
    pub async fn sweep(&self, store: &dyn ObjectStore, config: &RetentionConfig) -> Result<usize, ClusterError> {
        let streams: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT stream FROM stored_segments").fetch_all(&self.pool).await?;
        let mut removed = 0;
        for stream in streams {
            let window = self.dvr_window(&stream, config.default_window).await?;
            let cutoff = self.now_ms() - window.as_millis() as i64;
            loop {
                let expired: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT msn, object_key FROM stored_segments WHERE stream = $1 \
                     AND program_date_time_ms + duration_ms < $2 ORDER BY msn LIMIT $3",
                )
                .bind(&stream)
                .bind(cutoff)
                .bind(BATCH)
                .fetch_all(&self.pool)
                .await?;
                let Some(&(last_msn, _)) = expired.last() else { break };
                if config.delete_objects {
                    for (_, key) in expired.iter().filter(|(_, key)| !key.is_empty()) {
                        if let Err(error) = store.delete(key).await {
                            tracing::warn!(%stream, key, %error, "cannot delete an expired segment; next sweep retries");
                            return Ok(removed);
                        }
                    }
                }
                sqlx::query("DELETE FROM stored_segments WHERE stream = $1 AND msn <= $2")
                    .bind(&stream)
                    .bind(last_msn)
                    .execute(&self.pool)
                    .await?;
                removed += expired.len();
                if (expired.len() as i64) < BATCH {
                    break;
                }
            }
        }
        Ok(removed)
    }

    /// Sweeps every `config.every` while this pod holds the sweeper lease.
    pub fn spawn_sweeper(&self, store: Arc<dyn ObjectStore>, config: RetentionConfig) {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.every);
            loop {
                tick.tick().await;
                match registry.acquire_lease(SWEEPER_LEASE, config.every * 3).await {
                    Ok(true) => {
                        match registry.sweep(store.as_ref(), &config).await {
                            Ok(0) => {}
                            Ok(removed) => tracing::info!(removed, "retention sweep removed expired segments"),
                            Err(error) => tracing::warn!(%error, "retention sweep failed"),
                        }
                        match registry.purge_pending(store.as_ref(), None).await {
                            Ok(purged) if purged == crate::Purged::default() => {}
                            Ok(purged) => tracing::info!(
                                deleted = purged.deleted,
                                failed = purged.failed,
                                "retention sweep purged objects of retired streams"
                            ),
                            Err(error) => tracing::warn!(%error, "purge of retired streams failed"),
                        }
                    }
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "cannot take the sweeper lease"),
                }
            }
        });
    }
}
