//! What ties a pod to the cluster registry: the publish-side authorizer that
//! claims streams, the origin-side directory of owners, and the probe one
//! ingest pod sends another before taking a stream over.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use bytes::Bytes;
use cluster::{ClusterError, ClusterRegistry, FencedWriter, PublisherProbe};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use ingest::{AuthFuture, ClaimFuture, ClaimRefused, KeyFuture, StreamAuthorizer};

/// Checks stream keys (and on_publish webhooks) through the management
/// service's state and claims streams for this pod.
pub struct ClusterAuthorizer {
    pub api: api::ApiState,
    pub registry: ClusterRegistry,
    pub writer: Arc<FencedWriter>,
    pub probe: Arc<PublisherProbe>,
}

impl StreamAuthorizer for ClusterAuthorizer {
    fn authorize<'a>(&'a self, _app: &'a str, stream_key: &'a str, peer: SocketAddr) -> AuthFuture<'a> {
        Box::pin(async move {
            match self.api.authorize_publish(stream_key, peer.ip()).await {
                Ok(stream) => Ok(stream.map(|stream| stream.name)),
                Err(error) => Err(error.to_string()),
            }
        })
    }

    fn stream_key_for<'a>(&'a self, stream: &'a str) -> KeyFuture<'a> {
        Box::pin(async move {
            match self.api.database().stream_by_name(stream).await {
                Ok(record) => {
                    Ok(record.filter(|record| record.kind == api::StreamKind::Push).map(|record| record.stream_key))
                }
                Err(error) => Err(error.to_string()),
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
                Err(error) => Err(ClaimRefused::Unavailable(error.to_string())),
            }
        })
    }

    fn unpublished(&self, stream: &str, peer: SocketAddr) {
        self.api.webhooks().notify(api::WebhookEvent::OnUnpublish, stream, Some(peer.ip()));
    }
}

fn http_client() -> Client<HttpConnector, Empty<Bytes>> {
    origin::internal_client(Duration::from_millis(300))
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

/// Owners from the registry, remembered briefly so a burst of requests
/// costs one query.
pub struct RegistryDirectory {
    registry: ClusterRegistry,
    known: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl RegistryDirectory {
    const FRESH_FOR: Duration = Duration::from_secs(1);

    pub fn new(registry: ClusterRegistry) -> Self {
        Self { registry, known: Mutex::default() }
    }
}

impl origin::EdgeDirectory for RegistryDirectory {
    fn owner<'a>(
        &'a self,
        stream: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            if let Some((at, owner)) = self.known.lock().ok()?.get(stream) {
                if at.elapsed() < Self::FRESH_FOR {
                    return owner.clone();
                }
            }
            let owner = match self.registry.owner(stream).await {
                Ok(owner) => owner.map(|owner| owner.address),
                Err(error) => {
                    tracing::warn!(stream, %error, "cannot look the stream's owner up");
                    return None;
                }
            };
            if let Ok(mut known) = self.known.lock() {
                if known.len() > 100_000 {
                    known.clear();
                }
                known.insert(stream.to_owned(), (Instant::now(), owner.clone()));
            }
            owner
        })
    }

    fn forget(&self, stream: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(stream);
        }
    }
}

/// dvr.m3u8 reads the registry's segment index.
pub struct RegistryIndex {
    pub registry: ClusterRegistry,
    pub default_window: Duration,
}

impl origin::SegmentIndex for RegistryIndex {
    fn window<'a>(&'a self, stream: &'a str) -> origin::IndexFuture<'a, Duration> {
        Box::pin(async move {
            self.registry.dvr_window(stream, self.default_window).await.map_err(|error| error.to_string())
        })
    }

    fn segments<'a>(
        &'a self,
        stream: &'a str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> origin::IndexFuture<'a, (Vec<media::hls::ListedSegment>, bool)> {
        Box::pin(async move {
            let stored = self
                .registry
                .segments_between(stream, from_ms, to_ms, limit)
                .await
                .map_err(|error| error.to_string())?;
            let ended =
                self.registry.owner(stream).await.map_err(|error| error.to_string())?.is_none_or(|owner| owner.ended);
            let listed = stored
                .into_iter()
                .map(|segment| media::hls::ListedSegment {
                    msn: segment.msn,
                    duration: segment.duration_secs,
                    init_version: segment.init_version,
                    discontinuity: segment.discontinuity,
                    discontinuity_sequence: segment.discontinuity_sequence,
                    program_date_time_ms: segment.program_date_time_ms,
                    gap: segment.gap,
                })
                .collect();
            Ok((listed, ended))
        })
    }
}

