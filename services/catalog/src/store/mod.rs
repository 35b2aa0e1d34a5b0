//! The data layer: one `Database` over `db::Db`, its methods split by topic.

mod audit;
mod cameras;
mod hierarchy;
mod keys;
mod rights;
mod sealed;
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
use crate::sealing::SecretSealer;

#[derive(Debug, Clone)]
pub struct Database {
    db: Db,
    sealer: SecretSealer,
}

impl Database {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self, CatalogError> {
        Ok(Database::from_db(Db::open_sqlite(path).await?))
    }

    /// `sqlite://PATH?mode=rwc` or `postgres://...`; applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, CatalogError> {
        Ok(Database::from_db(Db::connect(url).await?))
    }

    /// Secrets are stored in clear until [`Database::with_sealer`] gives a key.
    pub fn from_db(db: Db) -> Self {
        Database { db, sealer: SecretSealer::plain() }
    }

    /// Seals the secrets this handle writes and opens the sealed ones it reads.
    pub fn with_sealer(mut self, sealer: SecretSealer) -> Self {
        self.sealer = sealer;
        self
    }

    pub fn sealer(&self) -> &SecretSealer {
        &self.sealer
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
