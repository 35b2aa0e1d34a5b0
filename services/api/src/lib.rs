//! The management API: the HTTP surface of the control plane (`catalog`)
//! under `/api/v1`, its OpenAPI document and the web console. Routes,
//! extractors and the mapping of errors to statuses live here; what the
//! routes do lives in `catalog`.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

pub mod console;
mod error;
pub mod http;
mod state;

pub use error::ApiError;
pub use http::{openapi_document, router, routes, OPENAPI_PATH};
pub use state::{ApiOptions, ApiState};
