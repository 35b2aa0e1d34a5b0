//! Taking a stream: a new publisher on this pod claims the stream, bumping
//! the epoch unless this pod already owns it, and learns where the previous
//! owner left off.

use std::future::Future;
use std::pin::Pin;

use live::{ResumePoint, SegmentRecord};

use crate::index::StoredSegment;
use crate::{ClusterError, ClusterRegistry};

/// Asks a live owner at `address` whether stream `stream` still has an
/// active publisher there. An unreachable owner counts as gone.
pub type PublisherProbe = dyn Fn(String, String) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync + 'static;

/// What a successful claim gives the new owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub epoch: i64,
    pub resume: ResumePoint,
}

type OwnerRow = (Option<String>, i64, i64, i64, Option<i64>, i64, i64, Option<i64>, i64, Option<String>);

impl ClusterRegistry {
    /// Claims `stream` for this pod. Refused (`Busy`) only while another pod
    /// that renews its lease says its publisher is still sending.
    pub async fn claim(&self, stream: &str, probe: &PublisherProbe) -> Result<Claim, ClusterError> {
        for _ in 0..4 {
            let row: Option<OwnerRow> = sqlx::query_as(
                "SELECT owner, epoch, heartbeat_ms, ended, open_msn, next_msn, next_init_version, part_target_ms, \
                 target_duration, owner_address FROM live_owners WHERE stream = $1",
            )
            .bind(stream)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else {
                if self.insert_first_claim(stream).await? {
                    return Ok(Claim { epoch: 1, resume: ResumePoint::default() });
                }
                continue;
            };
            let (owner, epoch, heartbeat_ms, ended, open_msn, next_msn, next_init, part_target, target, address) = row;
            let ours = owner.as_deref() == Some(self.config.pod.as_str());
            let lease_ms = self.config.lease.as_millis() as i64;
            if let (Some(address), false, 0) = (address.filter(|_| owner.is_some()), ours, ended) {
                if self.now_ms() - heartbeat_ms < lease_ms && probe(address, stream.to_owned()).await {
                    return Err(ClusterError::Busy(stream.to_owned()));
                }
            }
            let new_epoch = if ours { epoch } else { epoch + 1 };
            // A segment the previous owner opened but never completed is lost:
            // it is listed as a gap so its number is never reused.
            let lost = open_msn.filter(|open| *open >= next_msn && !ours && ended == 0);
            let next = lost.map_or(next_msn, |open| open + 1);
            let updated = sqlx::query(
                "UPDATE live_owners SET owner = $1, owner_address = $2, epoch = $3, heartbeat_ms = $4, ended = 0, \
                 open_msn = NULL, next_msn = $5 WHERE stream = $6 AND epoch = $7",
            )
            .bind(&self.config.pod)
            .bind(&self.config.address)
            .bind(new_epoch)
            .bind(self.now_ms())
            .bind(next)
            .bind(stream)
            .bind(epoch)
            .execute(&self.pool)
            .await?;
            if updated.rows_affected() == 0 {
                continue;
            }
            if let Some(lost) = lost {
                self.record_gap(stream, new_epoch, lost, target).await?;
            }
            let history =
                if ended == 0 { self.latest_segments(stream, self.config.history_segments).await? } else { vec![] };
            let discontinuity_sequence = history
                .first()
                .map_or(0, |first| first.discontinuity_sequence.saturating_sub(u64::from(first.discontinuity)));
            let resume = ResumePoint {
                next_msn: next.max(0) as u64,
                next_init_version: u32::try_from(next_init).unwrap_or(0),
                part_target_ms: part_target.and_then(|ms| u32::try_from(ms).ok()),
                target_duration: u32::try_from(target).unwrap_or(1),
                discontinuity_sequence,
                history: history.iter().map(StoredSegment::record).collect(),
            };
            if !ours {
                tracing::info!(stream, epoch = new_epoch, next_msn = next, "took the stream over");
            }
            return Ok(Claim { epoch: new_epoch, resume });
        }
        Err(ClusterError::Busy(stream.to_owned()))
    }

    async fn insert_first_claim(&self, stream: &str) -> Result<bool, ClusterError> {
        let inserted = sqlx::query(
            "INSERT INTO live_owners (stream, owner, owner_address, epoch, heartbeat_ms, ended, open_msn, next_msn, \
             next_init_version, part_target_ms, target_duration) VALUES ($1, $2, $3, 1, $4, 0, NULL, 0, 0, NULL, 1)",
        )
        .bind(stream)
        .bind(&self.config.pod)
        .bind(&self.config.address)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Lists segment `msn` as lost, right after the newest stored one.
    async fn record_gap(&self, stream: &str, epoch: i64, msn: i64, target: i64) -> Result<(), ClusterError> {
        let previous = self.latest_segments(stream, 1).await?.pop();
        let (start_ms, discontinuity_sequence, init_version) = match &previous {
            Some(segment) => (
                segment.program_date_time_ms + (segment.duration_secs * 1000.0) as i64,
                segment.discontinuity_sequence,
                segment.init_version,
            ),
            None => (self.now_ms(), 0, 0),
        };
        let duration_ms = (self.now_ms() - start_ms).clamp(100, target.max(1) * 1000);
        let record = SegmentRecord {
            msn: msn as u64,
            duration_secs: duration_ms as f64 / 1000.0,
            program_date_time_ms: start_ms,
            discontinuity: false,
            init_version,
            discontinuity_sequence,
            gap: true,
        };
        tracing::warn!(stream, msn, "the previous owner died with a segment open; listing it as a gap");
        self.insert_segment(stream, epoch, &record, "").await
    }
}