/// Stream status from this process: the live edge and, for a camera this
/// pod pulls, the pull's state, reason and warnings.
#[derive(Clone)]
pub struct LocalStatus {
    pub live: Arc<live::Registry>,
    pub cameras: crate::cameras::CameraBoard,
}

impl LocalStatus {
    pub fn json(&self, stream_name: &str) -> Option<serde_json::Value> {
        let target = self.live.config().segmenter.segment_target_ms;
        let live = self.live.get(stream_name).map(|stream| origin::status_json(&stream.status(target)));
        let camera = self.cameras.status(stream_name).and_then(|status| serde_json::to_value(status).ok());
        match (live, camera) {
            (None, None) => None,
            (live, camera) => {
                let mut status = live.unwrap_or_else(|| serde_json::json!({"state": "offline"}));
                if let Some(camera) = camera {
                    status["camera"] = camera;
                }
                Some(status)
            }
        }
    }

    /// `/internal/v1/streams/{stream}/status` on an ingest pod's internal port.
    pub fn router(self) -> axum::Router {
        axum::Router::new().route(
            "/internal/v1/streams/{stream}/status",
            axum::routing::get(move |axum::extract::Path(stream): axum::extract::Path<String>| {
                let local = self.clone();
                async move {
                    match local.json(&stream) {
                        Some(status) => axum::Json(status).into_response(),
                        None => axum::http::StatusCode::NOT_FOUND.into_response(),
                    }
                }
            }),
        )
    }
}

impl api::StreamStatusSource for LocalStatus {
    fn status<'a>(&'a self, stream_name: &'a str) -> api::StatusFuture<'a> {
        Box::pin(async move { Ok(self.json(stream_name)) })
    }
}

/// Stream status from the owning ingest pod's internal endpoint (api role).
pub struct RemoteStatus {
    pub registry: ClusterRegistry,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl RemoteStatus {
    pub fn new(registry: ClusterRegistry) -> Self {
        Self { registry, client: http_client() }
    }
}

impl api::StreamStatusSource for RemoteStatus {
    fn status<'a>(&'a self, stream_name: &'a str) -> api::StatusFuture<'a> {
        Box::pin(async move {
            let Some(owner) = self.registry.owner(stream_name).await.map_err(|error| error.to_string())? else {
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

/// on_play through the management service's webhooks, answered once per
/// (stream, client address) a minute so a session costs one delivery.
pub struct WebhookPlayHook {
    api: api::ApiState,
    decided: Mutex<HashMap<(String, std::net::IpAddr), (Instant, bool)>>,
}

impl WebhookPlayHook {
    const REMEMBER: Duration = Duration::from_secs(60);

    pub fn new(api: api::ApiState) -> Self {
        Self { api, decided: Mutex::default() }
    }
}

impl origin::PlayHook for WebhookPlayHook {
    fn allow<'a>(
        &'a self,
        stream: &'a str,
        client: std::net::IpAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let key = (stream.to_owned(), client);
            if let Some((at, allowed)) = self.decided.lock().ok().and_then(|decided| decided.get(&key).copied()) {
                if at.elapsed() < Self::REMEMBER {
                    return allowed;
                }
            }
            let allowed = match self.api.webhooks().on_play(stream, Some(client)).await {
                api::PublishDecision::Allow => true,
                api::PublishDecision::Deny(reason) => {
                    tracing::info!(stream, %client, %reason, "playback refused by on_play");
                    false
                }
            };
            if let Ok(mut decided) = self.decided.lock() {
                if decided.len() > 100_000 {
                    decided.retain(|_, (at, _)| at.elapsed() < Self::REMEMBER);
                }
                decided.insert(key, (Instant::now(), allowed));
            }
            allowed
        })
    }
}
