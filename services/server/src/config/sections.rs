//! The settings, by section. Each field's doc comment gives its default;
//! relay.toml.example says the same with one line of why.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::tls::TlsSection;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub proxy: ProxySection,
    pub http: HttpSection,
    pub tls: TlsSection,
    pub rtmp: RtmpSection,
    pub rtsp: RtspSection,
    pub live: LiveSection,
    pub storage: StorageSection,
    pub s3: S3Section,
    pub database: DatabaseSection,
    pub cluster: ClusterSection,
    pub cameras: CamerasSection,
    pub dvr: DvrSection,
    pub auth: AuthSection,
    pub admin: AdminSection,
    pub outbound: OutboundSection,
    pub playback: PlaybackSection,
}

/// Text or JSON log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// The SQLite database, local objects and the spool live here (data).
    pub data_dir: PathBuf,
    /// Host name printed in URLs; empty: this machine's first LAN address.
    pub public_host: String,
    /// On SIGTERM, how long publishers, requests and uploads may take to
    /// finish before the process exits, in ms (30000).
    pub drain_timeout_ms: u64,
    /// `text` or `json` (text).
    pub log_format: LogFormat,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            public_host: String::new(),
            drain_timeout_ms: 30_000,
            log_format: LogFormat::Text,
        }
    }
}

/// The header trusted HTTP proxies write the client address to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySection {
    /// Networks of the load balancers, CDNs and ingresses in front of the
    /// server; their word on the client address is believed (none).
    pub trusted_networks: Vec<access::IpNet>,
    /// `x-forwarded-for` or `forwarded` (RFC 7239): the header the trusted
    /// HTTP proxies append to (x-forwarded-for).
    pub forwarded_header: ForwardedHeader,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Playlists, media, the player, the API and the console (0.0.0.0:8080).
    pub listen: SocketAddr,
    /// Most connections open at once (16384).
    pub max_connections: usize,
    /// Most connections from one client address; 0 for no cap (0: viewers
    /// behind one NAT or CDN share addresses).
    pub max_connections_per_address: usize,
    /// Most connections from one client address with no request in
    /// flight; 0 for no cap (0: CDN edges and office NATs keep many idle
    /// keep-alive connections, and a full listener evicts from the
    /// address with the most anyway).
    pub max_waiting_per_address: usize,
    /// Each request's headers and body must arrive within this, in ms,
    /// from accept for the first request and from its first byte for the
    /// next ones (10000).
    pub header_timeout_ms: u64,
    /// A connection that moves no byte this long while no request is in
    /// flight is closed, in ms (60000).
    pub idle_timeout_ms: u64,
    /// A response that cannot be written for this long is abandoned, in ms
    /// (30000).
    pub write_timeout_ms: u64,
    /// Console session cookies always carry `Secure` (false: they carry it
    /// when a proxy says the client used HTTPS, so `make run` works on
    /// plain HTTP).
    pub secure_cookies: bool,
    /// Connections from proxy.trusted_networks begin with a PROXY protocol
    /// header (v1 or v2) naming the client (false).
    pub proxy_protocol: bool,
    /// One `access` log event per request: client, method, route class,
    /// path without tokens, status, bytes, duration (false: a busy origin
    /// answers thousands of part requests a second).
    pub access_log: bool,
    /// When set, viewer routes (playlists, media, the player page) answer
    /// only requests carrying it in `x-relay-origin-secret`, which the CDN
    /// adds, so the origin cannot be used around the CDN; at least 32
    /// printable characters, best from RELAY_HTTP_ORIGIN_SECRET (empty: off).
    pub origin_secret: String,
    /// HTTPS (HTTP/2 and HTTP/1.1) for the same routes, with the [tls]
    /// certificate, e.g. "0.0.0.0:8443" (empty: no HTTPS port).
    pub tls_listen: String,
    /// The plain port answers GET and HEAD with a permanent redirect to
    /// the HTTPS port, except /healthz and /readyz (false).
    pub redirect_to_https: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_connections: 16_384,
            max_connections_per_address: 0,
            max_waiting_per_address: 0,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            write_timeout_ms: 30_000,
            secure_cookies: false,
            proxy_protocol: false,
            access_log: false,
            origin_secret: String::new(),
            tls_listen: String::new(),
            redirect_to_https: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtmpSection {
    /// Where OBS and encoders publish (0.0.0.0:1935).
    pub listen: SocketAddr,
    /// The application in rtmp://host/APP (live).
    pub app: String,
    /// Most connections open at once (1000).
    pub max_connections: usize,
    /// Most connections from one client address; 0 for no cap (0).
    pub max_connections_per_address: usize,
    /// Most connections from one client address without an accepted
    /// publish; past it the address's oldest such connection is closed; 0
    /// for no cap (32).
    pub max_waiting_per_address: usize,
    /// A connection must have its publish accepted within this, in ms (10000).
    pub publish_within_ms: u64,
    /// A connection that sends nothing this long is dropped, in ms (10000).
    pub idle_timeout_ms: u64,
    /// Largest RTMP message accepted, in bytes (4194304).
    pub max_message_bytes: usize,
    /// Connections from proxy.trusted_networks begin with a PROXY protocol
    /// header (v1 or v2) naming the publisher (false).
    pub proxy_protocol: bool,
    /// Threads that run publisher connections, each an event loop of its
    /// own (1); 0 runs them on the main runtime.
    pub worker_threads: usize,
    /// RTMPS (RTMP over TLS) with the [tls] certificate, e.g.
    /// "0.0.0.0:1936" (empty: none).
    pub tls_listen: String,
}

