//! The LL-HLS origin: a thin axum shell over the live edge and storage.
//! Every URI is derived from sequence numbers, so any origin answers any
//! request the same way and a CDN can cache what it gets.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod access_gate;
mod cache;
mod cdn_gate;
mod cluster;
mod demand;
mod demand_recorder;
mod dvr;
mod error;
mod handlers;
mod internal_gate;
mod log_uri;
mod on_play;
mod player;
mod proxied;
mod request;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use live::Registry;
use storage::ObjectStore;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;

pub use access::AccessControl;
pub use access_gate::{PlayFuture, PlayHook, TOKEN_HEADER};
pub use cdn_gate::{require_origin_secret, ORIGIN_SECRET_HEADER};
pub use cluster::{RegistryDirectory, RegistryIndex};
pub use demand::DemandHook;
pub use demand_recorder::DemandRecorder;
pub use dvr::{IndexFuture, SegmentIndex};
pub use error::OriginError;
pub use internal_gate::require_internal_secret;
pub use log_uri::loggable_uri;
pub use on_play::{OnPlayConfig, OnPlayWebhooks};
pub use request::LiveFile;
pub use upstream::{EdgeDirectory, FetchFailure, Fetched, Upstream};

/// Shared by every request.
pub struct Origin {
    pub registry: Arc<Registry>,
    pub storage: Arc<dyn ObjectStore>,
    /// Longest a blocking request is held when the target duration is not
    /// known yet (6 s, i.e. 3 x the default target).
    pub default_hold: Duration,
    /// Keys and per-stream policies; `AccessControl::public()` keeps every stream open.
    pub access: Arc<AccessControl>,
    /// Set on origin pods: streams not in `registry` are fetched from the
    /// ingest pod that owns them.
    pub upstream: Option<Arc<Upstream>>,
    /// The stored-segment index behind dvr.m3u8; None serves no DVR.
    pub index: Option<Arc<dyn SegmentIndex>>,
    /// on_play: asked once per viewer session; None lets everyone the
    /// access policy lets in.
    pub play_hook: Option<Arc<dyn PlayHook>>,
    /// Told about every live request, for streams pulled on demand; None
    /// where no stream starts on demand (or, on an ingest pod, where the
    /// origin pods in front already report it).
    pub demand: Option<Arc<dyn DemandHook>>,
}

pub fn router(origin: Arc<Origin>) -> Router {
    let media = Router::new()
        .route("/live/{stream}/{file}", get(handlers::live_file))
        .route("/t/{token}/live/{stream}/{file}", get(access_gate::tokened_live_file))
        .route_layer(axum::middleware::from_fn_with_state(origin.clone(), access_gate::enforce));
    Router::new()
        .merge(media)
        .route("/player.html", get(player::page))
        .route("/hls.min.js", get(player::hls_script))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(origin)
        .layer(CompressionLayer::new().gzip(true).compress_when(is_playlist))
        .layer(CorsLayer::permissive())
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(access_gate::request_span))
}

/// The ingest pod's internal endpoint: what other pods ask before taking
/// a stream over, and the status of the streams it holds (for the api
/// role). Never on a public port; wrapped in [`require_internal_secret`].
pub fn internal_router(origin: Arc<Origin>, status: Arc<dyn catalog::StreamStatusSource>) -> Router {
    let status =
        Router::new().route("/internal/v1/streams/{stream}/status", get(handlers::stream_status)).with_state(status);
    Router::new()
        .route("/internal/v1/streams/{stream}/publisher", get(handlers::publisher_state))
        .with_state(origin)
        .merge(status)
}

/// Only playlists are compressed; media is already compressed.
fn is_playlist(
    _: axum::http::StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/vnd.apple.mpegurl") || value.starts_with("text/"))
}
