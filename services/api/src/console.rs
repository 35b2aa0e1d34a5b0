//! The web console: a dependency-free single-page app over the management
//! API, compiled into the binary and served at `/console`. Its script is a
//! set of files of its own so the Content-Security-Policy can forbid inline
//! script; it talks to `/api/v1` with the session cookie and keeps no
//! secrets in browser storage.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Where the console is mounted.
pub const CONSOLE_PATH: &str = "/console";

/// Only same-origin scripts, styles and API calls; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../console/index.html");

/// The assets under `/console/`, by file name, with their media types.
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("../console/console.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../console/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../console/api.js")),
    ("streams.js", "text/javascript; charset=utf-8", include_str!("../console/streams.js")),
    ("access.js", "text/javascript; charset=utf-8", include_str!("../console/access.js")),
    ("hierarchy.js", "text/javascript; charset=utf-8", include_str!("../console/hierarchy.js")),
    ("people.js", "text/javascript; charset=utf-8", include_str!("../console/people.js")),
    ("admin.js", "text/javascript; charset=utf-8", include_str!("../console/admin.js")),
];

/// The console's routes; they need no state, so any router can merge them.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(CONSOLE_PATH, get(index)).route("/console/", get(index)).route("/console/{*file}", get(asset))
}

async fn index() -> Response {
    // The page itself is never cached: it decides which script version runs.
    with_headers(StatusCode::OK, "text/html; charset=utf-8", "no-store", INDEX_HTML)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        // Revalidated on every load so an upgraded binary's files are picked up.
        Some((_, media_type, body)) => with_headers(StatusCode::OK, media_type, "no-cache", body),
        None => with_headers(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "no-store", "not found\n"),
    }
}

fn with_headers(status: StatusCode, media_type: &'static str, cache: &'static str, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Player links carry playback tokens; they must not leak as Referer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
