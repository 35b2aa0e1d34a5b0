//! Authorize, claim, open: the one path from a stream key to frames on the
//! live edge, for every protocol.

use std::net::SocketAddr;
use std::sync::Arc;

use live::{LiveStream, PublishError, PublishSession, Registry};
use media::{MediaError, MediaFrame};

use crate::authorizer::{ClaimRefused, StreamAuthorizer, Unavailable};

/// Why a publisher was turned away. Each protocol maps these to its own
/// answer (an RTMP status code, an RTSP status).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("unknown application {0:?}")]
    UnknownApp(String),
    #[error("unknown stream key")]
    UnknownKey,
    #[error("the stream key cannot be checked now: {0}")]
    CannotCheck(Unavailable),
    #[error("the stream is live on another ingest pod")]
    LiveElsewhere,
    #[error("the stream cannot be claimed now: {0}")]
    CannotClaim(Unavailable),
    #[error("the stream is already being published")]
    AlreadyLive,
}

impl Refusal {
    /// The publisher may succeed by retrying later, unchanged.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Refusal::CannotCheck(_) | Refusal::CannotClaim(_))
    }

    /// What the publisher is told: never the cause of an internal failure.
    pub fn public_message(&self) -> &'static str {
        match self {
            Refusal::UnknownApp(_) => "Unknown application.",
            Refusal::UnknownKey => "Invalid stream key.",
            Refusal::CannotCheck(_) => "Cannot verify the stream key now; retry.",
            Refusal::CannotClaim(_) => "Cannot take the stream now; retry.",
            Refusal::LiveElsewhere | Refusal::AlreadyLive => "This stream is already being published.",
        }
    }
}

/// Where publishers of one protocol enter: the live edge, the authorizer
/// and the application name they must use.
#[derive(Clone)]
pub struct Gate {
    registry: Arc<Registry>,
    authorizer: Arc<dyn StreamAuthorizer>,
    app: String,
}

impl Gate {
    pub fn new(registry: Arc<Registry>, authorizer: Arc<dyn StreamAuthorizer>, app: impl Into<String>) -> Self {
        Self { registry, authorizer, app: app.into() }
    }

    /// A gate of one process without a cluster: it knows no stream keys and
    /// claims streams without asking anyone (camera pulls, tests).
    pub fn local(registry: Arc<Registry>) -> Self {
        Self::new(registry, Arc::new(NoKeys), "live")
    }

    pub fn authorizer(&self) -> &dyn StreamAuthorizer {
        self.authorizer.as_ref()
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The application publishers must name, as in rtmp://host/live.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The stream `stream_key` publishes to.
    pub async fn authorize(&self, app: &str, stream_key: &str, peer: SocketAddr) -> Result<String, Refusal> {
        if app != self.app {
            return Err(Refusal::UnknownApp(app.to_owned()));
        }
        decided(self.authorizer.authorize(app, stream_key, peer).await)
    }

    /// The stream a publisher that proved it knows `stream`'s key may
    /// publish to (see [`StreamAuthorizer::authorize_proven`]).
    pub async fn authorize_proven(&self, app: &str, stream: &str, peer: SocketAddr) -> Result<String, Refusal> {
        if app != self.app {
            return Err(Refusal::UnknownApp(app.to_owned()));
        }
        decided(self.authorizer.authorize_proven(app, stream, peer).await)
    }

    /// Claims `stream` for this pod (in a cluster: ownership with an
    /// epoch, and where another pod left off). `peer` is told to
    /// on_unpublish when the publication ends (none for pulls).
    pub async fn claim(&self, stream: &str, peer: Option<SocketAddr>) -> Result<Claim, Refusal> {
        let resume = match self.authorizer.claim(stream).await {
            Ok(resume) => resume,
            Err(ClaimRefused::Busy) => return Err(Refusal::LiveElsewhere),
            Err(ClaimRefused::Unavailable(cause)) => return Err(Refusal::CannotClaim(cause)),
        };
        Ok(Claim { gate: self.clone(), stream: stream.to_owned(), resume, peer })
    }

    /// [`Self::claim`], then [`Claim::open`].
    pub async fn open(&self, stream: &str, peer: Option<SocketAddr>) -> Result<Publication, Refusal> {
        self.claim(stream, peer).await?.open()
    }

    /// [`Self::authorize`], then [`Self::open`].
    pub async fn admit(&self, app: &str, stream_key: &str, peer: SocketAddr) -> Result<Publication, Refusal> {
        let stream = self.authorize(app, stream_key, peer).await?;
        self.open(&stream, Some(peer)).await
    }
}

/// A stream this pod may publish, not opened on the live edge yet (a
/// camera opens it once its first picture is decodable).
pub struct Claim {
    gate: Gate,
    stream: String,
    resume: Option<live::ResumePoint>,
    peer: Option<SocketAddr>,
}

impl Claim {
    /// Opens the stream on the live edge: a fresh playlist, or the
    /// continuation of the one this pod or another left.
    pub fn open(&self) -> Result<Publication, Refusal> {
        match self.gate.registry.begin_publish_resuming(&self.stream, self.resume.as_ref()) {
            Ok(session) => {
                Ok(Publication { session: Some(session), authorizer: self.gate.authorizer.clone(), peer: self.peer })
            }
            Err(PublishError::AlreadyLive(_)) => Err(Refusal::AlreadyLive),
        }
    }
}

/// A publisher's hold on a stream. Dropping it starts the stream's
/// reconnect grace period and tells on_unpublish.
pub struct Publication {
    session: Option<PublishSession>,
    authorizer: Arc<dyn StreamAuthorizer>,
    peer: Option<SocketAddr>,
}

impl Publication {
    pub fn stream(&self) -> Option<&Arc<LiveStream>> {
        self.session.as_ref().map(PublishSession::stream)
    }

    pub fn push(&mut self, frame: MediaFrame) -> Result<(), MediaError> {
        match self.session.as_mut() {
            Some(session) => session.push(frame),
            None => Ok(()),
        }
    }

    /// See [`media::segmenter::Segmenter::part_due`].
    pub fn part_due(&self) -> Option<media::segmenter::PartDue> {
        self.session.as_ref()?.part_due()
    }

    /// Resolves when a newer publisher took the stream over.
    pub async fn kicked(&self) {
        match &self.session {
            Some(session) => session.kicked().await,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else { return };
        let stream = session.stream().name.clone();
        drop(session);
        if let Some(peer) = self.peer {
            self.authorizer.unpublished(&stream, peer);
        }
    }
}

/// Resolves when `publication`'s stream was taken over; never without one.
pub async fn kicked(publication: &Option<Publication>) {
    match publication {
        Some(publication) => publication.kicked().await,
        None => std::future::pending().await,
    }
}

fn decided(decision: Result<Option<String>, Unavailable>) -> Result<String, Refusal> {
    match decision {
        Ok(Some(stream)) => Ok(stream),
        Ok(None) => Err(Refusal::UnknownKey),
        Err(cause) => Err(Refusal::CannotCheck(cause)),
    }
}

struct NoKeys;

impl StreamAuthorizer for NoKeys {
    fn authorize<'a>(&'a self, _app: &'a str, _key: &'a str, _peer: SocketAddr) -> crate::AuthFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}
