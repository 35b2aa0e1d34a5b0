//! Routes every role serves beside its own: /readyz.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use listener::Shutdown;

/// /readyz: the pod should get traffic (the database answers and
/// `draining` has not begun). /healthz (the process runs) comes with the
/// origin and api routers.
pub fn readiness(database: catalog::Database, draining: Shutdown) -> Router {
    Router::new().route(
        "/readyz",
        get(move || {
            let database = database.clone();
            let draining = draining.clone();
            async move {
                if draining.is_begun() {
                    return (StatusCode::SERVICE_UNAVAILABLE, "draining");
                }
                match database.ping().await {
                    Ok(()) => (StatusCode::OK, "ready"),
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
                }
            }
        }),
    )
}
