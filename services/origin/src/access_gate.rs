//! The stream's access policy, enforced on every media request of both URL
//! shapes: `/live/{stream}/{file}` and `/t/{token}/live/{stream}/{file}`.
//! The second serves exactly what the first does; since playlist URIs are
//! relative, the token rides along to every part without changing any body.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use access::{AccessRequest, Admission, Denied};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;

use crate::request::{LiveFile, PlaylistQuery};
use crate::{handlers, Origin, OriginError};

/// Where a CDN edge puts the token it took out of the path, so the origin
/// verifies it again (docs/design/playback-tokens.md).
pub const TOKEN_HEADER: &str = "x-playback-token";

pub type PlayFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// on_play: asked once per viewer session, when a viewer without a
/// session loads the multivariant playlist. The session is a short-lived
/// token the origin signs, bound to the stream's id and the viewer's
/// address, that every later request of the session carries in its path
/// (docs/design/on-play-sessions.md). Implementations cache their answers.
pub trait PlayHook: Send + Sync + 'static {
    /// Whether viewers need a session now (an on_play receiver exists).
    fn guards(&self) -> PlayFuture<'_, bool>;
    /// Whether this viewer may start watching `stream` (whose id is `stream_id`).
    fn allow<'a>(&'a self, stream: &'a str, stream_id: &'a str, client: IpAddr) -> PlayFuture<'a, bool>;
    /// How long a session lasts before the viewer loads index.m3u8 again.
    fn session_ttl(&self) -> Duration;
}

#[derive(Debug, Deserialize)]
pub struct MediaPath {
    #[serde(default)]
    token: Option<String>,
    stream: String,
    file: String,
}

/// A multivariant playlist is a few hundred bytes; this is far beyond.
const MAX_SESSION_PLAYLIST: usize = 64 * 1024;

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
    // Names that name no stream are refused here, before on_play and storage.
    let admission = origin.access.admit(&AccessRequest { stream: &media.stream, path: &path, client, token }).map_err(
        |denied| {
            tracing::debug!(stream = %crate::log_uri::cut(&media.stream), reason = %denied, "playback refused");
            refusal(denied)
        },
    )?;
    let session = match &origin.play_hook {
        Some(hook) if !admission.session && hook.guards().await => {
            Some(start_session(&origin, hook.as_ref(), &media, &admission).await?)
        }
        _ => None,
    };
    let mut response = next.run(request).await;
    if !admission.allowed.shared_cache_ok() {
        keep_out_of_shared_caches(&mut response);
    }
    match session {
        Some(session) => with_session(response, &session, &media.stream).await,
        None => Ok(response),
    }
}

/// A viewer without a session may only start one, on index.m3u8, and only
/// when on_play allows it; the answer is the session token.
async fn start_session(
    origin: &Origin,
    hook: &dyn PlayHook,
    media: &MediaPath,
    admission: &Admission,
) -> Result<String, OriginError> {
    if media.file != "index.m3u8" {
        // What only a live edge serves, of a stream with none here, is
        // missing for anyone: say so, as without on_play.
        let live_only = matches!(LiveFile::parse(&media.file), Some(LiveFile::Media | LiveFile::Part(..)));
        if live_only && origin.upstream.is_none() && origin.registry.get(&media.stream).is_none() {
            return Err(OriginError::NotFound);
        }
        return Err(refusal(Denied::NoSession));
    }
    if !hook.allow(&media.stream, &admission.stream_id, admission.client_ip).await {
        return Err(OriginError::Forbidden("playback refused"));
    }
    let ttl = hook.session_ttl();
    origin
        .access
        .issue_session(&media.stream, &admission.stream_id, admission.client_ip, ttl, admission.token_expires)
        .ok_or(OriginError::Unavailable("no signing key for playback sessions"))
}

/// The multivariant playlist of a new session: its URIs carry the session
/// token in their path, so every request of the session does too, while
/// the media playlists, parts and segments they name stay the same for
/// every viewer. The playlist itself is the viewer's own.
async fn with_session(response: Response, session: &str, stream: &str) -> Result<Response, OriginError> {
    if response.status() != axum::http::StatusCode::OK {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, MAX_SESSION_PLAYLIST)
        .await
        .map_err(|_| OriginError::Unavailable("playlist too large"))?;
    let text = String::from_utf8_lossy(&body);
    let prefix = format!("/t/{session}/live/{stream}/");
    let mut rewritten = String::with_capacity(text.len() + 4 * prefix.len());
    for line in text.lines() {
        let relative = !line.is_empty() && !line.starts_with('#') && !line.starts_with('/') && !line.contains("://");
        if relative {
            rewritten.push_str(&prefix);
        }
        rewritten.push_str(line);
        rewritten.push('\n');
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(Response::from_parts(parts, axum::body::Body::from(rewritten)))
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
        404 => OriginError::NotFound,
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
