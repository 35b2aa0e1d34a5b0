use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every way a request can fail, mapped to HTTP in one place. Messages are
/// short and never echo secrets or internals.
#[derive(Debug)]
pub enum OriginError {
    NotFound,
    BadRequest(&'static str),
    /// A blocking request outlived its hold time.
    HoldExpired,
    Storage(String),
    /// No token, or an expired one: a new token would help.
    Unauthorized(&'static str),
    /// Refused by the stream's access policy.
    Forbidden(&'static str),
    /// Cannot serve this now (no key to sign a session with).
    Unavailable(&'static str),
}

impl IntoResponse for OriginError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            OriginError::NotFound => (StatusCode::NOT_FOUND, "not found"),
            OriginError::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason),
            OriginError::HoldExpired => (StatusCode::SERVICE_UNAVAILABLE, "not available yet; retry"),
            OriginError::Storage(detail) => {
                tracing::error!(%detail, "storage read failed");
                (StatusCode::BAD_GATEWAY, "storage unavailable")
            }
            OriginError::Unauthorized(reason) => (StatusCode::UNAUTHORIZED, reason),
            OriginError::Forbidden(reason) => (StatusCode::FORBIDDEN, reason),
            OriginError::Unavailable(reason) => {
                tracing::warn!(reason, "cannot serve");
                (StatusCode::SERVICE_UNAVAILABLE, reason)
            }
        };
        (status, [(header::CACHE_CONTROL, "no-store")], message).into_response()
    }
}
