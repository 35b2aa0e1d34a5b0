//! How the control plane reaches publishers and stored objects when a
//! stream's identity changes: a key rotation or an operator drops the
//! publisher; a delete or a rename retires the old name at once. In `all`
//! the live edge is in-process; in a cluster the owning ingest pod learns
//! through the registry in the database.

use std::future::Future;
use std::pin::Pin;

/// Why the data plane could not be told (the database did not answer).
pub type ControlError = Box<dyn std::error::Error + Send + Sync>;

pub type ControlFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ControlError>> + Send + 'a>>;

pub trait PublisherControl: Send + Sync + 'static {
    /// Drops the publisher of `stream_name` now. It may come back with a
    /// key that is still valid.
    fn disconnect<'a>(&'a self, stream_name: &'a str) -> ControlFuture<'a>;

    /// `stream_name` names no stream any more (deleted, or renamed away):
    /// its publisher is dropped, requests held on it are answered, its
    /// recording leaves the index and its objects are purged in the
    /// background.
    fn retire<'a>(&'a self, stream_name: &'a str) -> ControlFuture<'a>;
}
