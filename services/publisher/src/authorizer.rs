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

/// `Ok(Some(secret))`, `Ok(None)` when the stream has no key.
pub type DigestFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<DigestSecret>, Unavailable>> + Send + 'a>>;

pub type ClaimFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<ResumePoint>, ClaimRefused>> + Send + 'a>>;

/// What proves a Digest login (RFC 7616) for one stream without its key:
/// HA1 = MD5(username ":" realm ":" key) as hex, and the username and realm
/// it was made for. `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestSecret {
    pub username: String,
    pub realm: String,
    pub ha1: String,
}

impl std::fmt::Debug for DigestSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestSecret").field("username", &self.username).field("realm", &self.realm).finish()
    }
}

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

    /// The Digest secret of the push stream named `stream`, for protocols
    /// that prove knowledge of the key without sending it (RTSP Digest).
    /// The default knows none, so such logins are refused.
    fn digest_secret_for<'a>(&'a self, _stream: &'a str) -> DigestFuture<'a> {
        Box::pin(async { Ok(None) })
    }

    /// Like [`Self::authorize`], for a publisher that proved it knows push
    /// stream `stream`'s key against [`Self::digest_secret_for`]: the
    /// checks that follow a key (webhooks) still apply. The default
    /// refuses.
    fn authorize_proven<'a>(&'a self, _app: &'a str, _stream: &'a str, _peer: SocketAddr) -> AuthFuture<'a> {
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
