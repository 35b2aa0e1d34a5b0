//! The records the API reads and writes. Secrets live in their own types
//! whose `Debug` is redacted.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Operators and admins may do everything to every stream.
    pub fn manages_all_streams(self) -> bool {
        self >= Role::Operator
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    ViewLive,
    ViewRecordings,
    Export,
    Manage,
}

impl Right {
    pub const ALL: [Right; 4] = [Right::ViewLive, Right::ViewRecordings, Right::Export, Right::Manage];

    pub fn as_str(self) -> &'static str {
        match self {
            Right::ViewLive => "view_live",
            Right::ViewRecordings => "view_recordings",
            Right::Export => "export",
            Right::Manage => "manage",
        }
    }

    pub fn parse(text: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|right| right.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// Published to over RTMP with the stream key.
    Push,
    /// Pulled from a camera's RTSP URL.
    Camera,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Push => "push",
            StreamKind::Camera => "camera",
        }
    }

    pub fn parse(text: &str) -> Option<StreamKind> {
        match text {
            "push" => Some(StreamKind::Push),
            "camera" => Some(StreamKind::Camera),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub id: String,
    pub name: String,
    /// The key in clear, only in the record that creating the stream or
    /// rotating its key returns: the database keeps hashes alone.
    pub issued_key: Option<String>,
    /// Unix milliseconds (rows made before the API existed hold seconds).
    pub created_at: i64,
    pub kind: StreamKind,
    pub device_id: Option<String>,
}

impl fmt::Debug for StreamRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issued_key", &self.issued_key.as_ref().map(|_| "[redacted]"))
            .field("created_at", &self.created_at)
            .field("kind", &self.kind)
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// Where a camera stream is pulled from and when. The URL and credentials
/// are never returned by the API; the pull settings are (`CameraPull`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSource {
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// `always` or `on_demand` (always).
    #[serde(default)]
    pub mode: CameraPullMode,
    /// On demand: how long the pull outlives the last viewer request, in ms (30000).
    #[serde(default = "CameraPull::default_linger_ms")]
    pub linger_ms: u64,
}

impl CameraSource {
    /// An always-on source at `url` without credentials.
    pub fn new(url: impl Into<String>) -> Self {
        CameraSource {
            url: url.into(),
            username: None,
            password: None,
            mode: CameraPullMode::default(),
            linger_ms: CameraPull::default_linger_ms(),
        }
    }

    pub fn pull(&self) -> CameraPull {
        CameraPull { mode: self.mode, linger_ms: self.linger_ms }
    }
}

/// When a camera is pulled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraPullMode {
    /// All the time, by one ingest pod.
    #[default]
    Always,
    /// While viewers ask for it, and `linger_ms` after the last request.
    OnDemand,
}

impl CameraPullMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraPullMode::Always => "always",
            CameraPullMode::OnDemand => "on_demand",
        }
    }

    pub fn parse(text: &str) -> Option<CameraPullMode> {
        match text {
            "always" => Some(CameraPullMode::Always),
            "on_demand" => Some(CameraPullMode::OnDemand),
            _ => None,
        }
    }
}

/// A camera's pull settings: safe to show, unlike its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CameraPull {
    pub mode: CameraPullMode,
    pub linger_ms: u64,
}

impl CameraPull {
    pub const MIN_LINGER_MS: u64 = 1_000;
    pub const MAX_LINGER_MS: u64 = 3_600_000;

    pub fn default_linger_ms() -> u64 {
        30_000
    }
}

impl fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CameraSource").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Area {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: String,
    pub area_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub address: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    OnPublish,
    OnUnpublish,
    OnPlay,
}

impl WebhookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::OnPublish => "on_publish",
            WebhookEvent::OnUnpublish => "on_unpublish",
            WebhookEvent::OnPlay => "on_play",
        }
    }

    pub fn parse(text: &str) -> Option<WebhookEvent> {
        [WebhookEvent::OnPublish, WebhookEvent::OnUnpublish, WebhookEvent::OnPlay]
            .into_iter()
            .find(|event| event.as_str() == text)
    }
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    pub created_at: i64,
    #[serde(skip)]
    pub secret: String,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}
