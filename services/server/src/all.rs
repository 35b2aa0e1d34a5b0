//! Wiring of the all-in-one role.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cluster::{ClusterAuthorizer, ClusterConfig, ClusterRegistry, FencedWriter};
use live::{LiveConfig, Registry, StorageWriter, WriterConfig};
use media::rtmp::RtmpLimits;
use media::segmenter::SegmenterConfig;
use origin::Origin;
use rtmp::RtmpConfig;
use storage::{LocalDirStore, ObjectStore, S3Config, S3Store};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;

pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run(config: Config) -> Result<(), String> {
    let database = crate::roles::connect_database(&config).await?;
    let first_stream = database.ensure_default_stream("main").await.map_err(|error| error.to_string())?;
    let (catalog, access) = crate::roles::catalog(&database, &config).await?;
    let admin = catalog.ensure_admin("admin").await.map_err(|error| error.to_string())?;
    let store = open_store(&config).await?;
    let writer = StorageWriter::spawn(store.clone(), writer_config(&config))
        .map_err(|error| format!("storage spool: {error}"))?;
    let pool = database.db().pool().clone();

    let rtmp_listener = TcpListener::bind(config.rtmp_listen)
        .await
        .map_err(|error| format!("cannot listen on {} for RTMP: {error}", config.rtmp_listen))?;
    let http_listener = TcpListener::bind(config.http_listen)
        .await
        .map_err(|error| format!("cannot listen on {} for HTTP: {error}", config.http_listen))?;
    let rtmp_address = rtmp_listener.local_addr().map_err(|error| error.to_string())?;
    let http_address = http_listener.local_addr().map_err(|error| error.to_string())?;

    // One pod of its own cluster: the same registry, epochs and segment
    // index as a cluster, on SQLite, so DVR and restarts work the same way.
    let cluster_config = ClusterConfig {
        pod: config.pod_name.clone().unwrap_or_else(|| format!("all-{}", std::process::id())),
        address: format!("127.0.0.1:{}", http_address.port()),
        history_segments: config.playlist_window_segments,
        ..ClusterConfig::default()
    };
    let cluster = ClusterRegistry::new(pool.clone(), cluster_config);
    cluster.spawn_sweeper(store.clone(), crate::roles::retention_config(&config));
    let index = crate::roles::segment_index(&cluster, &config);
    let fenced = FencedWriter::spawn(cluster.clone(), writer.clone());
    let registry = Registry::with_listener(live_config(&config), fenced.clone());
    fenced.attach(&registry);
    registry.spawn_housekeeping();

    let (shutdown_sender, shutdown) = watch::channel(false);
    let rtmp_config = rtmp_config(&config);
    let authorizer: Arc<dyn publisher::StreamAuthorizer> = Arc::new(ClusterAuthorizer {
        catalog: catalog.clone(),
        registry: cluster.clone(),
        writer: fenced.clone(),
        probe: cluster::publisher_probe(),
    });
    let ingest_task =
        tokio::spawn(rtmp::run(rtmp_listener, registry.clone(), authorizer.clone(), rtmp_config, shutdown.clone()));
    let cameras =
        crate::roles::spawn_cameras_and_rtsp(&config, &database, &cluster, &registry, &authorizer, &shutdown).await?;
    catalog.set_status_source(Arc::new(cameras::LocalStatus { live: registry.clone(), cameras }));

    let origin = Arc::new(Origin {
        registry: registry.clone(),
        storage: store,
        default_hold: Duration::from_millis(3 * u64::from(config.segment_target_ms)),
        access,
        upstream: None,
        index: Some(index),
        play_hook: Some(Arc::new(origin::OnPlayWebhooks::new(catalog.webhooks().clone()))),
        demand: Some(Arc::new(origin::DemandRecorder::new(database.clone()))),
    });
    let mut http_shutdown = shutdown.clone();
    let metrics =
        crate::metrics::MetricSources { writer: Some(writer.clone()), live: Some(registry.clone()), upstream: None };
    let api = api::ApiState::new(catalog, crate::roles::api_options(&config));
    let router = origin::router(origin).merge(api::router(api)).merge(crate::metrics::router(metrics));
    let http_task = tokio::spawn(origin::serve_router(http_listener, router, async move {
        let _ = http_shutdown.wait_for(|stop| *stop).await;
    }));

    if let Some((user, password)) = admin {
        println!("Console login: {} / {password} (shown once; change it)", user.username);
    }
    print_banner(&config, rtmp_address, http_address, &first_stream);
    tracing::info!(%rtmp_address, %http_address, "relay is running");

    wait_for_signal().await;
    tracing::info!("shutting down: asking publishers to reconnect, draining requests");
    let _ = shutdown_sender.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = ingest_task.await;
        let _ = http_task.await;
    })
    .await;
    let _ = fenced.flush(Duration::from_secs(5)).await;
    let _ = writer.flush(Duration::from_secs(5)).await;
    Ok(())
}

