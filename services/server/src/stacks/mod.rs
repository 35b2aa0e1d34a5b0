//! What roles are made of. Every role stands on one [`Foundation`] (its
//! configuration, the database and control plane, its pod name) and
//! composes stacks: [`ingest::IngestStack`] (publishers in, the live edge,
//! uploads), [`origin`] (viewers) and [`api`] (the management API).
//! `all` is the three in one process on one HTTP port.

pub mod api;
pub mod ingest;
pub mod origin;
mod sealing;

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use access::AccessControl;
use catalog::{Catalog, CatalogOptions, Database};
use listener::{Limits, Listener, Proxies, TrustedProxies};
use live::LiveConfig;
use media::segmenter::SegmenterConfig;
use storage::{LocalDirStore, ObjectStore, S3Config, S3Store};

use crate::config::{non_empty, Config, ForwardedHeader, StorageKind};
use crate::error::ServerError;

/// What every stack of a process shares.
pub struct Foundation {
    pub config: Config,
    pub database: Database,
    pub catalog: Catalog,
    /// Playback policies and token keys, kept current by the catalog.
    pub access: Arc<AccessControl>,
    /// This pod's name in the cluster registry.
    pub pod: String,
    /// The one clock every stack reads: the system's.
    pub clock: clock::Clock,
    /// The HTTPS and RTMPS ports' certificate, when configured.
    pub tls: Option<crate::tls::Tls>,
}

impl Foundation {
    /// Opens the database (creating the SQLite file in the data directory
    /// when no URL is set) and the control plane over it. `pod` names the
    /// process when the configuration does not.
    pub async fn open(config: Config, pod: String) -> Result<Self, ServerError> {
        // A bad certificate stops the start before anything else happens.
        let tls = crate::tls::start(&config).await?;
        let database = open_database(&config).await?;
        // on_play sessions are signed with the newest key; make sure there is one.
        database.current_signing_key().await?;
        let options = CatalogOptions {
            login: config.auth.login_limits(),
            hashing: config.auth.hashing_limits(),
            max_token_ttl: config.auth.token_max_lifetime(),
            outbound: config.outbound.policy(),
            ..CatalogOptions::default()
        };
        let mut loaded = database.access_config(options.default_policy.clone()).await?;
        loaded.verifier.set_max_lifetime(config.auth.token_max_lifetime());
        let access = Arc::new(AccessControl::new(loaded));
        let catalog = Catalog::with_access_control(database.clone(), options, access.clone());
        let pod = non_empty(&config.cluster.pod_name).map_or(pod, str::to_owned);
        Ok(Self { config, database, catalog, access, pod, clock: clock::Clock::system(), tls })
    }

    /// A listener on `address` with `limits`, named `what` in logs and
    /// metrics, trusting the configured proxies; `proxy_protocol`: trusted
    /// peers begin with a PROXY protocol header.
    pub async fn bind(
        &self,
        address: SocketAddr,
        what: &'static str,
        limits: Limits,
        proxy_protocol: bool,
    ) -> Result<Listener, ServerError> {
        let socket =
            tokio::net::TcpListener::bind(address).await.map_err(|error| ServerError::Bind { address, what, error })?;
        crate::open_files::reserve(what, limits.max_connections);
        let proxies = Proxies { trusted: self.trusted_proxies(), proxy_protocol };
        Ok(Listener::new(what, socket, limits).with_proxies(proxies))
    }

