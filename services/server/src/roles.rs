//! The roles, each a composition of stacks: `all` (ingest, origin and api
//! in one process, on SQLite and a local directory by default), and the
//! cluster roles `ingest`, `origin` and `api`, which share PostgreSQL and
//! object storage. Every role drains on SIGTERM or Ctrl-C within
//! `server.drain_timeout_ms`.

use std::sync::Arc;

use axum::Router;
use listener::Shutdown;
use tokio::time::Instant;

use crate::config::{non_empty, Config};
use crate::error::ServerError;
use crate::http::{AdminEndpoint, PublicPorts};
use crate::metrics::MetricSources;
use crate::stacks::ingest::IngestStack;
use crate::stacks::{self, Foundation};

/// Ingest, origin and api in one process: publishers in on RTMP and RTSP,
/// viewers and the API on one HTTP port.
pub async fn all(config: Config) -> Result<(), ServerError> {
    let foundation = Foundation::open(config, format!("all-{}", std::process::id())).await?;
    let first_stream = foundation.database.ensure_default_stream("main").await?;
    // The origin serves only the names the catalog knows, the first stream's too.
    foundation.catalog.reload_access().await?;
    let http = PublicPorts::bind(&foundation).await?;
    let http_address = http.address(foundation.config.http.listen);
    // One pod of its own cluster: the same registry, epochs and segment
    // index as a cluster, on SQLite, so DVR and restarts work the same way.
    let publishers = Shutdown::new();
    let ingest = IngestStack::start(&foundation, format!("127.0.0.1:{}", http_address.port()), &publishers).await?;
    foundation.catalog.set_status_source(ingest.status.clone());
    foundation.catalog.set_publisher_control(Arc::new(cluster::LiveControl::new(
        ingest.registry.clone(),
        Some(ingest.live.clone()),
        Some(ingest.store.clone()),
    )));
    let on_play = foundation.on_play();
    let origin = stacks::origin::local(&foundation, &ingest, on_play.clone());
    let metrics = MetricSources::of_ingest(&ingest).with_on_play(on_play).with_listeners(http.stats());
    let admin = AdminEndpoint::start(&foundation, metrics, publishers.clone()).await?;
    let router = origin::require_origin_secret(origin::router(origin), &foundation.config.http.origin_secret)
        .merge(stacks::api::router(&foundation).await?)
        .merge(crate::http::readiness(foundation.database.clone(), publishers.clone()));
    let router = crate::access_log::wrap_if(foundation.config.http.access_log, router);
    let router = crate::http_metrics::wrap(router);
    let viewers = Shutdown::new();
    let https_address = http.https_address();
    let served = http.serve(router, viewers.clone());
    crate::banner::print_admin(admin.address);
    let key = crate::first_key::key_to_show(&foundation.config, &foundation.database, &first_stream).await;
    let addresses = crate::banner::PublicAddresses {
        rtmp: ingest.rtmp_address,
        rtmps: ingest.rtmps_address,
        http: http_address,
        https: https_address,
    };
    crate::banner::print(&foundation.config, &addresses, &first_stream, key.as_deref());
    tracing::info!(rtmp = %ingest.rtmp_address, http = %http_address, https = ?https_address, "relay is running");

    let deadline = wait_for_signal(&foundation.config).await;
    tracing::info!("draining: asking publishers to reconnect, finishing uploads and requests");
    publishers.begin(deadline);
    ingest.drain(deadline).await;
    viewers.begin(deadline);
    let _ = served.await;
    admin.stop(deadline).await;
    tracing::info!("drained");
    Ok(())
}

/// Publishers in; the live edge served to origin pods on the internal
/// endpoint.
pub async fn ingest(config: Config) -> Result<(), ServerError> {
    let foundation = Foundation::open(config, host_pod_name()).await?;
    foundation.require_internal_secret()?;
    let internal_listen = foundation.config.cluster.internal_listen;
    let internal = foundation.bind(internal_listen, "internal", foundation.http_limits(), false).await?;
    let internal_address = local_address(&internal, internal_listen)?;
    let advertise = non_empty(&foundation.config.cluster.advertise_address).map_or_else(
        || format!("{}:{}", crate::banner::display_host(internal_address.ip()), internal_address.port()),
        str::to_owned,
    );
    let publishers = Shutdown::new();
    let ingest = IngestStack::start(&foundation, advertise.clone(), &publishers).await?;
    let edge = ingest.edge_origin(&foundation);
    let metrics = MetricSources::of_ingest(&ingest).with_listener("internal", internal.stats());
    let admin = AdminEndpoint::start(&foundation, metrics, publishers.clone()).await?;
    let edge_routes = origin::router(edge.clone()).merge(origin::internal_router(edge, ingest.status.clone()));
    let router = origin::require_internal_secret(edge_routes, foundation.internal_secret())
        .merge(crate::http::readiness(foundation.database.clone(), publishers.clone()));
    let router = crate::http_metrics::wrap(router);
    let endpoint = Shutdown::new();
    let served = tokio::spawn(listener::http::serve(internal, router, endpoint.clone()));
    tracing::info!(pod = %foundation.pod, rtmp = %ingest.rtmp_address, %internal_address, %advertise, "ingest pod running");

    let deadline = wait_for_signal(&foundation.config).await;
    // Publishers reconnect elsewhere; every completed segment reaches the
    // registry and storage while origins may still fetch the last parts.
    tracing::info!("draining: asking publishers to reconnect elsewhere, finishing uploads");
    publishers.begin(deadline);
    ingest.drain(deadline).await;
    endpoint.begin(deadline);
    let _ = served.await;
    admin.stop(deadline).await;
    tracing::info!("drained");
    Ok(())
}

