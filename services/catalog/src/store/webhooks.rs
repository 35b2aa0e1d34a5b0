//! Webhook receivers.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_millis, Database};
use crate::crypto::random_hex;
use crate::error::CatalogError;
use crate::model::{Webhook, WebhookEvent};

const COLUMNS: &str = "id, url, events, secret, enabled, created_at";

impl Database {
    pub async fn create_webhook(
        &self,
        url: &str,
        events: &[WebhookEvent],
        secret: &str,
        enabled: bool,
    ) -> Result<Webhook, CatalogError> {
        let hook = Webhook {
            id: random_hex(16)?,
            url: url.to_owned(),
            events: events.to_vec(),
            enabled,
            created_at: now_millis(),
            secret: secret.to_owned(),
        };
        sqlx::query(
            "INSERT INTO webhooks (id, url, events, secret, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hook.id)
        .bind(&hook.url)
        .bind(events_text(&hook.events))
        .bind(self.sealer().seal(&hook.secret, &webhook_row(&hook.id))?)
        .bind(i64::from(hook.enabled))
        .bind(hook.created_at)
        .execute(self.pool())
        .await?;
        Ok(hook)
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>, CatalogError> {
        let query = format!("SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id");
        let rows = sqlx::query(&query).fetch_all(self.pool()).await?;
        rows.iter().map(|row| self.webhook_from(row)).collect()
    }

    /// Enabled receivers of `event`.
    pub async fn webhooks_for(&self, event: WebhookEvent) -> Result<Vec<Webhook>, CatalogError> {
        Ok(self.webhooks().await?.into_iter().filter(|hook| hook.enabled && hook.events.contains(&event)).collect())
    }

    pub async fn webhook(&self, id: &str) -> Result<Webhook, CatalogError> {
        let query = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
        let row = sqlx::query(&query).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(|row| self.webhook_from(row)).transpose()?.ok_or(CatalogError::NotFound("webhook"))
    }

    pub async fn update_webhook(
        &self,
        id: &str,
        url: Option<&str>,
        events: Option<&[WebhookEvent]>,
        enabled: Option<bool>,
    ) -> Result<Webhook, CatalogError> {
        let current = self.webhook(id).await?;
        let updated = Webhook {
            url: url.map_or(current.url.clone(), str::to_owned),
            events: events.map_or(current.events.clone(), <[WebhookEvent]>::to_vec),
            enabled: enabled.unwrap_or(current.enabled),
            ..current
        };
        sqlx::query("UPDATE webhooks SET url = $1, events = $2, enabled = $3 WHERE id = $4")
            .bind(&updated.url)
            .bind(events_text(&updated.events))
            .bind(i64::from(updated.enabled))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(updated)
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), CatalogError> {
        self.webhook(id).await?;
        sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(())
    }
}

fn events_text(events: &[WebhookEvent]) -> String {
    events.iter().map(|event| event.as_str()).collect::<Vec<_>>().join(" ")
}

impl Database {
    fn webhook_from(&self, row: &AnyRow) -> Result<Webhook, CatalogError> {
        let id: String = row.try_get("id")?;
        let events: String = row.try_get("events")?;
        let enabled: i64 = row.try_get("enabled")?;
        let secret = self.sealer().open(&row.try_get::<String, _>("secret")?, &webhook_row(&id))?;
        Ok(Webhook {
            url: row.try_get("url")?,
            events: events.split_whitespace().filter_map(WebhookEvent::parse).collect(),
            enabled: enabled != 0,
            created_at: row.try_get("created_at")?,
            secret,
            id,
        })
    }
}

/// The associated data of a webhook's sealed secret.
pub(super) fn webhook_row(id: &str) -> String {
    format!("webhooks.secret:{id}")
}
