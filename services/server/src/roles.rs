//! The cluster roles: `ingest` (publishers in, live edge out to origin pods
//! over an internal endpoint), `origin` (viewers, through the owner of each
//! stream) and `api` (the management service). They share PostgreSQL (or
//! one SQLite file on one machine) and object storage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use cluster::{ClusterAuthorizer, ClusterConfig, ClusterRegistry, FencedWriter};
use live::{Registry, StorageWriter};
use origin::{Origin, Upstream};
use sqlx::AnyPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::all::{display_host, live_config, open_store, rtmp_config, wait_for_signal, writer_config};
use crate::config::Config;

/// The RTSP push listener and the camera pulls this pod holds leases for.
pub(crate) async fn spawn_cameras_and_rtsp(
    config: &Config,
    database: &catalog::Database,
    registry: &ClusterRegistry,
    live: &Arc<Registry>,
    authorizer: &Arc<dyn publisher::StreamAuthorizer>,
    shutdown: &watch::Receiver<bool>,
) -> Result<cameras::CameraBoard, String> {
    let rtsp_listener = bind(config.rtsp_listen, "RTSP").await?;
    tokio::spawn(rtsp::run(
        rtsp_listener,
        live.clone(),
        authorizer.clone(),
        rtsp::PushConfig::default(),
        shutdown.clone(),
    ));
    let backend = match config.camera_lease_backend.as_str() {
        "kubernetes" => cameras::LeaseBackend::Kubernetes,
        _ => cameras::LeaseBackend::Database,
    };
    let leases = cameras::lease_store(backend, config.kubernetes_namespace.as_deref(), registry)
        .await
        .map_err(|error| format!("camera leases: {error}"))?;
    let board = cameras::CameraBoard::default();
    let cameras = cameras::CameraManager {
        board: board.clone(),
        database: database.clone(),
        leases,
        gate: publisher::Gate::new(live.clone(), authorizer.clone(), "live"),
        lease: Duration::from_millis(config.camera_lease_ms),
    };
    tokio::spawn(cameras.run(shutdown.clone()));
    Ok(board)
}

pub(crate) fn retention_config(config: &Config) -> cluster::RetentionConfig {
    cluster::RetentionConfig {
        default_window: Duration::from_secs(config.dvr_window_secs),
        delete_objects: config.retention_delete_objects,
        ..cluster::RetentionConfig::default()
    }
}

pub(crate) fn segment_index(registry: &ClusterRegistry, config: &Config) -> Arc<dyn origin::SegmentIndex> {
    Arc::new(origin::RegistryIndex::new(registry.clone(), Duration::from_secs(config.dvr_window_secs)))
}

pub async fn connect_database(config: &Config) -> Result<catalog::Database, String> {
    let url = match &config.database_url {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|error| format!("cannot create {}: {error}", config.data_dir.display()))?;
            format!("sqlite://{}?mode=rwc", config.data_dir.join("relay.db").display())
        }
    };
    catalog::Database::connect(&url).await.map_err(|error| format!("database: {error}"))
}

/// The control plane over `database`, feeding `access`.
pub(crate) async fn catalog(
    database: &catalog::Database,
    _config: &Config,
) -> Result<(catalog::Catalog, Arc<origin::AccessControl>), String> {
    let options = catalog::CatalogOptions::default();
    let loaded = database
        .access_config(options.default_policy.clone(), options.client_ip.clone())
        .await
        .map_err(|error| format!("access policies: {error}"))?;
    let access = Arc::new(origin::AccessControl::new(loaded));
    Ok((catalog::Catalog::with_access_control(database.clone(), options, access.clone()), access))
}

pub(crate) fn api_options(config: &Config) -> api::ApiOptions {
    api::ApiOptions { secure_cookies: config.secure_cookies }
}

