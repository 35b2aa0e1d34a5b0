//! The audit log: appended to by every change, searched by admins and operators.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use sqlx::Row;

use super::{now_millis, Database};
use crate::crypto::random_hex;
use crate::error::CatalogError;
use crate::model::AuditEntry;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// Filters of `GET /api/v1/audit`; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Actor username.
    pub user: Option<String>,
    /// `type` or `type:id`, e.g. `stream` or `stream:0a1b...`.
    pub object: Option<String>,
    /// Unix milliseconds, inclusive.
    pub from: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub to: Option<i64>,
    pub limit: Option<i64>,
}

impl Database {
    pub async fn record_audit(
        &self,
        actor: Option<(&str, &str)>,
        address: &str,
        action: &str,
        object_type: &str,
        object_id: &str,
    ) -> Result<(), CatalogError> {
        let at = now_millis();
        // Ids sort like the entries were written (time, then a per-process
        // sequence), so entries of the same millisecond keep their order.
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let id = format!("{at:013x}{sequence:010x}{}", random_hex(4)?);
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor_id, actor_name, address, action, object_type, object_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(at)
        .bind(actor.map(|(id, _)| id.to_owned()))
        .bind(actor.map_or("system", |(_, name)| name))
        .bind(address)
        .bind(action)
        .bind(object_type)
        .bind(object_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn audit(&self, filter: &AuditQuery) -> Result<Vec<AuditEntry>, CatalogError> {
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        let mut numbers = Vec::new();
        if let Some(user) = &filter.user {
            texts.push(user.clone());
            conditions.push(format!("actor_name = ${}", texts.len()));
        }
        if let Some(object) = &filter.object {
            let (kind, id) = object.split_once(':').map_or((object.as_str(), None), |(kind, id)| (kind, Some(id)));
            texts.push(kind.to_owned());
            conditions.push(format!("object_type = ${}", texts.len()));
            if let Some(id) = id {
                texts.push(id.to_owned());
                conditions.push(format!("object_id = ${}", texts.len()));
            }
        }
        if let Some(from) = filter.from {
            numbers.push(from);
            conditions.push(format!("at >= ${}", texts.len() + numbers.len()));
        }
        if let Some(to) = filter.to {
            numbers.push(to);
            conditions.push(format!("at < ${}", texts.len() + numbers.len()));
        }
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        numbers.push(limit);
        let mut sql =
            String::from("SELECT id, at, actor_id, actor_name, address, action, object_type, object_id FROM audit_log");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT ${}", texts.len() + numbers.len()));
        let mut query = sqlx::query(&sql);
        for text in texts {
            query = query.bind(text);
        }
        for number in numbers {
            query = query.bind(number);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor_id: row.try_get("actor_id")?,
                    actor_name: row.try_get("actor_name")?,
                    address: row.try_get("address")?,
                    action: row.try_get("action")?,
                    object_type: row.try_get("object_type")?,
                    object_id: row.try_get("object_id")?,
                })
            })
            .collect()
    }
}
