//! Playback token signing keys, and the access configuration built from
//! the database for the origin.

use std::collections::HashMap;

use access::{AccessConfig, AccessPolicy, SigningKey, TokenVerifier};
use serde::Serialize;
use sqlx::Row;

use super::{now_millis, Database};
use crate::crypto::random_hex;
use crate::error::CatalogError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl Database {
    /// A new signing key that signs from now on; older keys still verify until retired.
    pub async fn rotate_signing_key(&self) -> Result<(SigningKeyInfo, SigningKey), CatalogError> {
        let now = now_millis();
        let kid = format!("k{now}-{}", random_hex(3)?);
        let key = SigningKey::generate(kid.clone()).map_err(|_| CatalogError::Random)?;
        sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)")
            .bind(&kid)
            .bind(self.sealer().seal(key.secret(), &key_row(&kid))?)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok((SigningKeyInfo { kid, created_at: now, retired_at: None }, key))
    }

    /// The newest key that is not retired, made when there is none; the
    /// flag tells whether it was just made (verifiers do not know it yet).
    pub async fn current_signing_key(&self) -> Result<(SigningKey, bool), CatalogError> {
        let row = sqlx::query(
            "SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok((self.signing_key(row.try_get("kid")?, row.try_get("secret")?)?, false)),
            None => Ok((self.rotate_signing_key().await?.1, true)),
        }
    }

    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyInfo>, CatalogError> {
        let rows = sqlx::query("SELECT kid, created_at, retired_at FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyInfo {
                    kid: row.try_get("kid")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect()
    }

    /// Tokens signed with a retired key stop verifying once the origin reloads.
    pub async fn retire_signing_key(&self, kid: &str) -> Result<SigningKeyInfo, CatalogError> {
        let now = now_millis();
        let updated = sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL")
            .bind(now)
            .bind(kid)
            .execute(self.pool())
            .await?;
        let info = self.signing_keys().await?.into_iter().find(|key| key.kid == kid);
        match info {
            Some(info) if updated.rows_affected() > 0 || info.retired_at.is_some() => Ok(info),
            _ => Err(CatalogError::NotFound("signing key")),
        }
    }

    /// Keys that are not retired, the newest last.
    async fn verifying_keys(&self) -> Result<Vec<SigningKey>, CatalogError> {
        let rows =
            sqlx::query("SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at, kid")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|row| self.signing_key(row.try_get("kid")?, row.try_get("secret")?)).collect()
    }

    fn signing_key(&self, kid: String, stored: String) -> Result<SigningKey, CatalogError> {
        let secret = self.sealer().open(&stored, &key_row(&kid))?;
        SigningKey::new(kid, secret).map_err(|_| CatalogError::Internal("unusable signing key in the database".into()))
    }

    /// Everything the origin's `access::AccessControl` needs from the
    /// database: which name names which stream id, every stored policy by
    /// stream id, every key that is not retired, and the newest of them to
    /// sign on_play sessions with.
    pub async fn access_config(&self, default_policy: AccessPolicy) -> Result<AccessConfig, CatalogError> {
        let keys = self.verifying_keys().await?;
        let policies: HashMap<String, AccessPolicy> = self.access_policies().await?.into_iter().collect();
        let streams: HashMap<String, String> = self.stream_ids_by_name().await?.into_iter().collect();
        Ok(AccessConfig {
            verifier: TokenVerifier::with_keys(&keys),
            policies,
            default_policy,
            streams: Some(streams),
            session_key: keys.last().cloned(),
        })
    }
}

/// The associated data of a signing key's sealed secret.
pub(super) fn key_row(kid: &str) -> String {
    format!("signing_keys.secret:{kid}")
}
