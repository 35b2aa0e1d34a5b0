//! The one error type of the management API and its mapping to HTTP.
//! Messages never carry secrets: request values are not echoed and
//! database errors are logged, not returned.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid stream name {0:?}: use 1-64 of a-z, 0-9, '-' and '_'")]
    InvalidName(String),
    #[error("invalid stream key: use 16-128 of A-Z, a-z, 0-9, '-' and '_'")]
    InvalidKey,
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("an object with that name or key already exists")]
    Conflict,
    #[error("{0}")]
    InUse(&'static str),
    #[error("too many failed attempts, retry later")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("{0}")]
    Db(#[from] db::DbError),
    #[error("no randomness available")]
    Random,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if db::is_unique_violation(&error) {
            ApiError::Conflict
        } else {
            ApiError::Database(error)
        }
    }
}

impl ApiError {
    /// A 422 about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError { field: field.to_owned(), message: message.into() }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidName(_) | ApiError::InvalidKey | ApiError::Validation(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::Conflict | ApiError::InUse(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Database(_) | ApiError::Db(_) | ApiError::Random | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
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
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "management API request failed");
            "internal error".to_owned()
        } else {
            match &self {
                ApiError::InvalidName(_) => "invalid stream name: use 1-64 of a-z, 0-9, '-' and '_'".to_owned(),
                other => other.to_string(),
            }
        };
        let fields = match &self {
            ApiError::Validation(fields) => Some(fields.as_slice()),
            _ => None,
        };
        let mut response = (status, axum::Json(ErrorBody { error: message, fields })).into_response();
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Collects per-field problems of one request.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn check(&mut self, ok: bool, field: &str, message: &str) -> &mut Self {
        if !ok {
            self.0.push(FieldError { field: field.to_owned(), message: message.to_owned() });
        }
        self
    }

    pub fn finish(&mut self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(std::mem::take(&mut self.0)))
        }
    }
}