pub(crate) fn writer_config(config: &Config) -> WriterConfig {
    WriterConfig {
        memory_objects: config.storage_queue,
        spool_dir: Some(config.spool_dir.clone().unwrap_or_else(|| config.data_dir.join("spool"))),
        spool_max_bytes: config.spool_max_bytes,
        ..WriterConfig::default()
    }
}

pub(crate) fn live_config(config: &Config) -> LiveConfig {
    LiveConfig {
        segmenter: SegmenterConfig {
            segment_target_ms: config.segment_target_ms,
            part_target_ms: config.part_target_ms,
            ..SegmenterConfig::default()
        },
        playlist_window_segments: config.playlist_window_segments,
        reconnect_grace: Duration::from_millis(config.reconnect_grace_ms),
        takeover_after: Duration::from_millis(config.takeover_after_ms),
        ..LiveConfig::default()
    }
}

pub(crate) fn rtmp_config(config: &Config) -> RtmpConfig {
    RtmpConfig {
        limits: RtmpLimits { max_message_size: config.max_rtmp_message_bytes, ..RtmpLimits::default() },
        idle_timeout: Duration::from_millis(config.publisher_idle_timeout_ms),
        max_connections: config.max_rtmp_connections,
        ..RtmpConfig::default()
    }
}

pub(crate) async fn open_store(config: &Config) -> Result<Arc<dyn ObjectStore>, String> {
    if config.storage != "s3" {
        return Ok(Arc::new(LocalDirStore::new(config.data_dir.join("objects"))));
    }
    let mut s3 = S3Config::new(config.s3_bucket.clone().unwrap_or_default());
    s3.prefix = config.s3_prefix.clone();
    s3.region = config.s3_region.clone();
    s3.endpoint = config.s3_endpoint.clone();
    s3.force_path_style = config.s3_force_path_style;
    s3.access_key_id = config.s3_access_key_id.clone();
    s3.secret_access_key = config.s3_secret_access_key.clone();
    let store = S3Store::connect(s3).await.map_err(|error| format!("S3 storage: {error}"))?;
    Ok(Arc::new(store))
}

fn print_banner(config: &Config, rtmp: SocketAddr, http: SocketAddr, stream: &catalog::StreamRecord) {
    let host = |address: SocketAddr| config.public_host.clone().unwrap_or_else(|| display_host(address.ip()));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "OBS server URL: rtmp://{}:{}/live", host(rtmp), rtmp.port());
    let _ = writeln!(out, "Stream key: {}", stream.stream_key);
    let _ = writeln!(out, "Player link: http://{}:{}/player.html?stream={}", host(http), http.port(), stream.name);
    let _ = writeln!(out, "Playlist URL: http://{}:{}/live/{}/index.m3u8", host(http), http.port(), stream.name);
    let _ = out.flush();
}

/// A wildcard bind is shown as this machine's first LAN address, so the
/// printed links work from a phone on the same network.
pub(crate) fn display_host(ip: IpAddr) -> String {
    if !ip.is_unspecified() {
        return match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|interfaces| {
            interfaces.into_iter().find(|interface| !interface.is_loopback() && interface.ip().is_ipv4())
        })
        .map_or_else(|| "localhost".to_string(), |interface| interface.ip().to_string())
}

pub(crate) async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
