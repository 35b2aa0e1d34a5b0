//! The ingest pod's internal endpoint serves every stream, private ones
//! included, with no viewer checks: only pods that present the cluster's
//! shared secret get an answer. Probes (/healthz, /readyz) stay open.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use cluster::{InternalSecret, INTERNAL_SECRET_HEADER};

/// `router` answering only requests that carry `secret` (every request
/// when no secret is configured).
pub fn require_internal_secret(router: Router, secret: InternalSecret) -> Router {
    router.layer(axum::middleware::from_fn_with_state(secret, admit))
}

async fn admit(State(secret): State<InternalSecret>, request: Request, next: Next) -> Response {
    let probe = matches!(request.uri().path(), "/healthz" | "/readyz");
    let presented = request.headers().get(INTERNAL_SECRET_HEADER).map(|value| value.as_bytes());
    if probe || secret.admits(presented) {
        return next.run(request).await;
    }
    tracing::debug!(path = request.uri().path(), "internal request without the cluster secret");
    (StatusCode::UNAUTHORIZED, "the internal endpoint answers the pods of its cluster only\n").into_response()
}
