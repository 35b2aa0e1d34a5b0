//! Routes every role serves beside its own: /readyz; and the admin
//! listener, where /metrics lives, away from viewers and the CDN.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use listener::Shutdown;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::ServerError;
use crate::metrics::MetricSources;
use crate::stacks::Foundation;

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

/// The admin listener (`admin.listen`): /metrics, /healthz and /readyz.
pub struct AdminEndpoint {
    pub address: SocketAddr,
    served: JoinHandle<()>,
    shutdown: Shutdown,
}

impl AdminEndpoint {
    /// Serves `metrics` (with the admin listener's own counters) and the
    /// probes; /readyz follows `draining`.
    pub async fn start(
        foundation: &Foundation,
        metrics: MetricSources,
        draining: Shutdown,
    ) -> Result<AdminEndpoint, ServerError> {
        let configured = foundation.config.admin.listen;
        let bound = foundation.bind(configured, "admin", foundation.http_limits(), false).await?;
        let address =
            bound.local_addr().map_err(|error| ServerError::Bind { address: configured, what: "admin", error })?;
        let per_stream = crate::metrics::PerStream {
            enabled: foundation.config.admin.per_stream_metrics,
            max_streams: foundation.config.admin.per_stream_max_streams,
        };
        let metrics = MetricSources { database: Some(foundation.database.clone()), per_stream, ..metrics };
        let router = crate::metrics::router(metrics.with_listener("admin", bound.stats()))
            .merge(readiness(foundation.database.clone(), draining))
            .route("/healthz", get(|| async { "ok" }));
        let shutdown = Shutdown::new();
        let served = tokio::spawn(listener::http::serve(bound, router, shutdown.clone()));
        tracing::info!(admin = %address, "metrics and probes on the admin listener");
        Ok(AdminEndpoint { address, served, shutdown })
    }

    /// Stops once the requests in flight finish, or at `deadline`.
    pub async fn stop(self, deadline: Instant) {
        self.shutdown.begin(deadline);
        let _ = self.served.await;
    }
}
