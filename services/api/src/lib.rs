//! The management service's data layer. Today: streams and their keys,
//! looked up on every publish so keys added while running take effect.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid stream name {0:?}: use 1-64 of a-z, 0-9, '-' and '_'")]
    InvalidName(String),
    #[error("invalid stream key: use 16-128 of A-Z, a-z, 0-9, '-' and '_'")]
    InvalidKey,
    #[error("a stream with that name or key already exists")]
    Conflict,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("no randomness available: {0}")]
    Random(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub id: String,
    pub name: String,
    pub stream_key: String,
    pub created_at: i64,
}

#[derive(Clone)]
pub struct Database {
    pool: SqlitePool,
}

impl Database {
    /// Opens (creating if needed) the SQLite database at `path` and applies
    /// the migrations.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self, ApiError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("../../migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The first stream, created with a fresh key when there is none.
    pub async fn ensure_default_stream(&self, name: &str) -> Result<StreamRecord, ApiError> {
        let existing =
            sqlx::query("SELECT id, name, stream_key, created_at FROM streams ORDER BY created_at, name LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        match existing {
            Some(row) => Ok(record(&row)?),
            None => self.add_stream(name, None).await,
        }
    }

    pub async fn add_stream(&self, name: &str, key: Option<&str>) -> Result<StreamRecord, ApiError> {
        validate_name(name)?;
        let stream_key = match key {
            Some(key) => {
                validate_key(key)?;
                key.to_owned()
            }
            None => random_token(24)?,
        };
        let stream =
            StreamRecord { id: random_token(16)?, name: name.to_owned(), stream_key, created_at: unix_seconds() };
        let inserted = sqlx::query("INSERT INTO streams (id, name, stream_key, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&stream.id)
            .bind(&stream.name)
            .bind(&stream.stream_key)
            .bind(stream.created_at)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(stream),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(ApiError::Conflict),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn stream_by_key(&self, stream_key: &str) -> Result<Option<StreamRecord>, ApiError> {
        if validate_key(stream_key).is_err() {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, name, stream_key, created_at FROM streams WHERE stream_key = $1")
            .bind(stream_key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }
}

fn record(row: &sqlx::sqlite::SqliteRow) -> Result<StreamRecord, ApiError> {
    Ok(StreamRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        stream_key: row.try_get("stream_key")?,
        created_at: row.try_get("created_at")?,
    })
}

pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let valid = (1..=64).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidName(name.to_owned()))
    }
}

fn validate_key(key: &str) -> Result<(), ApiError> {
    let valid = (16..=128).contains(&key.len())
        && key.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidKey)
    }
}

/// `bytes` random bytes as lowercase hex.
fn random_token(bytes: usize) -> Result<String, ApiError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|error| ApiError::Random(error.to_string()))?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database() -> (Database, std::path::PathBuf) {
        let path =
            std::env::temp_dir().join(format!("api-test-{}-{}.db", std::process::id(), random_token(4).unwrap()));
        (Database::open_sqlite(&path).await.unwrap(), path)
    }

    #[tokio::test]
    async fn default_stream_is_created_once() {
        let (db, path) = database().await;
        let first = db.ensure_default_stream("main").await.unwrap();
        let again = db.ensure_default_stream("main").await.unwrap();
        assert_eq!(first, again);
        assert_eq!(first.stream_key.len(), 48);
        assert_eq!(db.stream_by_key(&first.stream_key).await.unwrap(), Some(first));
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn keys_and_names_are_checked() {
        let (db, path) = database().await;
        db.add_stream("cam-1", Some("0123456789abcdef")).await.unwrap();
        assert!(matches!(db.add_stream("cam-1", None).await, Err(ApiError::Conflict)));
        assert!(matches!(db.add_stream("other", Some("0123456789abcdef")).await, Err(ApiError::Conflict)));
        assert!(matches!(db.add_stream("Bad Name", None).await, Err(ApiError::InvalidName(_))));
        assert!(matches!(db.add_stream("short", Some("abc")).await, Err(ApiError::InvalidKey)));
        assert_eq!(db.stream_by_key("wrong-key-wrong-key").await.unwrap(), None);
        assert_eq!(db.stream_by_key("").await.unwrap(), None);
        let _ = std::fs::remove_file(path);
    }
}
