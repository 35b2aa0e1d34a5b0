//! Server configuration: defaults, then a TOML file, then RELAY_* environment
//! variables, then command-line flags, then `validate()`. Unknown keys are
//! errors, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// RTMP listen address (0.0.0.0:1935).
    pub rtmp_listen: SocketAddr,
    /// HTTP listen address for playlists, media and the player (0.0.0.0:8080).
    pub http_listen: SocketAddr,
    /// SQLite database and local object storage live here (./data).
    pub data_dir: PathBuf,
    /// Host name printed in URLs; the first LAN address when unset.
    pub public_host: Option<String>,
    /// Segment target duration in ms (2000).
    pub segment_target_ms: u32,
    /// LL-HLS part target in ms (200).
    pub part_target_ms: u32,
    /// Complete segments in the live playlist (10).
    pub playlist_window_segments: usize,
    /// A publisher reconnecting within this continues its playlist (10000).
    pub reconnect_grace_ms: u64,
    /// A publisher silent this long can be taken over by a new one (5000).
    pub takeover_after_ms: u64,
    /// A connection that sends nothing this long is dropped (10000).
    pub publisher_idle_timeout_ms: u64,
    /// Most concurrent RTMP connections (1000).
    pub max_rtmp_connections: usize,
    /// Largest RTMP message accepted, in bytes (4194304).
    pub max_rtmp_message_bytes: usize,
    /// Objects waiting for storage in memory before they spill to the spool (256).
    pub storage_queue: usize,
    /// Where complete segments and init segments go: `local` (data_dir/objects) or `s3` (local).
    pub storage: String,
    /// S3 bucket; required when storage = "s3".
    pub s3_bucket: Option<String>,
    /// Key prefix inside the bucket (none).
    pub s3_prefix: Option<String>,
    /// Region (none: the standard AWS region chain, else us-east-1).
    pub s3_region: Option<String>,
    /// Endpoint of an S3-compatible store such as MinIO, Ceph or R2 (none: AWS).
    pub s3_endpoint: Option<String>,
    /// Path-style addressing, which most self-hosted stores need (false).
    pub s3_force_path_style: bool,
    /// Static credentials (none: the standard chain: environment, profile, web identity).
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// Objects storage cannot take right now wait here (data_dir/spool).
    pub spool_dir: Option<PathBuf>,
    /// Most bytes the spool may hold (4294967296).
    pub spool_max_bytes: u64,
    /// `text` or `json` log lines on stderr (text).
    pub log_format: String,
    /// Database of streams, keys and the cluster registry: `sqlite://…` or
    /// `postgres://…` (none: SQLite at data_dir/relay.db).
    pub database_url: Option<String>,
    /// Ingest pods: where origin pods fetch live parts and playlists (0.0.0.0:8081).
    pub internal_listen: SocketAddr,
    /// Ingest pods: host:port other pods use to reach internal_listen (none:
    /// this host's first LAN address and internal_listen's port).
    pub advertise_address: Option<String>,
    /// This pod's name in the cluster registry (none: host name and process id).
    pub pod_name: Option<String>,
    /// Origin pods: bytes of recent parts and segments kept in memory (268435456).
    pub origin_cache_bytes: usize,
    /// Ingest pods: how long SIGTERM waits for uploads before exiting (30000).
    pub drain_timeout_ms: u64,
    /// How far back viewers can rewind a stream without its own window, in
    /// seconds (7200; at most 86400).
    pub dvr_window_secs: u64,
    /// The retention sweeper deletes expired segments from storage too
    /// (true); false when bucket lifecycle rules expire them.
    pub retention_delete_objects: bool,
    /// Console session cookies carry `Secure`: set when the API is served
    /// over HTTPS (false, so `make run` works on plain HTTP).
    pub secure_cookies: bool,
    /// RTSP listen address for encoders pushing with ANNOUNCE/RECORD, stream
    /// key in the path: rtsp://host:8554/live/KEY (0.0.0.0:8554).
    pub rtsp_listen: SocketAddr,
    /// A camera pull moves to another ingest pod this long after its pod
    /// stops renewing the lease, in ms (6000).
    pub camera_lease_ms: u64,
    /// Where camera leases live: `database` (anywhere) or `kubernetes`
    /// (coordination.k8s.io Lease objects; the pod needs RBAC on leases)
    /// (database).
    pub camera_lease_backend: String,
    /// Namespace of the camera Lease objects (none: the pod's own, from its
    /// service account, else the kubeconfig context's, else `default`).
    pub kubernetes_namespace: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rtmp_listen: SocketAddr::from(([0, 0, 0, 0], 1935)),
            http_listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            data_dir: PathBuf::from("data"),
            public_host: None,
            segment_target_ms: 2000,
            part_target_ms: 200,
            playlist_window_segments: 10,
            reconnect_grace_ms: 10_000,
            takeover_after_ms: 5_000,
            publisher_idle_timeout_ms: 10_000,
            max_rtmp_connections: 1000,
            max_rtmp_message_bytes: 4 << 20,
            storage_queue: 256,
            storage: "local".into(),
            s3_bucket: None,
            s3_prefix: None,
            s3_region: None,
            s3_endpoint: None,
            s3_force_path_style: false,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            spool_dir: None,
            spool_max_bytes: 4 << 30,
            log_format: "text".into(),
            database_url: None,
            internal_listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            advertise_address: None,
            pod_name: None,
            origin_cache_bytes: 256 << 20,
            drain_timeout_ms: 30_000,
            dvr_window_secs: 7200,
            retention_delete_objects: true,
            secure_cookies: false,
            rtsp_listen: SocketAddr::from(([0, 0, 0, 0], 8554)),
            camera_lease_ms: 6000,
            camera_lease_backend: "database".into(),
            kubernetes_namespace: None,
        }
    }
}

