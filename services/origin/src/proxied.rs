//! Requests for streams whose live edge is on another pod: forwarded to
//! the owner through [`Upstream`], with media from the cache or storage.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::handlers::{media_response, stored};
use crate::request::LiveFile;
use crate::upstream::{FetchFailure, Fetched, Upstream};
use crate::{Origin, OriginError};

/// How often an unreachable owner is looked up again within one request.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// One request for a stream whose live edge is elsewhere.
pub struct ProxiedRequest<'a> {
    pub stream: &'a str,
    pub name: &'a str,
    pub file: LiveFile,
    /// The stream starts on demand: a playlist waits for it to come up.
    pub on_demand: bool,
}

pub async fn live_file(
    origin: &Origin,
    upstream: &Upstream,
    request: ProxiedRequest<'_>,
    query: Option<&str>,
) -> Result<Response, OriginError> {
    let ProxiedRequest { stream, name, file, on_demand } = request;
    let path = match query {
        Some(query) if !query.is_empty() => format!("/live/{stream}/{name}?{query}"),
        _ => format!("/live/{stream}/{name}"),
    };
    let cache_key = format!("{stream}/{name}");
    match file {
        LiveFile::Dvr => Err(OriginError::NotFound),
        LiveFile::Multivariant | LiveFile::Media => {
            playlist(origin, upstream, stream, &path, &cache_key, on_demand).await
        }
        LiveFile::Part(..) => {
            if let Some(data) = upstream.cache.get(&cache_key) {
                return Ok(media_response(data));
            }
            match upstream.fetch(stream, &path, Some(&cache_key)).await {
                Ok(fetched) => Ok(media_or_error(fetched)),
                Err(_) => Err(OriginError::NotFound),
            }
        }
        LiveFile::Init(_) | LiveFile::Segment(_) => {
            if let Some(data) = upstream.cache.get(&cache_key) {
                return Ok(media_response(data));
            }
            if let Ok(fetched) = upstream.fetch(stream, &path, Some(&cache_key)).await {
                if fetched.status.is_success() {
                    return Ok(media_or_error(fetched));
                }
            }
            let key = match file {
                LiveFile::Init(version) => live::init_key(stream, version),
                LiveFile::Segment(msn) => live::segment_key(stream, msn),
                _ => return Err(OriginError::NotFound),
            };
            let data = stored(origin, &key).await?;
            upstream.cache.insert(&cache_key, data.clone());
            Ok(media_response(data))
        }
    }
}

/// Media as the owner answered; success always carries our media headers
/// (a cache hit inside a flight has none of its own).
fn media_or_error(fetched: Fetched) -> Response {
    if fetched.status.is_success() {
        return media_response(fetched.body);
    }
    passthrough(fetched)
}

/// Playlists come from the owner byte for byte. While the owner cannot be
/// reached (it died; a new one is taking over) the request keeps asking
/// until its hold time ends, then gets the last good playlist rather than
/// an error. A stream that starts on demand is waited for the same way
/// while no pod owns it yet (its pull is starting).
async fn playlist(
    origin: &Origin,
    upstream: &Upstream,
    stream: &str,
    path: &str,
    cache_key: &str,
    on_demand: bool,
) -> Result<Response, OriginError> {
    let deadline = Instant::now() + origin.default_hold;
    let last_key = cache_key.to_owned();
    loop {
        match upstream.fetch(stream, path, None).await {
            Ok(fetched) if fetched.status.is_server_error() => {}
            Ok(fetched) if on_demand && fetched.status == StatusCode::NOT_FOUND => {}
            Ok(fetched) => {
                if fetched.status.is_success() {
                    upstream.remember_playlist(&last_key, &fetched);
                }
                return Ok(passthrough(fetched));
            }
            Err(FetchFailure::NoOwner) if !on_demand => return Err(OriginError::NotFound),
            Err(FetchFailure::NoOwner | FetchFailure::Unreachable) => {}
        }
        if Instant::now() + RETRY_EVERY >= deadline {
            return match upstream.last_playlist(&last_key) {
                Some(mut last) => {
                    last.cache_control = Some(header::HeaderValue::from_static("no-store"));
                    Ok(passthrough(last))
                }
                None => Err(OriginError::HoldExpired),
            };
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

fn passthrough(fetched: Fetched) -> Response {
    let mut response = (fetched.status, fetched.body).into_response();
    let headers = response.headers_mut();
    if let Some(value) = fetched.content_type {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = fetched.cache_control {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}
