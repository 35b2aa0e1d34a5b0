//! The data layer: one `Database` over `db::Db`, its methods split by topic.

mod audit;
mod cameras;
mod hierarchy;
mod keys;
mod rights;
mod streams;
mod users;
mod webhooks;

pub use audit::AuditQuery;
pub use keys::SigningKeyInfo;
pub use streams::{validate_key, validate_name, NewStream, StreamChange};
pub use users::AuthenticatedUser;

use db::{Db, DbKind};
use sqlx::AnyPool;

use crate::error::CatalogError;

#[derive(Debug, Clone)]
pub struct Database {
    db: Db,
}

impl Database {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self, CatalogError> {
        Ok(Database { db: Db::open_sqlite(path).await? })
    }

    /// `sqlite://PATH?mode=rwc` or `postgres://...`; applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, CatalogError> {
        Ok(Database { db: Db::connect(url).await? })
    }

    pub fn from_db(db: Db) -> Self {
        Database { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn kind(&self) -> DbKind {
        self.db.kind()
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), CatalogError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        self.db.pool()
    }
}

pub(crate) fn now_millis() -> i64 {
    db::unix_millis()
}