    /// The one place the client address is decided: these proxies' word
    /// is believed, nobody else's.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        let proxy = &self.config.proxy;
        let header = match proxy.forwarded_header {
            ForwardedHeader::XForwardedFor => listener::ForwardedHeader::XForwardedFor,
            ForwardedHeader::Forwarded => listener::ForwardedHeader::Forwarded,
        };
        TrustedProxies::new(proxy.trusted_networks.clone(), header)
    }

    /// The public HTTP listener's limits.
    pub fn http_limits(&self) -> Limits {
        let http = &self.config.http;
        Limits {
            max_connections: http.max_connections,
            max_per_address: http.max_connections_per_address,
            max_waiting_per_address: http.max_waiting_per_address,
            useful_within: Some(self.header_timeout()),
            idle_timeout: Some(Duration::from_millis(http.idle_timeout_ms)),
            write_timeout: Some(Duration::from_millis(http.write_timeout_ms)),
        }
    }

    /// The secret pods present to the ingest pods' internal endpoint.
    pub fn internal_secret(&self) -> cluster::InternalSecret {
        cluster::InternalSecret::new(&self.config.cluster.internal_secret)
    }

    /// Cluster roles refuse to start without the internal secret unless
    /// the operator said the internal network is private
    /// (`cluster.internal_insecure`).
    pub fn require_internal_secret(&self) -> Result<(), ServerError> {
        let cluster = &self.config.cluster;
        if cluster.internal_secret.is_empty() && !cluster.internal_insecure {
            return Err(ServerError::NoInternalSecret);
        }
        if cluster.internal_secret.is_empty() {
            tracing::warn!(
                "cluster.internal_insecure: the internal endpoint serves every stream to anyone who reaches it"
            );
        }
        Ok(())
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.config.http.header_timeout_ms)
    }

    /// Where completed segments and init segments go.
    pub async fn open_store(&self) -> Result<Arc<dyn ObjectStore>, ServerError> {
        let config = &self.config;
        if config.storage.kind == StorageKind::Local {
            return Ok(Arc::new(LocalDirStore::new(config.server.data_dir.join("objects"))));
        }
        let s3 = &config.s3;
        let mut settings = S3Config::new(s3.bucket.clone());
        settings.prefix = non_empty(&s3.prefix).map(str::to_owned);
        settings.region = non_empty(&s3.region).map(str::to_owned);
        settings.endpoint = non_empty(&s3.endpoint).map(str::to_owned);
        settings.force_path_style = s3.force_path_style;
        settings.access_key_id = non_empty(&s3.access_key_id).map(str::to_owned);
        settings.secret_access_key = non_empty(&s3.secret_access_key).map(str::to_owned);
        Ok(Arc::new(S3Store::connect(settings).await?))
    }

    pub fn live_config(&self) -> LiveConfig {
        let live = &self.config.live;
        LiveConfig {
            segmenter: SegmenterConfig {
                segment_target_ms: live.segment_target_ms,
                part_target_ms: live.part_target_ms,
                ..SegmenterConfig::default()
            },
            playlist_window_segments: live.playlist_window_segments,
            reconnect_grace: Duration::from_millis(live.reconnect_grace_ms),
            takeover_after: Duration::from_millis(live.takeover_after_ms),
            clock: self.clock.clone(),
            ..LiveConfig::default()
        }
    }

    /// How long a blocking playlist or part request is held: three segment
    /// targets.
    pub fn hold(&self) -> Duration {
        Duration::from_millis(3 * u64::from(self.config.live.segment_target_ms))
    }

    /// on_play through the catalog's webhooks, with this configuration's limits.
    pub fn on_play(&self) -> Arc<::origin::OnPlayWebhooks> {
        let playback = &self.config.playback;
        let config = ::origin::OnPlayConfig {
            session_ttl: Duration::from_secs(playback.on_play_session_secs),
            cache_entries: playback.on_play_cache_entries,
        };
        Arc::new(::origin::OnPlayWebhooks::with_config(self.catalog.webhooks().clone(), config))
    }

    pub fn dvr_window(&self) -> Duration {
        Duration::from_secs(self.config.dvr.window_secs)
    }
}

async fn open_database(config: &Config) -> Result<Database, ServerError> {
    let database = match non_empty(&config.database.url) {
        Some(url) => Database::connect(url).await?,
        None => {
            let directory = &config.server.data_dir;
            // Only this user reads what the data directory holds (the database keeps stream keys and secrets).
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(directory)
                .map_err(|error| ServerError::DataDir { path: directory.clone(), error })?;
            let url = format!("sqlite://{}?mode=rwc", directory.join("relay.db").display());
            Database::connect(&url).await?
        }
    };
    let database = database.with_sealer(sealing::sealer(config)?);
    let sealed = database.seal_plain_secrets().await?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed secrets that were in clear or under the previous sealing key");
    }
    let hashed = database.hash_plain_stream_keys().await?;
    if hashed > 0 {
        tracing::info!(hashed, "stream keys stored in clear were replaced by their hashes");
    }
    Ok(database)
}

impl Foundation {
    /// The registry's settings for this pod, registered at `address`.
    pub fn cluster_config(&self, address: String) -> cluster::ClusterConfig {
        cluster::ClusterConfig {
            pod: self.pod.clone(),
            address,
            history_segments: self.config.live.playlist_window_segments,
            clock: self.clock.clone(),
            ..cluster::ClusterConfig::default()
        }
    }

    /// The cluster registry as a pod without a live edge of its own sees it.
    pub fn registry(&self) -> cluster::ClusterRegistry {
        cluster::ClusterRegistry::new(self.database.db().pool().clone(), self.cluster_config(String::new()))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_created_data_directory_is_private() {
        let scratch = testkit::TempDir::new("data-dir-mode");
        let mut config = Config::default();
        config.server.data_dir = scratch.path().join("new").join("data");
        let database = open_database(&config).await.unwrap();
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&config.server.data_dir), 0o700);
        assert_eq!(mode(&config.server.data_dir.join("relay.db")), 0o600);
        database.db().close().await;
    }
}
