//! Rows written in clear (before sealing existed, or without a key) are
//! sealed once a key is configured.

use sqlx::Row;

use super::cameras::password_row;
use super::keys::key_row;
use super::webhooks::webhook_row;
use super::Database;
use crate::error::CatalogError;
use crate::sealing::SecretSealer;

impl Database {
    /// Seals every secret still stored in clear; returns how many. Does
    /// nothing without a key. Safe to run on every start and from several
    /// pods at once: a row is rewritten only while it still holds the
    /// clear value that was read.
    pub async fn seal_plain_secrets(&self) -> Result<u64, CatalogError> {
        if !self.sealer().seals() {
            return Ok(0);
        }
        let mut sealed = 0;
        for row in sqlx::query("SELECT kid, secret FROM signing_keys").fetch_all(self.pool()).await? {
            let (kid, secret): (String, String) = (row.try_get("kid")?, row.try_get("secret")?);
            if !SecretSealer::is_sealed(&secret) {
                let value = self.sealer().seal(&secret, &key_row(&kid))?;
                sealed += self.replace_clear("signing_keys", "secret", "kid", &kid, &secret, &value).await?;
            }
        }
        for row in sqlx::query("SELECT id, secret FROM webhooks").fetch_all(self.pool()).await? {
            let (id, secret): (String, String) = (row.try_get("id")?, row.try_get("secret")?);
            if !SecretSealer::is_sealed(&secret) {
                let value = self.sealer().seal(&secret, &webhook_row(&id))?;
                sealed += self.replace_clear("webhooks", "secret", "id", &id, &secret, &value).await?;
            }
        }
        let cameras = sqlx::query("SELECT stream_id, password FROM camera_sources WHERE password IS NOT NULL")
            .fetch_all(self.pool())
            .await?;
        for row in cameras {
            let (id, password): (String, String) = (row.try_get("stream_id")?, row.try_get("password")?);
            if !SecretSealer::is_sealed(&password) {
                let value = self.sealer().seal(&password, &password_row(&id))?;
                sealed += self.replace_clear("camera_sources", "password", "stream_id", &id, &password, &value).await?;
            }
        }
        Ok(sealed)
    }

    /// `table`, `column` and `id_column` are ours, never request input.
    async fn replace_clear(
        &self,
        table: &str,
        column: &str,
        id_column: &str,
        id: &str,
        clear: &str,
        sealed: &str,
    ) -> Result<u64, CatalogError> {
        let statement = format!("UPDATE {table} SET {column} = $1 WHERE {id_column} = $2 AND {column} = $3");
        let done = sqlx::query(&statement).bind(sealed).bind(id).bind(clear).execute(self.pool()).await?;
        Ok(done.rows_affected())
    }
}
