//! Routes every role serves beside its own: /readyz; and the admin
//! listener, where /metrics lives, away from viewers and the CDN.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use listener::tls::TlsPorts;
use listener::{Listener, ListenerStats, Shutdown};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::optional_listen;
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
        let tls = foundation.tls.clone();
        let metrics =
            MetricSources { database: Some(foundation.database.clone()), per_stream, tls: tls.clone(), ..metrics };
        let router = crate::metrics::router(metrics.with_listener("admin", bound.stats()))
            .merge(readiness(foundation.database.clone(), draining))
            .route("/healthz", get(|| async { "ok" }))
            // The certificate and ACME state, for operators and probes.
            .route(
                "/tls",
                get(move || {
                    let report = tls.as_ref().map(crate::tls::Tls::report);
                    async move { axum::Json(report) }
                }),
            );
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

/// The public HTTP ports of a role: the plain one (`http.listen`) and,
/// with a certificate, the HTTPS one (`http.tls_listen`), serving the same
/// routes.
pub struct PublicPorts {
    plain: Listener,
    https: Option<(Listener, TlsPorts)>,
    redirect_to_https: bool,
}

impl PublicPorts {
    pub async fn bind(foundation: &Foundation) -> Result<Self, ServerError> {
        let http = &foundation.config.http;
        let plain = foundation.bind(http.listen, "http", foundation.http_limits(), http.proxy_protocol).await?;
        let https = match (optional_listen(&http.tls_listen), &foundation.tls) {
            (Some(address), Some(tls)) => {
                let bound = foundation.bind(address, "https", foundation.http_limits(), http.proxy_protocol).await?;
                Some((bound, tls.ports.clone()))
            }
            _ => None,
        };
        Ok(Self { plain, https, redirect_to_https: http.redirect_to_https })
    }

    /// The plain port's address (the configured one when it cannot be read).
    pub fn address(&self, configured: SocketAddr) -> SocketAddr {
        self.plain.local_addr().unwrap_or(configured)
    }

    pub fn https_address(&self) -> Option<SocketAddr> {
        self.https.as_ref().and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Every port's counters by name, for /metrics.
    pub fn stats(&self) -> Vec<(&'static str, Arc<ListenerStats>)> {
        let mut stats = vec![(self.plain.name(), self.plain.stats())];
        stats.extend(self.https.as_ref().map(|(listener, _)| (listener.name(), listener.stats())));
        stats
    }

    /// Serves `router` on every port until `shutdown`'s drain ends; with
    /// `http.redirect_to_https`, the plain port redirects instead.
    pub fn serve(self, router: Router, shutdown: Shutdown) -> JoinHandle<()> {
        let https_port = self.https_address().map(|address| address.port());
        let plain_router = match (self.redirect_to_https, https_port) {
            (true, Some(port)) => redirecting(router.clone(), port),
            _ => router.clone(),
        };
        let https = self.https.map(|(listener, ports)| {
            tokio::spawn(listener::http::serve_tls(listener, router, shutdown.clone(), ports))
        });
        let plain = tokio::spawn(listener::http::serve(self.plain, plain_router, shutdown));
        tokio::spawn(async move {
            let _ = plain.await;
            if let Some(https) = https {
                let _ = https.await;
            }
        })
    }
}

/// `router` behind a permanent redirect to HTTPS on `https_port`, except
/// the probes, which a load balancer asks over plain HTTP.
fn redirecting(router: Router, https_port: u16) -> Router {
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| async move {
        let path = request.uri().path();
        if path == "/healthz" || path == "/readyz" {
            return next.run(request).await;
        }
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .and_then(|host| host.parse::<axum::http::uri::Authority>().ok());
        let Some(host) = host else {
            return (StatusCode::BAD_REQUEST, "use https://").into_response();
        };
        let authority =
            if https_port == 443 { host.host().to_owned() } else { format!("{}:{https_port}", host.host()) };
        let target = request.uri().path_and_query().map_or("/", |path| path.as_str());
        let location = format!("https://{authority}{target}");
        (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response()
    }))
}
