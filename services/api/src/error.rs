//! The one error type of the HTTP API and the one place errors become HTTP
//! statuses. Messages never carry secrets: request values are not echoed
//! and database errors are logged, not returned.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use catalog::{CatalogError, FieldError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
}

impl ApiError {
    /// A validation failure about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        CatalogError::field(field, message).into()
    }

    pub fn status(&self) -> StatusCode {
        let ApiError::Catalog(error) = self else { return StatusCode::UNSUPPORTED_MEDIA_TYPE };
        match error {
            CatalogError::InvalidName(_) | CatalogError::InvalidKey | CatalogError::Validation(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            CatalogError::NotFound(_) => StatusCode::NOT_FOUND,
            CatalogError::Unauthorized => StatusCode::UNAUTHORIZED,
            CatalogError::Forbidden => StatusCode::FORBIDDEN,
            CatalogError::Conflict | CatalogError::InUse(_) => StatusCode::CONFLICT,
            CatalogError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            CatalogError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            CatalogError::Database(_)
            | CatalogError::Db(_)
            | CatalogError::Random
            | CatalogError::SealingKey(_)
            | CatalogError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [FieldError]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if let ApiError::Catalog(CatalogError::Busy { .. }) = &self {
            self.to_string()
        } else if status.is_server_error() {
            tracing::error!(error = %self, "management API request failed");
            "internal error".to_owned()
        } else {
            match &self {
                ApiError::Catalog(CatalogError::InvalidName(_)) => {
                    "invalid stream name: use 1-64 of a-z, 0-9, '-' and '_'".to_owned()
                }
                other => other.to_string(),
            }
        };
        let fields = match &self {
            ApiError::Catalog(CatalogError::Validation(fields)) => Some(fields.as_slice()),
            _ => None,
        };
        let mut response = (status, axum::Json(ErrorBody { error: message, fields })).into_response();
        if let ApiError::Catalog(
            CatalogError::TooManyRequests { retry_after_secs } | CatalogError::Busy { retry_after_secs },
        ) = self
        {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
