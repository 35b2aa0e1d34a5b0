//! Pods asking each other over the ingest pods' internal endpoint: whether
//! a publisher still sends (before a takeover), and how a stream is doing
//! (for the api role). One HTTP client for all of it, and the shared
//! secret every request carries: the endpoint serves every stream, private
//! ones included, so it answers only pods that know the secret.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use catalog::{StatusFuture, StreamStatusSource};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::{ClusterRegistry, PublisherProbe};

/// The request header that carries the [`InternalSecret`].
pub const INTERNAL_SECRET_HEADER: &str = "x-relay-internal-secret";

/// The secret shared by the pods of one cluster (`cluster.internal_secret`).
/// Empty: the endpoint is open and requests carry none.
#[derive(Clone, Default)]
pub struct InternalSecret(Option<Arc<str>>);

impl std::fmt::Debug for InternalSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_some() { "InternalSecret(set)" } else { "InternalSecret(none)" })
    }
}

impl InternalSecret {
    pub fn new(secret: &str) -> Self {
        InternalSecret((!secret.is_empty()).then(|| Arc::from(secret)))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Whether a request presenting `presented` (the header's value) may
    /// in. Compared as SHA-256 digests in constant time, so neither the
    /// content nor the length of the secret leaks through timing.
    pub fn admits(&self, presented: Option<&[u8]>) -> bool {
        let Some(secret) = &self.0 else { return true };
        let Some(presented) = presented.and_then(|value| std::str::from_utf8(value).ok()) else { return false };
        catalog::constant_time_eq(catalog::sha256_hex(presented).as_bytes(), catalog::sha256_hex(secret).as_bytes())
    }

    /// A GET of `uri` carrying the secret.
    pub fn get(&self, uri: &str) -> Option<http::Request<Empty<Bytes>>> {
        let mut request = http::Request::get(uri);
        if let Some(secret) = &self.0 {
            request = request.header(INTERNAL_SECRET_HEADER, secret.as_ref());
        }
        request.body(Empty::new()).ok()
    }
}

/// The client pods use for each other's internal endpoints: HTTP/1,
/// Nagle off, connections kept for reuse.
pub fn internal_client(connect_timeout: Duration) -> Client<HttpConnector, Empty<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build(connector)
}

fn http_client() -> Client<HttpConnector, Empty<Bytes>> {
    internal_client(Duration::from_millis(300))
}

/// Asks the owner's internal endpoint whether its publisher still sends.
/// No answer within a second means the owner is gone.
pub fn publisher_probe(secret: InternalSecret) -> Arc<PublisherProbe> {
    let client = http_client();
    Arc::new(move |address: String, stream: String| {
        let client = client.clone();
        let request = secret.get(&format!("http://{address}/internal/v1/streams/{stream}/publisher"));
        Box::pin(async move {
            let Some(request) = request else { return false };
            let answer = tokio::time::timeout(Duration::from_secs(1), async {
                let response = client.request(request).await.ok()?;
                response.into_body().collect().await.ok().map(|body| body.to_bytes())
            })
            .await;
            matches!(answer, Ok(Some(body)) if body.as_ref() == b"active")
        })
    })
}

/// Stream status from the owning ingest pod's internal endpoint (api role).
pub struct RemoteStatus {
    registry: ClusterRegistry,
    client: Client<HttpConnector, Empty<Bytes>>,
    secret: InternalSecret,
}

impl RemoteStatus {
    pub fn new(registry: ClusterRegistry, secret: InternalSecret) -> Self {
        Self { registry, client: http_client(), secret }
    }
}

impl StreamStatusSource for RemoteStatus {
    fn status<'a>(&'a self, stream_name: &'a str) -> StatusFuture<'a> {
        Box::pin(async move {
            let Some(owner) = self.registry.owner(stream_name).await? else {
                return Ok(None);
            };
            let unknown = serde_json::json!({"state": "unknown", "reason": "the owning ingest pod did not answer"});
            let uri = format!("http://{}/internal/v1/streams/{stream_name}/status", owner.address);
            let Some(request) = self.secret.get(&uri) else {
                return Ok(Some(unknown));
            };
            let answer = tokio::time::timeout(Duration::from_secs(2), async {
                let response = self.client.request(request).await.ok()?;
                if !response.status().is_success() {
                    return None;
                }
                let body = response.into_body().collect().await.ok()?.to_bytes();
                serde_json::from_slice::<serde_json::Value>(&body).ok()
            })
            .await;
            Ok(Some(answer.ok().flatten().unwrap_or(unknown)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_admits_only_itself() {
        let secret = InternalSecret::new("a-secret-of-at-least-thirty-two-chars");
        assert!(secret.admits(Some(b"a-secret-of-at-least-thirty-two-chars")));
        assert!(!secret.admits(None));
        assert!(!secret.admits(Some(b"")));
        assert!(!secret.admits(Some(b"a-secret-of-at-least-thirty-two-char")));
        assert!(!secret.admits(Some(b"a-secret-of-at-least-thirty-two-chars ")));
        assert!(!secret.admits(Some(&[0xff, 0xfe])));
        let request = secret.get("http://127.0.0.1:1/x").unwrap();
        assert_eq!(request.headers()[INTERNAL_SECRET_HEADER], "a-secret-of-at-least-thirty-two-chars");

        let open = InternalSecret::new("");
        assert!(open.admits(None), "no secret configured: open (cluster.internal_insecure)");
        assert!(open.get("http://127.0.0.1:1/x").unwrap().headers().get(INTERNAL_SECRET_HEADER).is_none());
    }
}
