//! Streams (the channels of a device): push streams with their key, or
//! cameras with an RTSP source whose URL and credentials never leave here
//! except through `camera_source`. A stream key is kept only as hashes
//! (`crypto::stream_key_hash` to find the publisher, the RTSP Digest HA1
//! to check a Digest login); it is shown once, when made.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_millis, Database};
use crate::crypto::{random_hex, rtsp_digest_ha1, stream_key_hash, STREAM_KEY_HASH_PREFIX};
use crate::error::CatalogError;
use crate::model::{CameraPull, CameraSource, StreamKind, StreamRecord};
use crate::sealing::SecretSealer;

const COLUMNS: &str = "id, name, created_at, kind, device_id";

#[derive(Debug, Clone)]
pub struct NewStream {
    pub name: String,
    pub device_id: Option<String>,
    /// A push stream's key; generated when absent.
    pub stream_key: Option<String>,
    /// Present for a camera stream.
    pub camera: Option<CameraSource>,
}

#[derive(Debug, Clone, Default)]
pub struct StreamChange {
    pub name: Option<String>,
    /// `Some(None)` detaches the stream from its device.
    pub device_id: Option<Option<String>>,
    pub camera: Option<CameraSource>,
}

impl Database {
    /// The first stream, created with a fresh key when there is none (only
    /// then does the record carry the key).
    pub async fn ensure_default_stream(&self, name: &str) -> Result<StreamRecord, CatalogError> {
        let query = format!("SELECT {COLUMNS} FROM streams ORDER BY created_at, name LIMIT 1");
        match sqlx::query(&query).fetch_optional(self.pool()).await? {
            Some(row) => stream_record(&row),
            None => self.add_stream(name, None).await,
        }
    }

    /// A push stream named `name` with `key`, or a generated key.
    pub async fn add_stream(&self, name: &str, key: Option<&str>) -> Result<StreamRecord, CatalogError> {
        let stream =
            NewStream { name: name.to_owned(), device_id: None, stream_key: key.map(str::to_owned), camera: None };
        self.create_stream(&stream).await
    }

    pub async fn create_stream(&self, new: &NewStream) -> Result<StreamRecord, CatalogError> {
        validate_name(&new.name)?;
        let stream_key = match &new.stream_key {
            Some(key) => {
                validate_key(key)?;
                key.clone()
            }
            None => random_hex(24)?,
        };
        if let Some(device) = &new.device_id {
            self.device(device).await?;
        }
        let kind = if new.camera.is_some() { StreamKind::Camera } else { StreamKind::Push };
        let stream = StreamRecord {
            id: random_hex(16)?,
            name: new.name.clone(),
            issued_key: (kind == StreamKind::Push).then(|| stream_key.clone()),
            created_at: now_millis(),
            kind,
            device_id: new.device_id.clone(),
        };
        let mut transaction = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO streams (id, name, stream_key, key_digest_ha1, created_at, kind, device_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&stream.id)
        .bind(&stream.name)
        .bind(stream_key_hash(&stream_key))
        .bind(rtsp_digest_ha1(&stream_key))
        .bind(stream.created_at)
        .bind(stream.kind.as_str())
        .bind(&stream.device_id)
        .execute(&mut *transaction)
        .await?;
        if let Some(camera) = &new.camera {
            insert_camera(&mut transaction, self.sealer(), &stream.id, camera).await?;
        }
        transaction.commit().await?;
        Ok(stream)
    }

    /// The push stream with this key; camera streams are never published to.
    pub async fn stream_by_key(&self, stream_key: &str) -> Result<Option<StreamRecord>, CatalogError> {
        if validate_key(stream_key).is_err() {
            return Ok(None);
        }
        let query = format!("SELECT {COLUMNS} FROM streams WHERE stream_key = $1 AND kind = 'push'");
        let row = sqlx::query(&query).bind(stream_key_hash(stream_key)).fetch_optional(self.pool()).await?;
        row.as_ref().map(stream_record).transpose()
    }