impl Config {
    /// Defaults, overlaid with `file` (if any) and RELAY_* variables.
    pub fn load(file: Option<&Path>, environment: impl Iterator<Item = (String, String)>) -> Result<Self, String> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                text.parse::<toml::Table>().map_err(|error| format!("{}: {error}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in environment {
            if let Some(key) = name.strip_prefix("RELAY_") {
                let value = match value.as_str() {
                    "true" => toml::Value::Boolean(true),
                    "false" => toml::Value::Boolean(false),
                    _ => value.parse::<i64>().map(toml::Value::Integer).unwrap_or(toml::Value::String(value)),
                };
                table.insert(key.to_ascii_lowercase(), value);
            }
        }
        Config::deserialize(table).map_err(|error| format!("configuration: {error}"))
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(50..=2000).contains(&self.part_target_ms) {
            return Err("part_target_ms must be 50-2000".into());
        }
        if self.segment_target_ms < 2 * self.part_target_ms || self.segment_target_ms > 20_000 {
            return Err("segment_target_ms must be at least 2 x part_target_ms and at most 20000".into());
        }
        if self.playlist_window_segments < 3 {
            return Err("playlist_window_segments must be at least 3".into());
        }
        if !(1024..=64 << 20).contains(&self.max_rtmp_message_bytes) {
            return Err("max_rtmp_message_bytes must be 1 KiB-64 MiB".into());
        }
        match (self.storage.as_str(), &self.s3_bucket) {
            ("local", _) | ("s3", Some(_)) => {}
            ("s3", None) => return Err("storage = \"s3\" needs s3_bucket".into()),
            _ => return Err("storage must be local or s3".into()),
        }
        if self.s3_access_key_id.is_some() != self.s3_secret_access_key.is_some() {
            return Err("set both s3_access_key_id and s3_secret_access_key, or neither".into());
        }
        if let Some(url) = &self.database_url {
            if !url.starts_with("sqlite:") && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                return Err("database_url must start with sqlite: or postgres://".into());
            }
        }
        if !(60..=86_400).contains(&self.dvr_window_secs) {
            return Err("dvr_window_secs must be 60-86400".into());
        }
        if !(1000..=60_000).contains(&self.camera_lease_ms) {
            return Err("camera_lease_ms must be 1000-60000".into());
        }
        if self.camera_lease_backend != "database" && self.camera_lease_backend != "kubernetes" {
            return Err("camera_lease_backend must be database or kubernetes".into());
        }
        if let Some(namespace) = &self.kubernetes_namespace {
            let label = (1..=63).contains(&namespace.len())
                && namespace.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
                && !namespace.starts_with('-')
                && !namespace.ends_with('-');
            if !label {
                return Err("kubernetes_namespace must be a namespace name (lowercase letters, digits, '-')".into());
            }
        }
        if self.origin_cache_bytes < 1 << 20 {
            return Err("origin_cache_bytes must be at least 1 MiB".into());
        }
        if self.log_format != "text" && self.log_format != "json" {
            return Err("log_format must be text or json".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn environment_overrides_and_unknown_keys_fail() {
        let env = vec![
            ("RELAY_PART_TARGET_MS".to_string(), "300".to_string()),
            ("RELAY_HTTP_LISTEN".to_string(), "127.0.0.1:9000".to_string()),
            ("RELAY_S3_FORCE_PATH_STYLE".to_string(), "true".to_string()),
            ("HOME".to_string(), "/".to_string()),
        ];
        let config = Config::load(None, env.into_iter()).unwrap();
        assert_eq!(config.part_target_ms, 300);
        assert!(config.s3_force_path_style);
        assert_eq!(config.http_listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        let kubernetes = vec![
            ("RELAY_CAMERA_LEASE_BACKEND".to_string(), "kubernetes".to_string()),
            ("RELAY_KUBERNETES_NAMESPACE".to_string(), "video".to_string()),
        ];
        let config = Config::load(None, kubernetes.into_iter()).unwrap();
        assert_eq!(config.camera_lease_backend, "kubernetes");
        assert_eq!(config.kubernetes_namespace.as_deref(), Some("video"));
        assert!(config.validate().is_ok());
        let unknown = vec![("RELAY_PART_TARGET".to_string(), "300".to_string())];
        assert!(Config::load(None, unknown.into_iter()).unwrap_err().contains("unknown field"));
    }

    #[test]
    fn file_values_apply() {
        let path = std::env::temp_dir().join(format!("relay-config-{}.toml", std::process::id()));
        std::fs::write(&path, "segment_target_ms = 4000\nlog_format = \"json\"\n").unwrap();
        let config = Config::load(Some(&path), std::iter::empty()).unwrap();
        assert_eq!(config.segment_target_ms, 4000);
        assert_eq!(config.log_format, "json");
        std::fs::write(&path, "segment_target = 4000\n").unwrap();
        assert!(Config::load(Some(&path), std::iter::empty()).is_err());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn bad_values_are_rejected() {
        let config = Config { part_target_ms: 10, ..Config::default() };
        assert!(config.validate().is_err());
        let config = Config { segment_target_ms: 300, ..Config::default() };
        assert!(config.validate().is_err());
        let config = Config { storage: "s3".into(), ..Config::default() };
        assert!(config.validate().unwrap_err().contains("s3_bucket"));
        let config = Config { storage: "nfs".into(), ..Config::default() };
        assert!(config.validate().is_err());
        let config = Config { camera_lease_backend: "etcd".into(), ..Config::default() };
        assert!(config.validate().unwrap_err().contains("camera_lease_backend"));
        let config = Config { kubernetes_namespace: Some("Video_1".into()), ..Config::default() };
        assert!(config.validate().unwrap_err().contains("kubernetes_namespace"));
    }
}
