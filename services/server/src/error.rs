//! The one error type of the binary: what stops a role from starting.

use std::net::SocketAddr;

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address} for {what}: {error}")]
    Bind { address: SocketAddr, what: &'static str, error: std::io::Error },
    #[error("cannot create {path}: {error}")]
    DataDir { path: std::path::PathBuf, error: std::io::Error },
    #[error("sealing key {path}: {reason}")]
    SealingKey { path: std::path::PathBuf, reason: String },
    #[error("database: {0}")]
    Catalog(#[from] catalog::CatalogError),
    #[error("cluster registry: {0}")]
    Cluster(#[from] cluster::ClusterError),
    #[error("object storage: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("storage spool: {0}")]
    Spool(std::io::Error),
    #[error(
        "cluster.internal_secret is not set: cluster roles need the shared secret of the internal endpoint \
         (RELAY_CLUSTER_INTERNAL_SECRET, at least 32 characters, the same on every pod), or \
         cluster.internal_insecure = true on a network nothing else reaches"
    )]
    NoInternalSecret,
    #[error("no stream is named {0:?}")]
    UnknownStream(String),
    #[error("TLS: {0}")]
    Tls(listener::tls::TlsError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}