    /// The RTSP Digest HA1 of push stream `name`'s key (for the fixed
    /// publisher username and realm); `None` for unknown names and cameras.
    pub async fn stream_digest_ha1(&self, name: &str) -> Result<Option<String>, CatalogError> {
        let row = sqlx::query("SELECT key_digest_ha1 FROM streams WHERE name = $1 AND kind = 'push'")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| row.try_get::<Option<String>, _>("key_digest_ha1")).transpose()?.flatten())
    }

    /// Replaces stream keys still stored in clear (rows from before keys
    /// were hashed) by their hashes; returns how many. Safe on every start
    /// and from several pods at once: a row is rewritten only while it
    /// still holds the clear key that was read.
    pub async fn hash_plain_stream_keys(&self) -> Result<u64, CatalogError> {
        let mut hashed = 0;
        let query = format!("SELECT id, stream_key FROM streams WHERE stream_key NOT LIKE '{STREAM_KEY_HASH_PREFIX}%'");
        for row in sqlx::query(&query).fetch_all(self.pool()).await? {
            let (id, key): (String, String) = (row.try_get("id")?, row.try_get("stream_key")?);
            let done = sqlx::query(
                "UPDATE streams SET stream_key = $1, key_digest_ha1 = $2 WHERE id = $3 AND stream_key = $4",
            )
            .bind(stream_key_hash(&key))
            .bind(rtsp_digest_ha1(&key))
            .bind(&id)
            .bind(&key)
            .execute(self.pool())
            .await?;
            hashed += done.rows_affected();
        }
        Ok(hashed)
    }

    pub async fn stream(&self, id: &str) -> Result<StreamRecord, CatalogError> {
        let query = format!("SELECT {COLUMNS} FROM streams WHERE id = $1");
        let row = sqlx::query(&query).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(stream_record).transpose()?.ok_or(CatalogError::NotFound("stream"))
    }

    pub async fn stream_by_name(&self, name: &str) -> Result<Option<StreamRecord>, CatalogError> {
        let query = format!("SELECT {COLUMNS} FROM streams WHERE name = $1");
        let row = sqlx::query(&query).bind(name).fetch_optional(self.pool()).await?;
        row.as_ref().map(stream_record).transpose()
    }

    /// (name, id) of every stream: what the origin serves and under which identity.
    pub async fn stream_ids_by_name(&self) -> Result<Vec<(String, String)>, CatalogError> {
        let rows = sqlx::query("SELECT name, id FROM streams").fetch_all(self.pool()).await?;
        rows.iter().map(|row| Ok((row.try_get("name")?, row.try_get("id")?))).collect()
    }

    /// All streams, or those of one device, by name.
    pub async fn streams(&self, device_id: Option<&str>) -> Result<Vec<StreamRecord>, CatalogError> {
        let rows = match device_id {
            Some(device) => {
                let query = format!("SELECT {COLUMNS} FROM streams WHERE device_id = $1 ORDER BY name");
                sqlx::query(&query).bind(device).fetch_all(self.pool()).await?
            }
            None => {
                let query = format!("SELECT {COLUMNS} FROM streams ORDER BY name");
                sqlx::query(&query).fetch_all(self.pool()).await?
            }
        };
        rows.iter().map(stream_record).collect()
    }

    /// The streams a user holds at least one right on.
    pub async fn streams_visible_to(&self, user_id: &str) -> Result<Vec<StreamRecord>, CatalogError> {
        let query = format!(
            "SELECT {COLUMNS} FROM streams WHERE id IN (SELECT stream_id FROM stream_rights WHERE user_id = $1) \
             ORDER BY name"
        );
        let rows = sqlx::query(&query).bind(user_id).fetch_all(self.pool()).await?;
        rows.iter().map(stream_record).collect()
    }

    pub async fn update_stream(&self, id: &str, change: &StreamChange) -> Result<StreamRecord, CatalogError> {
        let current = self.stream(id).await?;
        if let Some(name) = &change.name {
            validate_name(name)?;
        }
        if let Some(Some(device)) = &change.device_id {
            self.device(device).await?;
        }
        if change.camera.is_some() && current.kind != StreamKind::Camera {
            return Err(CatalogError::field("camera", "only camera streams have a camera source"));
        }
        let name = change.name.clone().unwrap_or(current.name.clone());
        let device_id = change.device_id.clone().unwrap_or(current.device_id.clone());
        let mut transaction = self.pool().begin().await?;
        sqlx::query("UPDATE streams SET name = $1, device_id = $2 WHERE id = $3")
            .bind(&name)
            .bind(&device_id)
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        if let Some(camera) = &change.camera {
            sqlx::query("DELETE FROM camera_sources WHERE stream_id = $1").bind(id).execute(&mut *transaction).await?;
            insert_camera(&mut transaction, self.sealer(), id, camera).await?;
        }
        transaction.commit().await?;
        Ok(StreamRecord { name, device_id, ..current })
    }

    /// A new random key for a push stream; the old key stops working at once.
    pub async fn rotate_stream_key(&self, id: &str) -> Result<StreamRecord, CatalogError> {
        let current = self.stream(id).await?;
        if current.kind != StreamKind::Push {
            return Err(CatalogError::InUse("only push streams have a stream key"));
        }
        let stream_key = random_hex(24)?;
        sqlx::query("UPDATE streams SET stream_key = $1, key_digest_ha1 = $2 WHERE id = $3")
            .bind(stream_key_hash(&stream_key))
            .bind(rtsp_digest_ha1(&stream_key))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(StreamRecord { issued_key: Some(stream_key), ..current })
    }

    pub async fn delete_stream(&self, id: &str) -> Result<StreamRecord, CatalogError> {
        let current = self.stream(id).await?;
        let mut transaction = self.pool().begin().await?;
        sqlx::query("DELETE FROM streams WHERE id = $1").bind(id).execute(&mut *transaction).await?;
        // A camera of the same name made later starts without old viewers.
        sqlx::query("DELETE FROM camera_demand WHERE stream = $1")
            .bind(&current.name)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(current)
    }

    /// For the component that pulls from the camera; never for API responses.
    pub async fn camera_source(&self, stream_id: &str) -> Result<Option<CameraSource>, CatalogError> {
        let row = sqlx::query(
            "SELECT url, username, password, pull_mode, linger_ms FROM camera_sources WHERE stream_id = $1",
        )
        .bind(stream_id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => {
                let pull = super::cameras::camera_pull(&row)?;
                Ok(Some(CameraSource {
                    url: row.try_get("url")?,
                    username: row.try_get("username")?,
                    password: self.open_camera_password(stream_id, row.try_get("password")?)?,
                    mode: pull.mode,
                    linger_ms: pull.linger_ms,
                }))
            }
            None => Ok(None),
        }
    }
}

