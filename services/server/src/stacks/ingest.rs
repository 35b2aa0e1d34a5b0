//! The ingest stack: RTMP and RTSP publishers in, camera pulls, the live
//! edge, and the fenced path of completed segments to the registry and
//! object storage. Drained, it asks publishers to reconnect elsewhere and
//! finishes the writes it holds.

use std::sync::Arc;
use std::time::Duration;

use catalog::StreamStatusSource;
use cluster::{ClusterAuthorizer, ClusterRegistry, FencedWriter};
use listener::{Limits, ListenerStats, Shutdown};
use live::{Registry, StorageWriter, WriterConfig};
use origin::Origin;
use publisher::{Gate, StreamAuthorizer};
use storage::ObjectStore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Foundation;
use crate::config::{non_empty, optional_listen};
use crate::error::ServerError;

pub struct IngestStack {
    pub live: Arc<Registry>,
    pub store: Arc<dyn ObjectStore>,
    pub writer: StorageWriter,
    pub fenced: Arc<FencedWriter>,
    pub registry: ClusterRegistry,
    /// How each stream this pod holds is doing, cameras included.
    pub status: Arc<dyn StreamStatusSource>,
    /// (listener name, its counters) for /metrics.
    pub listeners: Vec<(&'static str, Arc<ListenerStats>)>,
    /// The camera pulls' states, for /metrics.
    pub cameras: cameras::CameraBoard,
    pub rtmp_address: std::net::SocketAddr,
    /// The RTMPS port, when `rtmp.tls_listen` is set.
    pub rtmps_address: Option<std::net::SocketAddr>,
    /// The RTMP and RTSP servers and the camera manager; they end when
    /// `shutdown` begins.
    tasks: Vec<JoinHandle<()>>,
}

impl IngestStack {
    /// Starts taking publishers and pulling cameras until `shutdown`
    /// begins. `advertise` is the host:port other pods reach this pod's
    /// live edge at.
    pub async fn start(
        foundation: &Foundation,
        advertise: String,
        shutdown: &Shutdown,
    ) -> Result<IngestStack, ServerError> {
        let config = &foundation.config;
        let store = foundation.open_store().await?;
        let writer = StorageWriter::spawn(store.clone(), writer_config(foundation)).map_err(ServerError::Spool)?;
        let registry =
            ClusterRegistry::new(foundation.database.db().pool().clone(), foundation.cluster_config(advertise));
        registry.spawn_sweeper(store.clone(), retention_config(foundation));
        let fenced = FencedWriter::spawn(registry.clone(), writer.clone());
        let live = Registry::with_listener(foundation.live_config(), fenced.clone());
        fenced.attach(&live);
        live.spawn_housekeeping();

        let authorizer: Arc<dyn StreamAuthorizer> = Arc::new(ClusterAuthorizer {
            catalog: foundation.catalog.clone(),
            registry: registry.clone(),
            writer: fenced.clone(),
            probe: cluster::publisher_probe(foundation.internal_secret()),
        });
        let gate = Gate::new(live.clone(), authorizer, config.rtmp.app.clone());
        let rtmp =
            foundation.bind(config.rtmp.listen, "rtmp", rtmp_limits(foundation), config.rtmp.proxy_protocol).await?;
        let rtsp =
            foundation.bind(config.rtsp.listen, "rtsp", rtsp_limits(foundation), config.rtsp.proxy_protocol).await?;
        let rtmp_address = rtmp.local_addr().map_err(|error| ServerError::Bind {
            address: config.rtmp.listen,
            what: "rtmp",
            error,
        })?;
        let listeners = vec![("rtmp", rtmp.stats()), ("rtsp", rtsp.stats())];
        let rtmp_config = rtmp::RtmpConfig {
            limits: media::rtmp::RtmpLimits {
                max_message_size: config.rtmp.max_message_bytes,
                ..media::rtmp::RtmpLimits::default()
            },
            worker_threads: config.rtmp.worker_threads,
        };
        let rtsp_config = rtsp::PushConfig {
            idle_timeout: Duration::from_millis(config.rtsp.idle_timeout_ms),
            ..rtsp::PushConfig::default()
        };
        let mut listeners = listeners;
        let mut tasks = Vec::new();
        let mut rtmps_address = None;
        if let (Some(address), Some(tls)) = (optional_listen(&config.rtmp.tls_listen), &foundation.tls) {
            let rtmps = foundation.bind(address, "rtmps", rtmp_limits(foundation), config.rtmp.proxy_protocol).await?;
            rtmps_address = rtmps.local_addr().ok();
            listeners.push(("rtmps", rtmps.stats()));
            let acceptor = tls.ports.stream().clone();
            tasks.push(tokio::spawn(rtmp::run_tls(
                rtmps,
                gate.clone(),
                rtmp_config.clone(),
                shutdown.clone(),
                acceptor,
            )));
        }
        tasks.push(tokio::spawn(rtmp::run(rtmp, gate.clone(), rtmp_config, shutdown.clone())));
        tasks.push(tokio::spawn(rtsp::run(rtsp, gate.clone(), rtsp_config, shutdown.clone())));

        let leases = cameras::lease_store(
            config.cameras.lease_backend,
            non_empty(&config.cameras.kubernetes_namespace),
            &registry,
        )
        .await?;
        let board = cameras::CameraBoard::default();
        let manager = cameras::CameraManager {
            board: board.clone(),
            database: foundation.database.clone(),
            leases,
            gate,
            lease: Duration::from_millis(config.cameras.lease_ms),
            outbound: foundation.catalog.outbound().clone(),
        };
        tasks.push(tokio::spawn(manager.run(shutdown.clone())));
        let status = Arc::new(cameras::LocalStatus { live: live.clone(), cameras: board.clone() });
        Ok(IngestStack {
            live,
            store,
            writer,
            fenced,
            registry,
            status,
            listeners,
            cameras: board,
            rtmp_address,
            rtmps_address,
            tasks,
        })
    }

