//! With `http.origin_secret` set, the origin answers viewers only through
//! the CDN: the CDN adds the secret as a header to every request it sends
//! on (`terraform/modules/cdn`, variable `origin_secret`), and a request
//! without it (someone who found the origin's address) gets 403. Probes
//! (/healthz, /readyz) stay open for the kubelet and load balancers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The header the CDN sends the origin secret in.
pub const ORIGIN_SECRET_HEADER: &str = "x-relay-origin-secret";

/// `router` answering only requests that carry `secret` in
/// [`ORIGIN_SECRET_HEADER`]; `router` itself when `secret` is empty.
pub fn require_origin_secret(router: Router, secret: &str) -> Router {
    if secret.is_empty() {
        return router;
    }
    let digest: Arc<str> = Arc::from(catalog::sha256_hex(secret));
    router.layer(axum::middleware::from_fn_with_state(digest, admit))
}

/// Compared as SHA-256 digests in constant time: neither the content nor
/// the length of the secret leaks through timing.
async fn admit(State(digest): State<Arc<str>>, request: Request, next: Next) -> Response {
    let probe = matches!(request.uri().path(), "/healthz" | "/readyz");
    let presented = request.headers().get(ORIGIN_SECRET_HEADER).and_then(|value| value.to_str().ok());
    let admitted = presented.is_some_and(|presented| {
        catalog::constant_time_eq(catalog::sha256_hex(presented).as_bytes(), digest.as_bytes())
    });
    if probe || admitted {
        return next.run(request).await;
    }
    (StatusCode::FORBIDDEN, "this origin answers through its CDN only\n").into_response()
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn status(router: &Router, path: &str, secret: Option<&str>) -> StatusCode {
        let mut request = Request::builder().uri(path);
        if let Some(secret) = secret {
            request = request.header(ORIGIN_SECRET_HEADER, secret);
        }
        router.clone().oneshot(request.body(axum::body::Body::empty()).unwrap()).await.unwrap().status()
    }

    #[tokio::test]
    async fn only_requests_carrying_the_secret_pass_and_probes_stay_open() {
        let routes = || {
            Router::new()
                .route("/live/{stream}/{file}", get(|| async { "media" }))
                .route("/healthz", get(|| async { "ok" }))
        };
        let guarded = require_origin_secret(routes(), "cdn-secret-0123456789abcdef0123");
        assert_eq!(status(&guarded, "/live/main/index.m3u8", None).await, StatusCode::FORBIDDEN);
        assert_eq!(status(&guarded, "/live/main/index.m3u8", Some("wrong")).await, StatusCode::FORBIDDEN);
        assert_eq!(
            status(&guarded, "/live/main/index.m3u8", Some("cdn-secret-0123456789abcdef0123")).await,
            StatusCode::OK
        );
        assert_eq!(status(&guarded, "/healthz", None).await, StatusCode::OK);
        let open = require_origin_secret(routes(), "");
        assert_eq!(status(&open, "/live/main/index.m3u8", None).await, StatusCode::OK, "no secret, no gate");
    }
}
