//! Named leases in the database: at most one holder per name until it
//! stops renewing. The retention sweeper and camera pulls use them.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::{ClusterError, ClusterRegistry};

impl ClusterRegistry {
    /// Takes or renews lease `name` for this pod for `ttl`. True when this
    /// pod holds it afterwards.
    pub async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<bool, ClusterError> {
        let now = self.now_ms();
        let expires = now + ttl.as_millis() as i64;
        let renewed = sqlx::query(
            "UPDATE leases SET holder = $1, expires_ms = $2 WHERE name = $3 AND (holder = $1 OR expires_ms < $4)",
        )
        .bind(&self.config.pod)
        .bind(expires)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if renewed.rows_affected() == 1 {
            return Ok(true);
        }
        let inserted = sqlx::query("INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(&self.config.pod)
            .bind(expires)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Gives lease `name` up if this pod holds it.
    pub async fn release_lease(&self, name: &str) -> Result<(), ClusterError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(&self.config.pod)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Who holds lease `name` now, if anyone.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>, ClusterError> {
        let holder = sqlx::query_scalar::<_, String>("SELECT holder FROM leases WHERE name = $1 AND expires_ms >= $2")
            .bind(name)
            .bind(self.now_ms())
            .fetch_optional(&self.pool)
            .await?;
        Ok(holder)
    }
}

/// What [`LeaseStore`] calls return.
pub type LeaseFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClusterError>> + Send + 'a>>;

/// Where named leases live: the database (everywhere) or Kubernetes Lease
/// objects (in a cluster). A name has one holder until it stops renewing.
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes or renews lease `name` for `duration`. True while this pod
    /// holds it.
    fn acquire<'a>(&'a self, name: &'a str, duration: Duration) -> LeaseFuture<'a, bool>;

    /// Gives lease `name` up if this pod holds it, so another pod may take
    /// it at once.
    fn release<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, ()>;
}

impl LeaseStore for ClusterRegistry {
    fn acquire<'a>(&'a self, name: &'a str, duration: Duration) -> LeaseFuture<'a, bool> {
        Box::pin(self.acquire_lease(name, duration))
    }

    fn release<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, ()> {
        Box::pin(self.release_lease(name))
    }
}