/// /readyz: the pod should get traffic (the database answers and it is
/// not draining). /healthz (the process runs) comes with the origin router.
fn readiness(pool: AnyPool, draining: Arc<AtomicBool>) -> Router {
    Router::new().route(
        "/readyz",
        get(move || {
            let pool = pool.clone();
            let draining = draining.clone();
            async move {
                if draining.load(Ordering::SeqCst) {
                    return (StatusCode::SERVICE_UNAVAILABLE, "draining");
                }
                match sqlx::query("SELECT 1").execute(&pool).await {
                    Ok(_) => (StatusCode::OK, "ready"),
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
                }
            }
        }),
    )
}

fn pod_name(config: &Config) -> String {
    config.pod_name.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "relay".into());
        format!("{host}-{}", std::process::id())
    })
}

async fn bind(address: std::net::SocketAddr, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(address).await.map_err(|error| format!("cannot listen on {address} for {what}: {error}"))
}

pub async fn run_ingest(config: Config) -> Result<(), String> {
    let database = connect_database(&config).await?;
    let pool = database.db().pool().clone();
    let (catalog, _) = catalog(&database, &config).await?;
    let store = open_store(&config).await?;
    let writer = StorageWriter::spawn(store.clone(), writer_config(&config))
        .map_err(|error| format!("storage spool: {error}"))?;
    let rtmp_listener = bind(config.rtmp_listen, "RTMP").await?;
    let internal_listener = bind(config.internal_listen, "the internal endpoint").await?;
    let internal = internal_listener.local_addr().map_err(|error| error.to_string())?;
    let address = config
        .advertise_address
        .clone()
        .unwrap_or_else(|| format!("{}:{}", display_host(internal.ip()), internal.port()));
    let cluster_config = ClusterConfig {
        pod: pod_name(&config),
        address: address.clone(),
        history_segments: config.playlist_window_segments,
        ..ClusterConfig::default()
    };
    let registry = ClusterRegistry::new(pool.clone(), cluster_config.clone());
    registry.spawn_sweeper(store.clone(), retention_config(&config));
    let index = segment_index(&registry, &config);
    let fenced = FencedWriter::spawn(registry.clone(), writer.clone());
    let live = Registry::with_listener(live_config(&config), fenced.clone());
    fenced.attach(&live);
    live.spawn_housekeeping();

    let draining = Arc::new(AtomicBool::new(false));
    let (shutdown_sender, shutdown) = watch::channel(false);
    let authorizer: Arc<dyn publisher::StreamAuthorizer> = Arc::new(ClusterAuthorizer {
        catalog,
        registry: registry.clone(),
        writer: fenced.clone(),
        probe: cluster::publisher_probe(),
    });
    let ingest_task = tokio::spawn(rtmp::run(
        rtmp_listener,
        live.clone(),
        authorizer.clone(),
        rtmp_config(&config),
        shutdown.clone(),
    ));
    let cameras = spawn_cameras_and_rtsp(&config, &database, &registry, &live, &authorizer, &shutdown).await?;
    let status: Arc<dyn catalog::StreamStatusSource> = Arc::new(cameras::LocalStatus { live: live.clone(), cameras });
    let edge = Arc::new(Origin {
        registry: live,
        storage: store,
        default_hold: Duration::from_millis(3 * u64::from(config.segment_target_ms)),
        access: Arc::new(origin::AccessControl::public()),
        upstream: None,
        index: Some(index),
        play_hook: None,
        // The origin pods in front record viewer demand.
        demand: None,
    });
    let (http_stop, http_stopped) = watch::channel(false);
    let metrics = crate::metrics::MetricSources {
        writer: Some(writer.clone()),
        live: Some(edge.registry.clone()),
        upstream: None,
    };
    let router = origin::router(edge.clone())
        .merge(origin::internal_router(edge, status))
        .merge(readiness(pool, draining.clone()))
        .merge(crate::metrics::router(metrics));
    let http_task = tokio::spawn(origin::serve_router(internal_listener, router, async move {
        let mut stopped = http_stopped;
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    tracing::info!(pod = %cluster_config.pod, rtmp = %config.rtmp_listen, %internal, %address, "ingest pod running");

    wait_for_signal().await;
    // Drain: no new publishers, current ones told to reconnect elsewhere,
    // then every completed segment reaches the registry and storage.
    tracing::info!("draining: asking publishers to reconnect elsewhere, finishing uploads");
    draining.store(true, Ordering::SeqCst);
    let _ = shutdown_sender.send(true);
    let drain = Duration::from_millis(config.drain_timeout_ms);
    let started = tokio::time::Instant::now();
    let _ = tokio::time::timeout(drain, ingest_task).await;
    if !fenced.flush(drain.saturating_sub(started.elapsed())).await {
        tracing::warn!("drain timed out before the registry caught up");
    }
    if !writer.flush(drain.saturating_sub(started.elapsed())).await {
        tracing::warn!(pending = ?writer.stats(), "drain timed out with uploads pending; the spool keeps them");
    }
    let _ = http_stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), http_task).await;
    tracing::info!("drained");
    Ok(())
}

pub async fn run_origin(config: Config) -> Result<(), String> {
    let database = connect_database(&config).await?;
    let pool = database.db().pool().clone();
    let (catalog, access) = catalog(&database, &config).await?;
    // Policies and keys change through the api service; pick them up.
    catalog.spawn_access_refresh(Duration::from_secs(5));
    let store = open_store(&config).await?;
    let registry =
        ClusterRegistry::new(pool.clone(), ClusterConfig { pod: pod_name(&config), ..ClusterConfig::default() });
    let hold = Duration::from_millis(3 * u64::from(config.segment_target_ms));
    let index = segment_index(&registry, &config);
    let upstream = Arc::new(Upstream::new(
        Arc::new(origin::RegistryDirectory::new(registry)),
        config.origin_cache_bytes,
        hold + Duration::from_secs(2),
    ));
    let origin = Arc::new(Origin {
        // Origin pods hold no live edge of their own.
        registry: Registry::new(live_config(&config), None),
        storage: store,
        default_hold: hold,
        access,
        upstream: Some(upstream.clone()),
        index: Some(index),
        play_hook: Some(Arc::new(origin::OnPlayWebhooks::new(catalog.webhooks().clone()))),
        demand: Some(Arc::new(origin::DemandRecorder::new(database.clone()))),
    });
    let metrics = crate::metrics::MetricSources { upstream: Some(upstream), ..Default::default() };
    let listener = bind(config.http_listen, "HTTP").await?;
    let draining = Arc::new(AtomicBool::new(false));
    let router = origin::router(origin).merge(readiness(pool, draining.clone())).merge(crate::metrics::router(metrics));
    tracing::info!(http = %config.http_listen, "origin pod running");
    let serve = origin::serve_router(listener, router, async move {
        wait_for_signal().await;
        draining.store(true, Ordering::SeqCst);
        tracing::info!("draining: finishing requests in flight");
    });
    serve.await.map_err(|error| error.to_string())
}

pub async fn run_api(config: Config) -> Result<(), String> {
    let database = connect_database(&config).await?;
    let pool = database.db().pool().clone();
    let (catalog, _) = catalog(&database, &config).await?;
    let registry =
        ClusterRegistry::new(pool.clone(), ClusterConfig { pod: pod_name(&config), ..ClusterConfig::default() });
    catalog.set_status_source(Arc::new(cluster::RemoteStatus::new(registry)));
    if let Some((user, password)) = catalog.ensure_admin("admin").await.map_err(|error| error.to_string())? {
        println!("Console login: {} / {password} (shown once; change it)", user.username);
    }
    let listener = bind(config.http_listen, "HTTP").await?;
    let draining = Arc::new(AtomicBool::new(false));
    let api = api::ApiState::new(catalog, api_options(&config));
    let router = readiness(pool, draining.clone()).route("/healthz", get(|| async { "ok" })).merge(api::router(api));
    tracing::info!(http = %config.http_listen, "api service running");
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            wait_for_signal().await;
            draining.store(true, Ordering::SeqCst);
        })
        .await
        .map_err(|error| error.to_string())
}
