//! An origin pod without the stream's live edge asks the ingest pod that
//! owns it, over that pod's internal endpoint. Concurrent requests for the
//! same object share one upstream fetch; immutable media is kept in a
//! bounded cache; the last good playlist covers an owner that just died.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tokio::sync::OnceCell;

use crate::cache::MediaCache;

/// Where each stream's live edge is: the owner's internal host:port.
pub trait EdgeDirectory: Send + Sync + 'static {
    fn owner<'a>(&'a self, stream: &'a str) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;
    /// The owner did not answer; look it up afresh next time.
    fn forget(&self, stream: &str);
}

/// One upstream answer, shared by every request that waited for it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub cache_control: Option<HeaderValue>,
    pub body: Bytes,
}

/// Why an upstream fetch gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// No pod owns the stream.
    NoOwner,
    /// The owner could not be reached or did not answer in time.
    Unreachable,
}

type Flight = Arc<OnceCell<Result<Fetched, FetchFailure>>>;

pub struct Upstream {
    directory: Arc<dyn EdgeDirectory>,
    client: Client<HttpConnector, Empty<Bytes>>,
    in_flight: Mutex<HashMap<String, Flight>>,
    pub(crate) cache: MediaCache,
    last_playlists: Mutex<HashMap<String, Fetched>>,
    fetches: AtomicU64,
    timeout: Duration,
    /// Sent with every request: the owner's endpoint refuses requests without it.
    secret: cluster::InternalSecret,
}

impl Upstream {
    /// `cache_bytes` bounds the media cache; `timeout` bounds one fetch and
    /// must exceed the longest blocking hold.
    pub fn new(
        directory: Arc<dyn EdgeDirectory>,
        cache_bytes: usize,
        timeout: Duration,
        secret: cluster::InternalSecret,
    ) -> Self {
        let client = cluster::internal_client(Duration::from_millis(500));
        Self {
            directory,
            client,
            in_flight: Mutex::default(),
            cache: MediaCache::new(cache_bytes),
            last_playlists: Mutex::default(),
            fetches: AtomicU64::new(0),
            timeout,
            secret,
        }
    }

    /// Upstream requests sent so far (coalesced requests count once).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// `path_and_query` as the owner would serve it, fetched once however
    /// many requests ask at the same time. Immutable media names a
    /// `cache_as` key: it is cached before the flight lands, so a request
    /// arriving later finds it in the cache, never starting a second fetch.
    pub async fn fetch(
        &self,
        stream: &str,
        path_and_query: &str,
        cache_as: Option<&str>,
    ) -> Result<Fetched, FetchFailure> {
        let flight = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            in_flight.entry(path_and_query.to_owned()).or_default().clone()
        };
        let result = flight
            .get_or_init(|| async {
                if let Some(body) = cache_as.and_then(|key| self.cache.get(key)) {
                    return Ok(Fetched { status: StatusCode::OK, content_type: None, cache_control: None, body });
                }
                // Boxed: every coalesced waiter's future would otherwise
                // reserve room for the whole upstream request it never makes.
                let fetched = Box::pin(self.fetch_now(stream, path_and_query)).await;
                if let (Some(key), Ok(fetched)) = (cache_as, &fetched) {
                    if fetched.status.is_success() {
                        self.cache.insert(key, fetched.body.clone());
                    }
                }
                fetched
            })
            .await
            .clone();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if in_flight.get(path_and_query).is_some_and(|current| Arc::ptr_eq(current, &flight)) {
            in_flight.remove(path_and_query);
        }
        result
    }

    async fn fetch_now(&self, stream: &str, path_and_query: &str) -> Result<Fetched, FetchFailure> {
        let Some(owner) = self.directory.owner(stream).await else { return Err(FetchFailure::NoOwner) };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let request = self.secret.get(&format!("http://{owner}{path_and_query}")).ok_or(FetchFailure::Unreachable)?;
        let answer = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(request).await.ok()?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.ok()?.to_bytes();
            Some(Fetched {
                status: parts.status,
                content_type: parts.headers.get(axum::http::header::CONTENT_TYPE).cloned(),
                cache_control: parts.headers.get(axum::http::header::CACHE_CONTROL).cloned(),
                body,
            })
        })
        .await;
        match answer {
            Ok(Some(fetched)) => Ok(fetched),
            _ => {
                tracing::warn!(stream, owner, "live-edge owner did not answer");
                self.directory.forget(stream);
                Err(FetchFailure::Unreachable)
            }
        }
    }

    /// Bytes of media held in the cache.
    pub fn cached_bytes(&self) -> usize {
        self.cache.bytes()
    }

    pub(crate) fn remember_playlist(&self, key: &str, fetched: &Fetched) {
        let mut playlists = self.last_playlists.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        playlists.insert(key.to_owned(), fetched.clone());
    }

    pub(crate) fn last_playlist(&self, key: &str) -> Option<Fetched> {
        self.last_playlists.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).cloned()
    }
}
