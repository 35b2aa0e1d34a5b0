//! The management database: SQLite for a single node, PostgreSQL for a
//! cluster, behind one `sqlx::AnyPool`. Queries are portable SQL with `$n`
//! placeholders, BIGINT unix-millisecond timestamps and TEXT ids, so one
//! set of migrations and one set of queries serve both.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use sqlx;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url: use sqlite://PATH?mode=rwc or postgres://...")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot make the database file private: {0}")]
    FileMode(std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// How long a SQLite writer waits for the lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool with the schema up to date. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    kind: DbKind,
}

impl Db {
    /// Connects to `url` (`sqlite://PATH?mode=rwc`, `sqlite::memory:` or
    /// `postgres://...`) and applies every pending migration.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let kind = kind_of(url)?;
        if kind == DbKind::Sqlite {
            restrict_sqlite_files(url)?;
        }
        let options: AnyConnectOptions = url.parse()?;
        let pool_options = match kind {
            DbKind::Sqlite => {
                // In-memory databases are per connection: keep exactly one.
                let connections = if url.contains(":memory:") { 1 } else { 8 };
                AnyPoolOptions::new().max_connections(connections).after_connect(|connection, _| {
                    Box::pin(async move {
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; \
                             PRAGMA synchronous = NORMAL;",
                            SQLITE_BUSY_TIMEOUT.as_millis()
                        );
                        connection.execute(pragmas.as_str()).await?;
                        Ok(())
                    })
                })
            }
            DbKind::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = pool_options.connect_with(options).await?;
        sqlx::migrate!("../../migrations").run(&pool).await?;
        Ok(Db { pool, kind })
    }

    /// The SQLite database file at `path`, created when missing.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self, DbError> {
        Db::connect(&format!("sqlite://{}?mode=rwc", url_path(path))).await
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The SQLite file and its companions hold stream keys and secrets: only
/// this user may read them. A missing file (with `mode=rwc`) is created
/// 0600 before SQLite opens it; SQLite then gives the -wal and -shm files
/// the database file's mode. Files left looser by older versions are
/// tightened.
fn restrict_sqlite_files(url: &str) -> Result<(), DbError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    use std::str::FromStr;

    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(());
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename().to_owned();
    if url.contains("mode=rwc") {
        let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path);
        match created {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(DbError::FileMode(error)),
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let Ok(metadata) = std::fs::metadata(&file) else { continue };
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(DbError::FileMode)?;
        }
    }
    Ok(())
}

/// The path as a URL path: the SQLite driver percent-decodes it, so any
/// byte that could be read as syntax (`?`, `#`, `%`, spaces) is escaped.
fn url_path(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut encoded = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn kind_of(url: &str) -> Result<DbKind, DbError> {
    if url.starts_with("sqlite:") {
        Ok(DbKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DbKind::Postgres)
    } else {
        Err(DbError::UnsupportedUrl)
    }
}

/// Milliseconds since the Unix epoch: every timestamp column holds these.
pub fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

/// True when `error` is a unique or primary key violation on either driver.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.is_unique_violation())
}

/// True when `error` is a foreign key violation on either driver.
pub fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.is_foreign_key_violation())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sqlite_paths_with_url_syntax_open() {
        let dir = std::env::temp_dir().join(format!("db test #{} 100%?", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("relay.db");
        let db = super::Db::open_sqlite(&path).await.unwrap();
        db.close().await;
        assert!(path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn only_the_owner_can_read_the_database_files() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = testkit::TempDir::new("db-file-modes");
        let path = dir.path().join("relay.db");
        let db = super::Db::open_sqlite(&path).await.unwrap();
        sqlx::query("SELECT 1").execute(db.pool()).await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join(format!("relay.db{suffix}"));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        db.close().await;
        // A file an older version left world-readable is tightened on open.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = super::Db::open_sqlite(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        db.close().await;
    }
}