impl Default for RtmpSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 1935)),
            app: "live".into(),
            max_connections: 1000,
            max_connections_per_address: 0,
            max_waiting_per_address: 32,
            publish_within_ms: 10_000,
            idle_timeout_ms: 10_000,
            max_message_bytes: 4 << 20,
            proxy_protocol: false,
            worker_threads: 1,
            tls_listen: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtspSection {
    /// Where encoders push with ANNOUNCE/RECORD: rtsp://host:8554/APP/KEY
    /// (0.0.0.0:8554).
    pub listen: SocketAddr,
    /// Most connections open at once (1000).
    pub max_connections: usize,
    /// Most connections from one client address; 0 for no cap (0).
    pub max_connections_per_address: usize,
    /// Most connections from one client address without an accepted
    /// ANNOUNCE; past it the address's oldest such connection is closed; 0
    /// for no cap (32).
    pub max_waiting_per_address: usize,
    /// A connection must have its ANNOUNCE accepted within this, in ms (10000).
    pub publish_within_ms: u64,
    /// A connection that sends nothing this long is dropped; over UDP, a
    /// session whose RTP stops this long ends, in ms (10000).
    pub idle_timeout_ms: u64,
    /// Connections from proxy.trusted_networks begin with a PROXY protocol
    /// header (v1 or v2) naming the publisher (false).
    pub proxy_protocol: bool,
}

impl Default for RtspSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8554)),
            max_connections: 1000,
            max_connections_per_address: 0,
            max_waiting_per_address: 32,
            publish_within_ms: 10_000,
            idle_timeout_ms: 10_000,
            proxy_protocol: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSection {
    /// Segment target duration, in ms (2000).
    pub segment_target_ms: u32,
    /// LL-HLS part target, in ms (200).
    pub part_target_ms: u32,
    /// Complete segments in the live playlist (10).
    pub playlist_window_segments: usize,
    /// A publisher reconnecting within this continues its playlist, in ms (10000).
    pub reconnect_grace_ms: u64,
    /// A publisher silent this long can be taken over by a new one, in ms (5000).
    pub takeover_after_ms: u64,
}

impl Default for LiveSection {
    fn default() -> Self {
        Self {
            segment_target_ms: 2000,
            part_target_ms: 200,
            playlist_window_segments: 10,
            reconnect_grace_ms: 10_000,
            takeover_after_ms: 5_000,
        }
    }
}

