//! Users, their sessions and their API keys. Only hashes of secrets are stored.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_millis, Database};
use crate::crypto::{constant_time_eq, random_hex, sha256_hex};
use crate::error::CatalogError;
use crate::model::{ApiKeyInfo, Role, User};

/// The user behind a valid session or API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    pub user: User,
    /// The API key's id when authenticated by one.
    pub api_key_id: Option<String>,
}

const API_KEY_PREFIX: &str = "rk_";

impl Database {
    pub async fn create_user(&self, username: &str, password_hash: &str, role: Role) -> Result<User, CatalogError> {
        let now = now_millis();
        let user = User { id: random_hex(16)?, username: username.to_owned(), role, created_at: now };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(user)
    }

    pub async fn users(&self) -> Result<Vec<User>, CatalogError> {
        let rows = sqlx::query("SELECT id, username, role, created_at FROM users ORDER BY username")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user).collect()
    }

    pub async fn user(&self, id: &str) -> Result<User, CatalogError> {
        let row = sqlx::query("SELECT id, username, role, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user).transpose()?.ok_or(CatalogError::NotFound("user"))
    }

    pub async fn count_admins(&self) -> Result<i64, CatalogError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetch_one(self.pool()).await?.try_get(0)?)
    }

    /// The user and their password hash, for logging in.
    pub async fn user_for_login(&self, username: &str) -> Result<Option<(User, String)>, CatalogError> {
        let row = sqlx::query("SELECT id, username, role, created_at, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => Ok(Some((user(&row)?, row.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    pub async fn update_user(
        &self,
        id: &str,
        password_hash: Option<&str>,
        role: Option<Role>,
    ) -> Result<User, CatalogError> {
        let current = self.user(id).await?;
        let now = now_millis();
        if let Some(hash) = password_hash {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
            // A new password ends every other session.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(self.pool()).await?;
        }
        if let Some(role) = role {
            sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
        }
        Ok(User { role: role.unwrap_or(current.role), ..current })
    }

    pub async fn delete_user(&self, id: &str) -> Result<User, CatalogError> {
        let current = self.user(id).await?;
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(current)
    }

    /// A new session for `user_id`; returns the cookie value (only its hash is kept).
    pub async fn create_session(&self, user_id: &str, ttl_millis: i64) -> Result<String, CatalogError> {
        let token = random_hex(32)?;
        let now = now_millis();
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(self.pool()).await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(sha256_hex(&token))
            .bind(user_id)
            .bind(now)
            .bind(now.saturating_add(ttl_millis))
            .execute(self.pool())
            .await?;
        Ok(token)
    }

    pub async fn session_user(&self, token: &str) -> Result<Option<AuthenticatedUser>, CatalogError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.role, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(sha256_hex(token))
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|row| Ok(AuthenticatedUser { user: user(row)?, api_key_id: None })).transpose()
    }

    pub async fn delete_session(&self, token: &str) -> Result<(), CatalogError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(sha256_hex(token)).execute(self.pool()).await?;
        Ok(())
    }

    /// A new API key; returns its description and the key, shown this once.
    pub async fn create_api_key(
        &self,
        user_id: &str,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(ApiKeyInfo, String), CatalogError> {
        let info = ApiKeyInfo {
            id: random_hex(8)?,
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            created_at: now_millis(),
            expires_at,
        };
        let secret = random_hex(24)?;
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&info.id)
        .bind(&info.user_id)
        .bind(&info.name)
        .bind(sha256_hex(&secret))
        .bind(info.created_at)
        .bind(info.expires_at)
        .execute(self.pool())
        .await?;
        let key = format!("{API_KEY_PREFIX}{}_{secret}", info.id);
        Ok((info, key))
    }

    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyInfo>, CatalogError> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, created_at, expires_at FROM api_keys WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(api_key).collect()
    }

    pub async fn api_key(&self, id: &str) -> Result<ApiKeyInfo, CatalogError> {
        let row = sqlx::query("SELECT id, user_id, name, created_at, expires_at FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(api_key).transpose()?.ok_or(CatalogError::NotFound("API key"))
    }

    pub async fn delete_api_key(&self, id: &str) -> Result<(), CatalogError> {
        sqlx::query("DELETE FROM api_keys WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// The user of a presented `rk_<id>_<secret>` key, if it is valid and unexpired.
    pub async fn api_key_user(&self, presented: &str) -> Result<Option<AuthenticatedUser>, CatalogError> {
        let Some((id, secret)) = presented.strip_prefix(API_KEY_PREFIX).and_then(|rest| rest.split_once('_')) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT u.id, u.username, u.role, u.created_at, k.secret_hash, k.expires_at \
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("secret_hash")?;
        let expires_at: Option<i64> = row.try_get("expires_at")?;
        let unexpired = expires_at.is_none_or(|expiry| expiry > now_millis());
        if !constant_time_eq(stored.as_bytes(), sha256_hex(secret).as_bytes()) || !unexpired {
            return Ok(None);
        }
        Ok(Some(AuthenticatedUser { user: user(&row)?, api_key_id: Some(id.to_owned()) }))
    }
}

fn user(row: &AnyRow) -> Result<User, CatalogError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role).ok_or_else(|| CatalogError::Internal(format!("unknown role {role:?}")))?,
        created_at: row.try_get("created_at")?,
    })
}

fn api_key(row: &AnyRow) -> Result<ApiKeyInfo, CatalogError> {
    Ok(ApiKeyInfo {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}
