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
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}
