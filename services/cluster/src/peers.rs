//! Pods asking each other over the ingest pods' internal endpoint: whether
//! a publisher still sends (before a takeover), and how a stream is doing
//! (for the api role). One HTTP client for all of it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use catalog::{StatusFuture, StreamStatusSource};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::{ClusterRegistry, PublisherProbe};

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
pub fn publisher_probe() -> Arc<PublisherProbe> {
    let client = http_client();
    Arc::new(move |address: String, stream: String| {
        let client = client.clone();
        Box::pin(async move {
            let Ok(uri) = format!("http://{address}/internal/v1/streams/{stream}/publisher").parse() else {
                return false;
            };
            let answer = tokio::time::timeout(Duration::from_secs(1), async {
                let response = client.get(uri).await.ok()?;
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
}

impl RemoteStatus {
    pub fn new(registry: ClusterRegistry) -> Self {
        Self { registry, client: http_client() }
    }
}

impl StreamStatusSource for RemoteStatus {
    fn status<'a>(&'a self, stream_name: &'a str) -> StatusFuture<'a> {
        Box::pin(async move {
            let Some(owner) = self.registry.owner(stream_name).await? else {
                return Ok(None);
            };
            let unknown = serde_json::json!({"state": "unknown", "reason": "the owning ingest pod did not answer"});
            let Ok(uri) = format!("http://{}/internal/v1/streams/{stream_name}/status", owner.address).parse() else {
                return Ok(Some(unknown));
            };
            let answer = tokio::time::timeout(Duration::from_secs(2), async {
                let response = self.client.get(uri).await.ok()?;
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
