//! The publisher authorizer of an ingest pod: stream keys and on_publish
//! webhooks through the catalog, the stream claimed in the registry, and
//! the claim's epoch handed to the fenced writer.

use std::net::SocketAddr;
use std::sync::Arc;

use catalog::{Catalog, WebhookEvent, RTSP_DIGEST_REALM, RTSP_DIGEST_USERNAME};
use publisher::{AuthFuture, ClaimFuture, ClaimRefused, DigestFuture, DigestSecret, StreamAuthorizer, Unavailable};

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

    fn digest_secret_for<'a>(&'a self, stream: &'a str) -> DigestFuture<'a> {
        Box::pin(async move {
            match self.catalog.database().stream_digest_ha1(stream).await {
                Ok(ha1) => Ok(ha1.map(|ha1| DigestSecret {
                    username: RTSP_DIGEST_USERNAME.to_owned(),
                    realm: RTSP_DIGEST_REALM.to_owned(),
                    ha1,
                })),
                Err(error) => Err(Unavailable::new(error)),
            }
        })
    }

    fn authorize_proven<'a>(&'a self, _app: &'a str, stream: &'a str, peer: SocketAddr) -> AuthFuture<'a> {
        Box::pin(async move {
            match self.catalog.authorize_proven_publish(stream, peer.ip()).await {
                Ok(stream) => Ok(stream.map(|stream| stream.name)),
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
