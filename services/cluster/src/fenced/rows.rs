//! The registry rows the fenced writer writes, each fenced on the epoch.

use super::*;

type IndexedRow = (i64, String, i64, i64);

impl ClusterRegistry {
    /// Segment `msn` is open on the owner (a takeover lists it as a gap).
    pub async fn segment_opened(&self, stream: &str, epoch: i64, msn: u64) -> Result<(), ClusterError> {
        let updated = sqlx::query("UPDATE live_owners SET open_msn = $1 WHERE stream = $2 AND epoch = $3")
            .bind(msn as i64)
            .bind(stream)
            .bind(epoch)
            .execute(&self.pool)
            .await?;
        crate::fenced_unless_updated(updated.rows_affected(), stream)
    }

    pub async fn init_created(&self, stream: &str, epoch: i64, version: u32) -> Result<(), ClusterError> {
        let next = i64::from(version) + 1;
        let updated = sqlx::query(
            "UPDATE live_owners SET next_init_version = CASE WHEN next_init_version > $1 THEN next_init_version \
             ELSE $1 END WHERE stream = $2 AND epoch = $3",
        )
        .bind(next)
        .bind(stream)
        .bind(epoch)
        .execute(&self.pool)
        .await?;
        crate::fenced_unless_updated(updated.rows_affected(), stream)
    }

    /// Advances the stream past `record` and indexes it, in one transaction
    /// fenced on `epoch`. Safe to retry: if an earlier attempt committed
    /// although its answer was lost, the same row is found and this
    /// succeeds; a different row under the same number is an error.
    pub async fn segment_completed(
        &self,
        stream: &str,
        epoch: i64,
        record: &SegmentRecord,
        key: &str,
    ) -> Result<(), ClusterError> {
        match self.index_completed_segment(stream, epoch, record, key).await {
            Err(ClusterError::Database(sqlx::Error::Database(error))) if error.is_unique_violation() => {
                if self.segment_indexed_as(stream, epoch, record, key).await? {
                    Ok(())
                } else {
                    Err(ClusterError::Database(sqlx::Error::Database(error)))
                }
            }
            result => result,
        }
    }

    async fn index_completed_segment(
        &self,
        stream: &str,
        epoch: i64,
        record: &SegmentRecord,
        key: &str,
    ) -> Result<(), ClusterError> {
        let mut transaction = self.pool.begin().await?;
        let next = record.msn as i64 + 1;
        let target = record.duration_secs.round().max(1.0) as i64;
        let updated = sqlx::query(
            "UPDATE live_owners SET next_msn = CASE WHEN next_msn > $1 THEN next_msn ELSE $1 END, \
             open_msn = NULL, target_duration = CASE WHEN target_duration > $2 THEN target_duration ELSE $2 END \
             WHERE stream = $3 AND epoch = $4",
        )
        .bind(next)
        .bind(target)
        .bind(stream)
        .bind(epoch)
        .execute(&mut *transaction)
        .await?;
        crate::fenced_unless_updated(updated.rows_affected(), stream)?;
        crate::index::insert_segment_row(&mut *transaction, stream, epoch, record, key).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Whether the index holds exactly this row (epoch, key, time, length).
    async fn segment_indexed_as(
        &self,
        stream: &str,
        epoch: i64,
        record: &SegmentRecord,
        key: &str,
    ) -> Result<bool, ClusterError> {
        let row: Option<IndexedRow> = sqlx::query_as(
            "SELECT epoch, object_key, program_date_time_ms, duration_ms FROM stored_segments \
             WHERE stream = $1 AND msn = $2",
        )
        .bind(stream)
        .bind(record.msn as i64)
        .fetch_optional(&self.pool)
        .await?;
        let duration_ms = (record.duration_secs * 1000.0).round() as i64;
        Ok(row.is_some_and(|(row_epoch, row_key, pdt, duration)| {
            row_epoch == epoch && row_key == key && pdt == record.program_date_time_ms && duration == duration_ms
        }))
    }
}