/// Where complete segments and init segments go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files under server.data_dir/objects.
    #[default]
    Local,
    /// The bucket of [s3].
    S3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// `local` (data_dir/objects) or `s3` (local).
    pub kind: StorageKind,
    /// Objects waiting for storage in memory before they spill to the spool (256).
    pub queue_objects: usize,
    /// Bytes waiting in memory for storage or the database (268435456).
    pub memory_bytes: u64,
    /// Objects storage cannot take right now wait here; empty: data_dir/spool.
    pub spool_dir: PathBuf,
    /// Most bytes the spool may hold (4294967296).
    pub spool_max_bytes: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            kind: StorageKind::Local,
            queue_objects: 256,
            memory_bytes: 256 << 20,
            spool_dir: PathBuf::new(),
            spool_max_bytes: 4 << 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Section {
    /// Bucket name; required when storage.kind = "s3".
    pub bucket: String,
    /// Key prefix inside the bucket; empty: none.
    pub prefix: String,
    /// Region; empty: the standard AWS chain, else us-east-1.
    pub region: String,
    /// Endpoint of an S3-compatible store (MinIO, Ceph, R2); empty: AWS.
    pub endpoint: String,
    /// Path-style addressing, which most self-hosted stores need (false).
    pub force_path_style: bool,
    /// Static credentials, both or neither; empty: the standard chain
    /// (environment, profile, web identity).
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `sqlite://…` or `postgres://…`; empty: SQLite at data_dir/relay.db.
    pub url: String,
    /// File holding the key (64 hex digits) that seals signing keys,
    /// webhook secrets and camera passwords in the database; empty: with
    /// the embedded SQLite, data_dir/sealing.key (made on first start);
    /// with a URL, none (secrets stay in clear, and the server warns).
    pub sealing_key_file: PathBuf,
    /// During a key rotation, the file of the key being retired: secrets
    /// sealed under it still open, and each start seals them again under
    /// sealing_key_file (see docs/security.md); empty: none.
    pub previous_sealing_key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// This pod's name in the cluster registry; empty: host name and process id.
    pub pod_name: String,
    /// Ingest pods: where origin pods fetch live parts and playlists (0.0.0.0:8081).
    pub internal_listen: SocketAddr,
    /// Ingest pods: host:port other pods use to reach internal_listen;
    /// empty: this host's first LAN address and internal_listen's port.
    pub advertise_address: String,
    /// Origin pods: bytes of recent parts and segments kept in memory (268435456).
    pub origin_cache_bytes: usize,
    /// The shared secret every pod sends to the ingest pods' internal
    /// endpoint, which refuses requests without it; at least 32
    /// characters. Cluster roles do not start without it unless
    /// internal_insecure is set (empty).
    pub internal_secret: String,
    /// Lets cluster roles run without internal_secret: anything that
    /// reaches the internal port reads every stream (false).
    pub internal_insecure: bool,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            pod_name: String::new(),
            internal_listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            advertise_address: String::new(),
            origin_cache_bytes: 256 << 20,
            internal_secret: String::new(),
            internal_insecure: false,
        }
    }
}

/// Shortest cluster.internal_secret accepted.
pub const MIN_INTERNAL_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CamerasSection {
    /// A camera pull moves to another ingest pod this long after its pod
    /// stops renewing the lease, in ms (6000).
    pub lease_ms: u64,
    /// Where camera leases live: `database` or `kubernetes` (database).
    pub lease_backend: cameras::LeaseBackend,
    /// Namespace of the camera Lease objects; empty: the pod's own.
    pub kubernetes_namespace: String,
}

