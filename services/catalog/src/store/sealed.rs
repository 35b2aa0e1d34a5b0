//! Rows written in clear (before sealing existed, or without a key) are
//! sealed once a key is configured, and rows sealed under a key being
//! rotated out are sealed again under the current one.

use sqlx::Row;

use super::cameras::password_row;
use super::keys::key_row;
use super::webhooks::webhook_row;
use super::Database;
use crate::error::CatalogError;
use crate::sealing::OpenedWith;

impl Database {
    /// Seals every secret still stored in clear or sealed under the
    /// previous key; returns how many. Does nothing without a key. Safe to
    /// run on every start and from several pods at once: a row is
    /// rewritten only while it still holds the value that was read.
    pub async fn seal_plain_secrets(&self) -> Result<u64, CatalogError> {
        if !self.sealer().seals() {
            return Ok(0);
        }
        let tables = [
            (
                "signing_keys",
                "secret",
                "kid",
                "SELECT kid AS id, secret AS value FROM signing_keys",
                key_row as fn(&str) -> String,
            ),
            ("webhooks", "secret", "id", "SELECT id, secret AS value FROM webhooks", webhook_row),
            (
                "camera_sources",
                "password",
                "stream_id",
                "SELECT stream_id AS id, password AS value FROM camera_sources WHERE password IS NOT NULL",
                password_row,
            ),
        ];
        let mut sealed = 0;
        for (table, column, id_column, query, row_name) in tables {
            for row in sqlx::query(query).fetch_all(self.pool()).await? {
                let (id, stored): (String, String) = (row.try_get("id")?, row.try_get("value")?);
                let (secret, opened_with) = self
                    .sealer()
                    .open_telling(&stored, &row_name(&id))
                    .inspect_err(|_| tracing::error!(table, id, "this sealed secret does not open"))?;
                if opened_with != OpenedWith::Current {
                    let value = self.sealer().seal(&secret, &row_name(&id))?;
                    sealed += self.replace_stored(table, column, id_column, &id, &stored, &value).await?;
                }
            }
        }
        Ok(sealed)
    }

    /// `table`, `column` and `id_column` are ours, never request input.
    async fn replace_stored(
        &self,
        table: &str,
        column: &str,
        id_column: &str,
        id: &str,
        stored: &str,
        sealed: &str,
    ) -> Result<u64, CatalogError> {
        let statement = format!("UPDATE {table} SET {column} = $1 WHERE {id_column} = $2 AND {column} = $3");
        let done = sqlx::query(&statement).bind(sealed).bind(id).bind(stored).execute(self.pool()).await?;
        Ok(done.rows_affected())
    }
}