    /// This pod's live edge as an origin serves it: its own parts and the
    /// stored segments, without viewer hooks (the origin in front of it,
    /// or `all`'s own origin, has them).
    pub fn edge_origin(&self, foundation: &Foundation) -> Arc<Origin> {
        Arc::new(Origin {
            registry: self.live.clone(),
            storage: self.store.clone(),
            default_hold: foundation.hold(),
            access: Arc::new(origin::AccessControl::public()),
            upstream: None,
            index: Some(self.index(foundation)),
            play_hook: None,
            demand: None,
        })
    }

    /// The stored-segment index behind dvr.m3u8.
    pub fn index(&self, foundation: &Foundation) -> Arc<dyn origin::SegmentIndex> {
        Arc::new(origin::RegistryIndex::new(self.registry.clone(), foundation.dvr_window()))
    }

    /// Waits (until `deadline`) for the publishers asked to leave when the
    /// shutdown began, then for every completed segment to reach the
    /// registry and the storage queue, then for uploads; what is left
    /// waits in the spool for the next start.
    pub async fn drain(self, deadline: Instant) {
        for task in self.tasks {
            let _ = tokio::time::timeout_at(deadline, task).await;
        }
        if !self.fenced.flush(deadline.saturating_duration_since(Instant::now())).await {
            tracing::warn!(stats = ?self.fenced.stats(), "drain deadline passed before the registry caught up");
        }
        if !self.writer.flush(deadline.saturating_duration_since(Instant::now())).await {
            tracing::warn!(pending = ?self.writer.stats(), "drain deadline passed with uploads pending; the spool keeps them");
        }
    }
}

fn writer_config(foundation: &Foundation) -> WriterConfig {
    let config = &foundation.config;
    let spool = if config.storage.spool_dir.as_os_str().is_empty() {
        config.server.data_dir.join("spool")
    } else {
        config.storage.spool_dir.clone()
    };
    WriterConfig {
        memory_objects: config.storage.queue_objects,
        memory_bytes: config.storage.memory_bytes,
        spool_dir: Some(spool),
        spool_max_bytes: config.storage.spool_max_bytes,
        ..WriterConfig::default()
    }
}

fn retention_config(foundation: &Foundation) -> cluster::RetentionConfig {
    cluster::RetentionConfig {
        default_window: foundation.dvr_window(),
        delete_objects: foundation.config.dvr.delete_expired_objects,
        ..cluster::RetentionConfig::default()
    }
}

fn rtmp_limits(foundation: &Foundation) -> Limits {
    let rtmp = &foundation.config.rtmp;
    Limits {
        max_connections: rtmp.max_connections,
        max_per_address: rtmp.max_connections_per_address,
        max_waiting_per_address: rtmp.max_waiting_per_address,
        useful_within: Some(Duration::from_millis(rtmp.publish_within_ms)),
        idle_timeout: Some(Duration::from_millis(rtmp.idle_timeout_ms)),
        write_timeout: Some(Duration::from_millis(rtmp.idle_timeout_ms)),
    }
}

fn rtsp_limits(foundation: &Foundation) -> Limits {
    let rtsp = &foundation.config.rtsp;
    Limits {
        max_connections: rtsp.max_connections,
        max_per_address: rtsp.max_connections_per_address,
        max_waiting_per_address: rtsp.max_waiting_per_address,
        useful_within: Some(Duration::from_millis(rtsp.publish_within_ms)),
        // Over UDP the control connection may rightly be silent; the
        // server watches its RTP instead.
        idle_timeout: None,
        write_timeout: Some(Duration::from_millis(rtsp.idle_timeout_ms)),
    }
}