impl Default for CamerasSection {
    fn default() -> Self {
        Self { lease_ms: 6000, lease_backend: cameras::LeaseBackend::Database, kubernetes_namespace: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DvrSection {
    /// How far back viewers can rewind a stream without its own window, in
    /// seconds (7200; at most 86400).
    pub window_secs: u64,
    /// The retention sweeper deletes expired segments from storage too
    /// (true); false when bucket lifecycle rules expire them.
    pub delete_expired_objects: bool,
}

impl Default for DvrSection {
    fn default() -> Self {
        Self { window_secs: 7200, delete_expired_objects: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Failed logins per account from one address within login_window_secs
    /// before that address is locked out of it; beyond this many failures
    /// an account's attempts are spaced out (5).
    pub login_max_failures: usize,
    /// Failed logins from one address, any account, within login_window_secs (50).
    pub login_address_max_failures: usize,
    /// How long a failed login counts, in seconds (300).
    pub login_window_secs: u64,
    /// Longest wait between attempts on a guessed account, in seconds (60).
    pub login_max_delay_secs: u64,
    /// Password hashes computed at once; each takes 19 MiB (4).
    pub password_hashes_at_once: usize,
    /// How long a login waits for a hashing turn before a 503, in ms (2000).
    pub password_hash_wait_ms: u64,
    /// Longest playback token lifetime (exp - iat) issued or accepted, in seconds (86400).
    pub token_max_lifetime_secs: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            login_max_failures: 5,
            login_address_max_failures: 50,
            login_window_secs: 300,
            login_max_delay_secs: 60,
            password_hashes_at_once: 4,
            password_hash_wait_ms: 2000,
            token_max_lifetime_secs: 86_400,
        }
    }
}

impl AuthSection {
    pub fn login_limits(&self) -> catalog::LoginLimits {
        catalog::LoginLimits {
            max_failures: self.login_max_failures,
            address_max_failures: self.login_address_max_failures,
            window: Duration::from_secs(self.login_window_secs),
            max_delay: Duration::from_secs(self.login_max_delay_secs),
        }
    }

    pub fn hashing_limits(&self) -> catalog::HashingLimits {
        catalog::HashingLimits {
            concurrent: self.password_hashes_at_once,
            wait: Duration::from_millis(self.password_hash_wait_ms),
        }
    }

    pub fn token_max_lifetime(&self) -> Duration {
        Duration::from_secs(self.token_max_lifetime_secs)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// /metrics, /healthz and /readyz for operators and monitoring, never
    /// on a public port (127.0.0.1:9464).
    pub listen: SocketAddr,
    /// Series labelled by stream name on /metrics (false): one per stream
    /// and series, so off unless the operator asks.
    pub per_stream_metrics: bool,
    /// Streams with per-stream series at most (100), the first by name;
    /// the others are counted in relay_stream_series_omitted_streams.
    pub per_stream_max_streams: usize,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            per_stream_metrics: false,
            per_stream_max_streams: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSection {
    /// Networks webhooks and cameras may be on although they are not
    /// public (loopback, link-local, private, shared...), as CIDRs such as
    /// "10.0.0.0/8"; in the environment, comma-separated (none).
    pub allow_networks: Vec<String>,
}

impl OutboundSection {
    /// The allowed networks; `validate` has refused any that does not parse.
    pub fn policy(&self) -> catalog::OutboundPolicy {
        catalog::OutboundPolicy::allowing(self.allow_networks.iter().filter_map(|network| network.parse().ok()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaybackSection {
    /// How long an on_play session token lasts before the viewer must load
    /// index.m3u8 again and on_play is asked again, in seconds (14400).
    pub on_play_session_secs: u64,
    /// on_play decisions remembered per (stream, viewer address) at most
    /// (10000); the least recently used are evicted first.
    pub on_play_cache_entries: usize,
}

impl Default for PlaybackSection {
    fn default() -> Self {
        Self { on_play_session_secs: 14_400, on_play_cache_entries: 10_000 }
    }
}

/// A value `validate` refused: the key and why.
pub type Refused = (&'static str, String);

pub(super) fn refuse<T>(key: &'static str, message: impl Into<String>) -> Result<T, Refused> {
    Err((key, message.into()))
}

/// `Some` unless empty.
pub fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

impl Config {
    /// Checks values against each other and their ranges.
    pub fn validate(&self) -> Result<(), Refused> {
        let live = &self.live;
        if !(50..=2000).contains(&live.part_target_ms) {
            return refuse("live.part_target_ms", "must be 50-2000");
        }
        if live.segment_target_ms < 2 * live.part_target_ms || live.segment_target_ms > 20_000 {
            return refuse("live.segment_target_ms", "must be at least 2 x part_target_ms and at most 20000");
        }
        if live.playlist_window_segments < 3 {
            return refuse("live.playlist_window_segments", "must be at least 3");
        }
        if !(1024..=64 << 20).contains(&self.rtmp.max_message_bytes) {
            return refuse("rtmp.max_message_bytes", "must be 1 KiB-64 MiB");
        }
        for (key, value) in [
            ("http.max_connections", self.http.max_connections),
            ("rtmp.max_connections", self.rtmp.max_connections),
            ("rtsp.max_connections", self.rtsp.max_connections),
        ] {
            if value == 0 {
                return refuse(key, "must be at least 1");
            }
        }
        for (key, value) in [
            ("http.header_timeout_ms", self.http.header_timeout_ms),
            ("http.idle_timeout_ms", self.http.idle_timeout_ms),
            ("http.write_timeout_ms", self.http.write_timeout_ms),
            ("rtmp.publish_within_ms", self.rtmp.publish_within_ms),
            ("rtmp.idle_timeout_ms", self.rtmp.idle_timeout_ms),
            ("rtsp.publish_within_ms", self.rtsp.publish_within_ms),
            ("rtsp.idle_timeout_ms", self.rtsp.idle_timeout_ms),
        ] {
            if !(100..=3_600_000).contains(&value) {
                return refuse(key, "must be 100-3600000 ms");
            }
        }
        if self.rtmp.app.is_empty() || self.rtmp.app.contains('/') {
            return refuse("rtmp.app", "must be one non-empty path segment");
        }
        if self.storage.kind == StorageKind::S3 && self.s3.bucket.is_empty() {
            return refuse("s3.bucket", "is required when storage.kind = \"s3\"");
        }
        if self.s3.access_key_id.is_empty() != self.s3.secret_access_key.is_empty() {
            return refuse("s3.access_key_id", "set both access_key_id and secret_access_key, or neither");
        }
        let url = &self.database.url;
        if !url.is_empty()
            && !url.starts_with("sqlite:")
            && !url.starts_with("postgres://")
            && !url.starts_with("postgresql://")
        {
            return refuse("database.url", "must start with sqlite: or postgres://");
        }
        if !(60..=86_400).contains(&self.dvr.window_secs) {
            return refuse("dvr.window_secs", "must be 60-86400");
        }
        if !(60..=86_400).contains(&self.playback.on_play_session_secs) {
            return refuse("playback.on_play_session_secs", "must be 60-86400");
        }
        if !(1..=10_000_000).contains(&self.playback.on_play_cache_entries) {
            return refuse("playback.on_play_cache_entries", "must be 1-10000000");
        }
        if !(1000..=60_000).contains(&self.cameras.lease_ms) {
            return refuse("cameras.lease_ms", "must be 1000-60000");
        }
        let namespace = &self.cameras.kubernetes_namespace;
        if !namespace.is_empty() {
            let label = namespace.len() <= 63
                && namespace.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
                && !namespace.starts_with('-')
                && !namespace.ends_with('-');
            if !label {
                return refuse(
                    "cameras.kubernetes_namespace",
                    "must be a namespace name (lowercase letters, digits, '-')",
                );
            }
        }
        if self.cluster.origin_cache_bytes < 1 << 20 {
            return refuse("cluster.origin_cache_bytes", "must be at least 1 MiB");
        }
        for network in &self.outbound.allow_networks {
            if network.parse::<catalog::outbound::IpNet>().is_err() {
                return refuse("outbound.allow_networks", format!("{network:?} is not a network such as 10.0.0.0/8"));
            }
        }
        let origin_secret = &self.http.origin_secret;
        if !origin_secret.is_empty()
            && (origin_secret.len() < MIN_INTERNAL_SECRET_LEN
                || !origin_secret.bytes().all(|byte| byte.is_ascii_graphic()))
        {
            return refuse(
                "http.origin_secret",
                format!("must be at least {MIN_INTERNAL_SECRET_LEN} printable ASCII characters"),
            );
        }
        let secret = &self.cluster.internal_secret;
        if !secret.is_empty()
            && (secret.len() < MIN_INTERNAL_SECRET_LEN || !secret.bytes().all(|byte| byte.is_ascii_graphic()))
        {
            return refuse(
                "cluster.internal_secret",
                format!("must be at least {MIN_INTERNAL_SECRET_LEN} printable ASCII characters"),
            );
        }
        if !(1000..=3_600_000).contains(&self.server.drain_timeout_ms) {
            return refuse("server.drain_timeout_ms", "must be 1000-3600000");
        }
        for (key, value) in [("http.tls_listen", &self.http.tls_listen), ("rtmp.tls_listen", &self.rtmp.tls_listen)] {
            if !value.is_empty() && value.parse::<SocketAddr>().is_err() {
                return refuse(key, format!("{value:?} is not an address such as 0.0.0.0:8443"));
            }
            if !value.is_empty() && !self.tls.has_certificate() {
                return refuse(key, "needs tls.certificate_file and tls.private_key_file, or tls.acme_domains");
            }
        }
        self.tls.validate()?;
        if self.tls.has_certificate() && self.http.tls_listen.is_empty() && self.rtmp.tls_listen.is_empty() {
            return refuse(
                "tls.certificate_file",
                "a certificate needs a port: set http.tls_listen or rtmp.tls_listen",
            );
        }
        if !self.tls.acme_domains.is_empty() && self.http.tls_listen.is_empty() {
            return refuse("tls.acme_domains", "ACME validates on the HTTPS port: set http.tls_listen");
        }
        if self.http.redirect_to_https && self.http.tls_listen.is_empty() {
            return refuse("http.redirect_to_https", "needs http.tls_listen");
        }
        self.auth.validate()
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.server.drain_timeout_ms)
    }
}

impl AuthSection {
    fn validate(&self) -> Result<(), Refused> {
        for (key, value, range) in [
            ("auth.login_max_failures", self.login_max_failures as u64, 1..=1000),
            ("auth.login_address_max_failures", self.login_address_max_failures as u64, 1..=100_000),
            ("auth.login_window_secs", self.login_window_secs, 1..=86_400),
            ("auth.login_max_delay_secs", self.login_max_delay_secs, 1..=3600),
            ("auth.password_hashes_at_once", self.password_hashes_at_once as u64, 1..=256),
            ("auth.password_hash_wait_ms", self.password_hash_wait_ms, 0..=60_000),
            ("auth.token_max_lifetime_secs", self.token_max_lifetime_secs, 60..=31_536_000),
        ] {
            if !range.contains(&value) {
                return refuse(key, format!("must be {}-{}", range.start(), range.end()));
            }
        }
        Ok(())
    }
}
