//! The control plane as a library: users, sessions and API keys; the VMS
//! hierarchy of areas, devices and streams (push streams with their key, or
//! cameras); per-stream rights and playback access policies; signing keys;
//! the audit log; webhooks. The HTTP API (`api`) wraps it; the data-plane
//! roles use it directly, never through the API.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod auth;
mod catalog;
mod crypto;
mod error;
mod live_control;
mod model;
pub mod outbound;
mod sealing;
mod status;
mod store;
pub mod webhook;

pub use auth::{
    HashingLimits, HashingStats, LoginAttempt, LoginLimiter, LoginLimits, LoginRefusal, PasswordCost, Passwords,
    MAX_PASSWORD_LEN, MIN_PASSWORD_LEN,
};
pub use catalog::{Catalog, CatalogOptions};
pub use crypto::{constant_time_eq, random_hex, sha256_hex, RTSP_DIGEST_REALM, RTSP_DIGEST_USERNAME};
pub use error::{CatalogError, Checks, FieldError};
pub use live_control::{ControlError, ControlFuture, PublisherControl};
pub use model::{
    ApiKeyInfo, Area, AuditEntry, CameraPull, CameraPullMode, CameraSource, Device, Right, Role, StreamKind,
    StreamRecord, User, Webhook, WebhookEvent,
};
pub use outbound::{OutboundError, OutboundPolicy};
pub use sealing::{OpenedWith, SecretSealer, SEALING_KEY_HEX_LEN};
pub use status::{StatusError, StatusFuture, StreamStatusSource};
pub use store::{
    validate_key, validate_name, AuditQuery, AuthenticatedUser, Database, NewStream, SigningKeyInfo, StreamChange,
};
pub use webhook::{PublishDecision, RetryPolicy, WebhookSender};
