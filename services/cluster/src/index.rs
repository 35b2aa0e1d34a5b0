//! The index of stored segments: what DVR playlists, time-range playback
//! and the retention sweeper read instead of listing the bucket.

use live::SegmentRecord;

use crate::{ClusterError, ClusterRegistry};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredSegment {
    pub stream: String,
    pub msn: u64,
    pub epoch: i64,
    pub program_date_time_ms: i64,
    pub duration_secs: f64,
    pub discontinuity: bool,
    pub discontinuity_sequence: u64,
    pub init_version: u32,
    pub gap: bool,
    /// Empty for a gap.
    pub object_key: String,
}

type SegmentRow = (String, i64, i64, i64, i64, i64, i64, i64, i64, String);

const COLUMNS: &str = "stream, msn, epoch, program_date_time_ms, duration_ms, discontinuity, discontinuity_sequence, \
                       init_version, gap, object_key";

impl StoredSegment {
    fn from_row(row: SegmentRow) -> Self {
        let (stream, msn, epoch, pdt, duration_ms, discontinuity, sequence, init_version, gap, object_key) = row;
        Self {
            stream,
            msn: msn.max(0) as u64,
            epoch,
            program_date_time_ms: pdt,
            duration_secs: duration_ms as f64 / 1000.0,
            discontinuity: discontinuity != 0,
            discontinuity_sequence: sequence.max(0) as u64,
            init_version: u32::try_from(init_version).unwrap_or(0),
            gap: gap != 0,
            object_key,
        }
    }

    pub fn record(&self) -> SegmentRecord {
        SegmentRecord {
            msn: self.msn,
            duration_secs: self.duration_secs,
            program_date_time_ms: self.program_date_time_ms,
            discontinuity: self.discontinuity,
            init_version: self.init_version,
            discontinuity_sequence: self.discontinuity_sequence,
            gap: self.gap,
        }
    }
}

impl ClusterRegistry {
    pub(crate) async fn insert_segment(
        &self,
        stream: &str,
        epoch: i64,
        record: &SegmentRecord,
        object_key: &str,
    ) -> Result<(), ClusterError> {
        insert_segment_row(&self.pool, stream, epoch, record, object_key).await
    }

    /// The newest `count` segments, oldest first.
    pub async fn latest_segments(&self, stream: &str, count: usize) -> Result<Vec<StoredSegment>, ClusterError> {
        let rows: Vec<SegmentRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM stored_segments WHERE stream = $1 ORDER BY msn DESC LIMIT $2"
        ))
        .bind(stream)
        .bind(count as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut segments: Vec<_> = rows.into_iter().map(StoredSegment::from_row).collect();
        segments.reverse();
        Ok(segments)
    }

    /// Segments that overlap [from_ms, to_ms), oldest first, at most `limit`.
    pub async fn segments_between(
        &self,
        stream: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredSegment>, ClusterError> {
        let rows: Vec<SegmentRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM stored_segments WHERE stream = $1 AND program_date_time_ms < $2 \
             AND program_date_time_ms + duration_ms > $3 ORDER BY msn LIMIT $4"
        ))
        .bind(stream)
        .bind(to_ms)
        .bind(from_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(StoredSegment::from_row).collect())
    }

    /// Every indexed segment of `stream`, oldest first (tests, audits).
    pub async fn all_segments(&self, stream: &str) -> Result<Vec<StoredSegment>, ClusterError> {
        let rows: Vec<SegmentRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM stored_segments WHERE stream = $1 ORDER BY msn"))
                .bind(stream)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(StoredSegment::from_row).collect())
    }
}

/// One index row, on the pool or inside a caller's transaction.
pub(crate) async fn insert_segment_row<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    stream: &str,
    epoch: i64,
    record: &SegmentRecord,
    object_key: &str,
) -> Result<(), ClusterError> {
    sqlx::query(&format!("INSERT INTO stored_segments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
        .bind(stream)
        .bind(record.msn as i64)
        .bind(epoch)
        .bind(record.program_date_time_ms)
        .bind((record.duration_secs * 1000.0).round() as i64)
        .bind(i64::from(record.discontinuity))
        .bind(record.discontinuity_sequence as i64)
        .bind(i64::from(record.init_version))
        .bind(i64::from(record.gap))
        .bind(object_key)
        .execute(executor)
        .await?;
    Ok(())
}
