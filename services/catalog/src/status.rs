//! Where the API learns how a stream is doing: the pod that holds its live
//! edge (in-process in `all`, over the internal endpoint in a cluster).

use std::future::Future;
use std::pin::Pin;

/// Why a status could not be learned (the owning pod did not answer).
pub type StatusError = Box<dyn std::error::Error + Send + Sync>;

pub type StatusFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<serde_json::Value>, StatusError>> + Send + 'a>>;

/// The live status of a stream by name, `None` when no pod holds it.
pub trait StreamStatusSource: Send + Sync + 'static {
    fn status<'a>(&'a self, stream_name: &'a str) -> StatusFuture<'a>;
}
