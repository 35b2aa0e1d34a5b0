//! The publisher authorizer of an ingest pod: stream keys and on_publish
//! webhooks through the catalog, the stream claimed in the registry, and
//! the claim's epoch handed to the fenced writer.

use std::net::SocketAddr;
use std::sync::Arc;

use catalog::{Catalog, StreamKind, WebhookEvent};
use publisher::{AuthFuture, ClaimFuture, ClaimRefused, KeyFuture, StreamAuthorizer, Unavailable};

use crate::{ClusterError, ClusterRegistry, FencedWriter, PublisherProbe};

/// Checks stream keys (and on_publish webhooks) through the catalog and
/// claims streams for this pod.
pub struct ClusterAuthorizer {
    pub catalog: Catalog,
    pub registry: ClusterRegistry,
    pub writer: Arc<FencedWriter>,
    pub probe: Arc<PublisherProbe>,
}

impl StreamAuthorizer for ClusterAuthorizer {
    fn authorize<'a>(&'a self, _app: &'a str, stream_key: &'a str, peer: SocketAddr) -> AuthFuture<'a> {
        Box::pin(async move {
            match self.catalog.authorize_publish(stream_key, peer.ip()).await {
                Ok(stream) => Ok(stream.map(|stream| stream.name)),
                Err(error) => Err(Unavailable::new(error)),
            }
        })
    }

    fn stream_key_for<'a>(&'a self, stream: &'a str) -> KeyFuture<'a> {
        Box::pin(async move {
            match self.catalog.database().stream_by_name(stream).await {
                Ok(record) => {
                    Ok(record.filter(|record| record.kind == StreamKind::Push).map(|record| record.stream_key))
                }
                Err(error) => Err(Unavailable::new(error)),
            }
        })
    }

    fn claim<'a>(&'a self, stream: &'a str) -> ClaimFuture<'a> {
        Box::pin(async move {
            match self.registry.claim(stream, self.probe.as_ref()).await {
                Ok(claim) => {
                    self.writer.set_epoch(stream, claim.epoch);
                    Ok(Some(claim.resume))
                }
                Err(ClusterError::Busy(_)) => Err(ClaimRefused::Busy),
                Err(error) => Err(ClaimRefused::Unavailable(Unavailable::new(error))),
            }
        })
    }

    fn unpublished(&self, stream: &str, peer: SocketAddr) {
        self.catalog.webhooks().notify(WebhookEvent::OnUnpublish, stream, Some(peer.ip()));
    }
}