async fn insert_camera(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    sealer: &SecretSealer,
    stream_id: &str,
    camera: &CameraSource,
) -> Result<(), CatalogError> {
    validate_camera(camera)?;
    sqlx::query(
        "INSERT INTO camera_sources (stream_id, url, username, password, pull_mode, linger_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(stream_id)
    .bind(&camera.url)
    .bind(&camera.username)
    .bind(sealer.seal_optional(camera.password.as_deref(), &super::cameras::password_row(stream_id))?)
    .bind(camera.mode.as_str())
    .bind(camera.linger_ms as i64)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// Credentials belong in their own fields, so the URL must not carry any;
/// messages never repeat the value.
fn validate_camera(camera: &CameraSource) -> Result<(), CatalogError> {
    let Some(rest) = camera.url.strip_prefix("rtsp://").or_else(|| camera.url.strip_prefix("rtsps://")) else {
        return Err(CatalogError::field("camera.url", "must be an rtsp:// or rtsps:// URL"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let mut checks = crate::error::Checks::default();
    checks
        .check(!authority.is_empty(), "camera.url", "must name a host")
        .check(!authority.contains('@'), "camera.url", "put credentials in username and password, not in the URL")
        .check(camera.url.len() <= 2048, "camera.url", "at most 2048 characters")
        .check(camera.url.bytes().all(|byte| byte.is_ascii_graphic()), "camera.url", "must be printable ASCII")
        .check(
            camera.username.as_ref().is_none_or(|name| name.len() <= 256),
            "camera.username",
            "at most 256 characters",
        )
        .check(
            camera.password.as_ref().is_none_or(|word| word.len() <= 256),
            "camera.password",
            "at most 256 characters",
        )
        .check(
            (CameraPull::MIN_LINGER_MS..=CameraPull::MAX_LINGER_MS).contains(&camera.linger_ms),
            "camera.linger_ms",
            "1000 to 3600000",
        );
    checks.finish()
}

fn stream_record(row: &AnyRow) -> Result<StreamRecord, CatalogError> {
    let kind: String = row.try_get("kind")?;
    Ok(StreamRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        issued_key: None,
        created_at: row.try_get("created_at")?,
        kind: StreamKind::parse(&kind)
            .ok_or_else(|| CatalogError::Internal(format!("unknown stream kind {kind:?}")))?,
        device_id: row.try_get("device_id")?,
    })
}

pub fn validate_name(name: &str) -> Result<(), CatalogError> {
    let valid = (1..=64).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(CatalogError::InvalidName(name.to_owned()))
    }
}

pub fn validate_key(key: &str) -> Result<(), CatalogError> {
    let valid = (16..=128).contains(&key.len())
        && key.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(CatalogError::InvalidKey)
    }
}