/// Viewers; live parts and playlists fetched from each stream's ingest pod.
pub async fn origin(config: Config) -> Result<(), ServerError> {
    let foundation = Foundation::open(config, host_pod_name()).await?;
    foundation.require_internal_secret()?;
    let on_play = foundation.on_play();
    let (origin, upstream) = stacks::origin::pod(&foundation, on_play.clone()).await?;
    let http = PublicPorts::bind(&foundation).await?;
    let metrics = MetricSources { upstream: Some(upstream), ..MetricSources::default() }
        .with_on_play(on_play)
        .with_listeners(http.stats());
    let viewers = Shutdown::new();
    let admin = AdminEndpoint::start(&foundation, metrics, viewers.clone()).await?;
    let router = origin::require_origin_secret(origin::router(origin), &foundation.config.http.origin_secret)
        .merge(crate::http::readiness(foundation.database.clone(), viewers.clone()));
    let router = crate::access_log::wrap_if(foundation.config.http.access_log, router);
    let router = crate::http_metrics::wrap(router);
    tracing::info!(http = %foundation.config.http.listen, "origin pod running");
    serve_until_signal(&foundation, http, router, viewers, admin).await
}

/// The management API and console.
pub async fn api(config: Config) -> Result<(), ServerError> {
    let foundation = Foundation::open(config, host_pod_name()).await?;
    foundation.require_internal_secret()?;
    let status = cluster::RemoteStatus::new(foundation.registry(), foundation.internal_secret());
    foundation.catalog.set_status_source(Arc::new(status));
    // Ingest pods learn of disconnects and retired names through the
    // registry (their next heartbeat is fenced); objects are purged from here.
    let store = match foundation.open_store().await {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::warn!(%error, "no object store: retired streams' objects are left to retention");
            None
        }
    };
    foundation.catalog.set_publisher_control(Arc::new(cluster::LiveControl::new(foundation.registry(), None, store)));
    let http = PublicPorts::bind(&foundation).await?;
    let metrics = MetricSources::default().with_listeners(http.stats());
    let requests = Shutdown::new();
    let admin = AdminEndpoint::start(&foundation, metrics, requests.clone()).await?;
    let router = stacks::api::router(&foundation)
        .await?
        .merge(crate::http::readiness(foundation.database.clone(), requests.clone()))
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    let router = crate::access_log::wrap_if(foundation.config.http.access_log, router);
    let router = crate::http_metrics::wrap(router);
    tracing::info!(http = %foundation.config.http.listen, "api service running");
    serve_until_signal(&foundation, http, router, requests, admin).await
}

async fn serve_until_signal(
    foundation: &Foundation,
    http: PublicPorts,
    router: Router,
    shutdown: Shutdown,
    admin: AdminEndpoint,
) -> Result<(), ServerError> {
    let served = http.serve(router, shutdown.clone());
    let deadline = wait_for_signal(&foundation.config).await;
    tracing::info!("draining: finishing requests in flight");
    shutdown.begin(deadline);
    let _ = served.await;
    admin.stop(deadline).await;
    tracing::info!("drained");
    Ok(())
}

fn local_address(
    listener: &listener::Listener,
    configured: std::net::SocketAddr,
) -> Result<std::net::SocketAddr, ServerError> {
    listener.local_addr().map_err(|error| ServerError::Bind { address: configured, what: listener.name(), error })
}

/// The pod name a cluster role takes when none is configured: the host
/// name (the pod name in Kubernetes) and the process id.
fn host_pod_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "relay".into());
    format!("{host}-{}", std::process::id())
}

/// Waits for SIGTERM or Ctrl-C; returns when the drain must be over.
async fn wait_for_signal(config: &Config) -> Instant {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    Instant::now() + config.drain_timeout()
}
