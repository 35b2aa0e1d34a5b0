//! The seam between publishers and the control plane: who may publish
//! under which key, and whether this pod may take the stream.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use live::ResumePoint;

/// A decision that could not be made now (the database or a webhook did
/// not answer); the publisher should retry.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(Box<dyn std::error::Error + Send + Sync>);

impl Unavailable {
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(cause.into())
    }
}

/// `Ok(Some(stream name))` to allow, `Ok(None)` for an unknown key.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, Unavailable>> + Send + 'a>>;

/// `Ok(Some(stream key))`, `Ok(None)` when the stream has no key.
pub type KeyFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, Unavailable>> + Send + 'a>>;

pub type ClaimFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<ResumePoint>, ClaimRefused>> + Send + 'a>>;

/// Why a cluster would not let this pod take a stream.
#[derive(Debug, thiserror::Error)]
pub enum ClaimRefused {
    /// Another pod's publisher is still sending.
    #[error("the stream is live on another ingest pod")]
    Busy,
    /// The registry could not be asked; the publisher should retry.
    #[error("the stream cannot be claimed now: {0}")]
    Unavailable(Unavailable),
}

/// Decides whether a stream key may publish, and to which stream.
pub trait StreamAuthorizer: Send + Sync + 'static {
    /// The stream `stream_key` publishes to under application `app`.
    fn authorize<'a>(&'a self, app: &'a str, stream_key: &'a str, peer: SocketAddr) -> AuthFuture<'a>;

    /// The key of the push stream named `stream`, for protocols that prove
    /// knowledge of the key without sending it (RTSP Digest). The caller
    /// still calls [`Self::authorize`] with the key once proven. The default
    /// knows no keys, so such logins are refused.
    fn stream_key_for<'a>(&'a self, _stream: &'a str) -> KeyFuture<'a> {
        Box::pin(async { Ok(None) })
    }

    /// Takes the stream for this pod before its first frame. A cluster
    /// claims ownership here and says where another pod left off.
    fn claim<'a>(&'a self, _stream: &'a str) -> ClaimFuture<'a> {
        Box::pin(async { Ok(None) })
    }

    /// The publisher of `stream` left (for on_unpublish webhooks). Must not
    /// block: spawn anything slow.
    fn unpublished(&self, _stream: &str, _peer: SocketAddr) {}
}
