//! The stream's access policy, enforced on every media request of both URL
//! shapes: `/live/{stream}/{file}` and `/t/{token}/live/{stream}/{file}`.
//! The second serves exactly what the first does; since playlist URIs are
//! relative, the token rides along to every part without changing any body.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use access::{AccessRequest, Denied};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;

use crate::request::PlaylistQuery;
use crate::{handlers, Origin, OriginError};

/// Where a CDN edge puts the token it took out of the path, so the origin
/// verifies it again (docs/design/playback-tokens.md).
pub const TOKEN_HEADER: &str = "x-playback-token";

/// Asked when a viewer starts a session (loads the multivariant
/// playlist): the on_play webhook. Implementations cache their answers.
pub trait PlayHook: Send + Sync + 'static {
    fn allow<'a>(
        &'a self,
        stream: &'a str,
        client: IpAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
}

#[derive(Debug, Deserialize)]
pub struct MediaPath {
    #[serde(default)]
    token: Option<String>,
    stream: String,
    file: String,
}

pub async fn enforce(
    State(origin): State<Arc<Origin>>,
    Path(media): Path<MediaPath>,
    request: Request,
    next: Next,
) -> Result<Response, OriginError> {
    // A decoded `%2F` must not make one stream's scope cover another's files.
    if media.stream.contains('/') || media.file.contains('/') {
        return Err(OriginError::NotFound);
    }
    let path = format!("live/{}/{}", media.stream, media.file);
    let headers = request.headers();
    let token = media.token.as_deref().or_else(|| headers.get(TOKEN_HEADER).and_then(|value| value.to_str().ok()));
    // The viewer, as the listener found it behind trusted proxies.
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(address)| address.ip());
    let decision = origin.access.check(&AccessRequest { stream: &media.stream, path: &path, client, token });
    if decision.is_ok() && media.file == "index.m3u8" {
        if let Some(hook) = &origin.play_hook {
            if !hook.allow(&media.stream, client).await {
                return Err(OriginError::Forbidden("playback refused"));
            }
        }
    }
    match decision {
        Ok(allowed) => {
            let mut response = next.run(request).await;
            if !allowed.shared_cache_ok() {
                keep_out_of_shared_caches(&mut response);
            }
            Ok(response)
        }
        Err(denied) => {
            tracing::debug!(stream = %media.stream, reason = %denied, "playback refused");
            Err(refusal(denied))
        }
    }
}

/// `/t/{token}/live/{stream}/{file}`: the token was checked by [`enforce`].
pub async fn tokened_live_file(
    state: State<Arc<Origin>>,
    Path(media): Path<MediaPath>,
    query: Query<PlaylistQuery>,
    uri: axum::http::Uri,
) -> Result<Response, OriginError> {
    handlers::live_file(state, Path((media.stream, media.file)), query, uri).await
}

fn refusal(denied: Denied) -> OriginError {
    match denied.status() {
        401 => OriginError::Unauthorized(denied.public_reason()),
        _ => OriginError::Forbidden(denied.public_reason()),
    }
}

fn keep_out_of_shared_caches(response: &mut Response) {
    let headers = response.headers_mut();
    let private = match headers.get(header::CACHE_CONTROL).and_then(|value| value.to_str().ok()) {
        Some(value) => match value.strip_prefix("public") {
            Some(rest) => format!("private{rest}"),
            None => return,
        },
        None => "private".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&private) {
        headers.insert(header::CACHE_CONTROL, value);
    }
}

/// The request span, without the token: a token in a log is a usable credential.
pub fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let uri = crate::log_uri::loggable_uri(request.uri());
    tracing::debug_span!("request", method = %request.method(), uri = %uri, version = ?request.version())
}
