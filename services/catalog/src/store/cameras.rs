//! Camera pull settings and viewer demand: what the ingest pods need to
//! decide which cameras to pull, and what the origin pods record when a
//! viewer asks for an on-demand camera.

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Database;
use crate::error::CatalogError;
use crate::model::{CameraPull, CameraPullMode, CameraSource};

/// The associated data of a camera's sealed password.
pub(super) fn password_row(stream_id: &str) -> String {
    format!("camera_sources.password:{stream_id}")
}

pub(super) fn camera_pull(row: &AnyRow) -> Result<CameraPull, CatalogError> {
    let mode: String = row.try_get("pull_mode")?;
    let mode = CameraPullMode::parse(&mode)
        .ok_or_else(|| CatalogError::Internal(format!("unknown camera pull mode {mode:?}")))?;
    let linger_ms: i64 = row.try_get("linger_ms")?;
    Ok(CameraPull { mode, linger_ms: u64::try_from(linger_ms).unwrap_or(0) })
}

impl Database {
    /// Pull settings of every camera stream, by stream id.
    pub async fn camera_pulls(&self) -> Result<HashMap<String, CameraPull>, CatalogError> {
        let rows =
            sqlx::query("SELECT stream_id, pull_mode, linger_ms FROM camera_sources").fetch_all(self.pool()).await?;
        rows.iter().map(|row| Ok((row.try_get("stream_id")?, camera_pull(row)?))).collect()
    }

    /// Every camera stream's name with its source, in one query. For the
    /// component that pulls cameras; never for API responses.
    pub async fn camera_sources_by_name(&self) -> Result<Vec<(String, CameraSource)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT s.name, c.stream_id, c.url, c.username, c.password, c.pull_mode, c.linger_ms \
             FROM camera_sources c JOIN streams s ON s.id = c.stream_id WHERE s.kind = 'camera' ORDER BY s.name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let pull = camera_pull(row)?;
                let source = CameraSource {
                    url: row.try_get("url")?,
                    username: row.try_get("username")?,
                    password: self.open_camera_password(row.try_get("stream_id")?, row.try_get("password")?)?,
                    mode: pull.mode,
                    linger_ms: pull.linger_ms,
                };
                Ok((row.try_get("name")?, source))
            })
            .collect()
    }

    /// The clear password of the camera of `stream_id`, from its stored value.
    pub(super) fn open_camera_password(
        &self,
        stream_id: &str,
        stored: Option<String>,
    ) -> Result<Option<String>, CatalogError> {
        stored.map(|stored| self.sealer().open(&stored, &password_row(stream_id))).transpose()
    }

    /// Names of the streams pulled only while viewers ask for them.
    pub async fn on_demand_camera_names(&self) -> Result<HashSet<String>, CatalogError> {
        let rows = sqlx::query(
            "SELECT s.name FROM camera_sources c JOIN streams s ON s.id = c.stream_id \
             WHERE s.kind = 'camera' AND c.pull_mode = 'on_demand'",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
    }

    /// A viewer asked for `stream` at `at_ms` (unix ms). Never moves the
    /// time back, so pods whose requests land out of order agree.
    pub async fn record_camera_demand(&self, stream: &str, at_ms: i64) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO camera_demand (stream, requested_ms) VALUES ($1, $2) \
             ON CONFLICT (stream) DO UPDATE SET requested_ms = excluded.requested_ms \
             WHERE camera_demand.requested_ms < excluded.requested_ms",
        )
        .bind(stream)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// When viewers last asked for each stream that has been asked for (unix ms).
    pub async fn camera_demand(&self) -> Result<HashMap<String, i64>, CatalogError> {
        let rows = sqlx::query("SELECT stream, requested_ms FROM camera_demand").fetch_all(self.pool()).await?;
        rows.iter().map(|row| Ok((row.try_get("stream")?, row.try_get("requested_ms")?))).collect()
    }
}
