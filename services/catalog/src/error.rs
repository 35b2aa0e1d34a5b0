//! The one error type of the control plane. Messages never carry secrets:
//! request values are not echoed. The HTTP API maps each kind to a status
//! in one place (`api::CatalogError`).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("invalid stream name {0:?}: use 1-64 of a-z, 0-9, '-' and '_'")]
    InvalidName(String),
    #[error("invalid stream key: use 16-128 of A-Z, a-z, 0-9, '-' and '_'")]
    InvalidKey,
    #[error("invalid request")]
    Validation(Vec<FieldError>),
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
    /// Work that is bounded (password hashing) has no room right now.
    #[error("busy, retry later")]
    Busy { retry_after_secs: u64 },
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("{0}")]
    Db(#[from] db::DbError),
    #[error("no randomness available")]
    Random,
    #[error("sealed secrets: {0}")]
    SealingKey(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for CatalogError {
    fn from(error: sqlx::Error) -> Self {
        if db::is_unique_violation(&error) {
            CatalogError::Conflict
        } else {
            CatalogError::Database(error)
        }
    }
}

impl CatalogError {
    /// A validation failure about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        CatalogError::Validation(vec![FieldError { field: field.to_owned(), message: message.into() }])
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

    pub fn finish(&mut self) -> Result<(), CatalogError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CatalogError::Validation(std::mem::take(&mut self.0)))
        }
    }
}
