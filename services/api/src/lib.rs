//! The management service: users, sessions and API keys; the VMS hierarchy
//! of areas, devices and streams (push streams with their key, or cameras);
//! per-stream rights and playback access policies; playback tokens; the
//! audit log; webhooks. Served as an axum router under `/api/v1`.

mod auth;
pub mod console;
mod crypto;
mod error;
pub mod http;
mod model;
mod state;
mod status;
mod store;
pub mod webhook;

pub use auth::{PasswordCost, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
pub use error::{ApiError, Checks, FieldError};
pub use http::{openapi_document, router, routes, OPENAPI_PATH};
pub use model::{
    ApiKeyInfo, Area, AuditEntry, CameraPull, CameraPullMode, CameraSource, Device, Right, Role, StreamKind,
    StreamRecord, User, Webhook, WebhookEvent,
};
pub use state::{ApiOptions, ApiState};
pub use status::{StatusFuture, StreamStatusSource};
pub use store::{
    validate_key, validate_name, AuditQuery, AuthenticatedUser, Database, NewStream, SigningKeyInfo, StreamChange,
};
pub use webhook::{PublishDecision, RetryPolicy, WebhookSender};
