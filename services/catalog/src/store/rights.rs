//! Per-stream rights of users, and per-stream playback access policies.

use std::collections::{BTreeMap, BTreeSet};

use access::{AccessPolicy, IpNet};
use sqlx::Row;

use super::{now_millis, Database};
use crate::error::CatalogError;
use crate::model::Right;

impl Database {
    pub async fn has_right(&self, user_id: &str, stream_id: &str, right: Right) -> Result<bool, CatalogError> {
        let row = sqlx::query("SELECT 1 FROM stream_rights WHERE user_id = $1 AND stream_id = $2 AND right_name = $3")
            .bind(user_id)
            .bind(stream_id)
            .bind(right.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// True when the user holds any right on the stream.
    pub async fn has_any_right(&self, user_id: &str, stream_id: &str) -> Result<bool, CatalogError> {
        let row = sqlx::query("SELECT 1 FROM stream_rights WHERE user_id = $1 AND stream_id = $2 LIMIT 1")
            .bind(user_id)
            .bind(stream_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Every user's rights on one stream, keyed by user id.
    pub async fn stream_rights(&self, stream_id: &str) -> Result<BTreeMap<String, BTreeSet<Right>>, CatalogError> {
        let rows = sqlx::query("SELECT user_id, right_name FROM stream_rights WHERE stream_id = $1")
            .bind(stream_id)
            .fetch_all(self.pool())
            .await?;
        let mut rights: BTreeMap<String, BTreeSet<Right>> = BTreeMap::new();
        for row in rows {
            let user: String = row.try_get("user_id")?;
            let name: String = row.try_get("right_name")?;
            if let Some(right) = Right::parse(&name) {
                rights.entry(user).or_default().insert(right);
            }
        }
        Ok(rights)
    }

    /// Replaces a user's rights on a stream (an empty set removes them all).
    pub async fn set_stream_rights(
        &self,
        user_id: &str,
        stream_id: &str,
        rights: &BTreeSet<Right>,
    ) -> Result<(), CatalogError> {
        self.user(user_id).await?;
        self.stream(stream_id).await?;
        let mut transaction = self.pool().begin().await?;
        sqlx::query("DELETE FROM stream_rights WHERE user_id = $1 AND stream_id = $2")
            .bind(user_id)
            .bind(stream_id)
            .execute(&mut *transaction)
            .await?;
        for right in rights {
            sqlx::query("INSERT INTO stream_rights (user_id, stream_id, right_name) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(stream_id)
                .bind(right.as_str())
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The stored policy of a stream; `None` means the default applies.
    pub async fn access_policy(&self, stream_id: &str) -> Result<Option<AccessPolicy>, CatalogError> {
        let row = sqlx::query("SELECT kind, allow_list FROM access_policies WHERE stream_id = $1")
            .bind(stream_id)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => {
                Ok(Some(policy(&row.try_get::<String, _>("kind")?, &row.try_get::<String, _>("allow_list")?)?))
            }
            None => Ok(None),
        }
    }

    pub async fn set_access_policy(&self, stream_id: &str, policy: &AccessPolicy) -> Result<(), CatalogError> {
        self.stream(stream_id).await?;
        let (kind, allow_list) = match policy {
            AccessPolicy::Public => ("public", String::new()),
            AccessPolicy::Token => ("token", String::new()),
            AccessPolicy::IpAllowList(networks) => {
                ("ip_allow_list", networks.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
            }
        };
        let mut transaction = self.pool().begin().await?;
        sqlx::query("DELETE FROM access_policies WHERE stream_id = $1")
            .bind(stream_id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("INSERT INTO access_policies (stream_id, kind, allow_list, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(stream_id)
            .bind(kind)
            .bind(allow_list)
            .bind(now_millis())
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Every stored policy, keyed by stream id: a policy follows its
    /// stream through renames, and dies with it.
    pub async fn access_policies(&self) -> Result<Vec<(String, AccessPolicy)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT p.stream_id, p.kind, p.allow_list FROM access_policies p JOIN streams s ON s.id = p.stream_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("stream_id")?,
                    policy(&row.try_get::<String, _>("kind")?, &row.try_get::<String, _>("allow_list")?)?,
                ))
            })
            .collect()
    }
}

fn policy(kind: &str, allow_list: &str) -> Result<AccessPolicy, CatalogError> {
    match kind {
        "public" => Ok(AccessPolicy::Public),
        "token" => Ok(AccessPolicy::Token),
        "ip_allow_list" => {
            let networks: Result<Vec<IpNet>, _> = allow_list.split_whitespace().map(str::parse).collect();
            networks.map(AccessPolicy::IpAllowList).map_err(|_| CatalogError::Internal("unreadable allow list".into()))
        }
        other => Err(CatalogError::Internal(format!("unknown policy kind {other:?}"))),
    }
}
