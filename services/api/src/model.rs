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
    /// Secret: only shown when created or rotated.
    pub stream_key: String,
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
            .field("stream_key", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("kind", &self.kind)
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// Where a camera stream is pulled from. Never returned by the API.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSource {
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
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
