//! Streams: push streams with a rotatable key, or cameras whose source
//! is write-only. Stream keys appear only in create and rotate responses.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::extract::{Caller, JsonBody, QueryParams};
use crate::error::ApiError;
use crate::state::ApiState;
use catalog::CatalogError;
use catalog::{CameraPull, CameraSource, Right, Role, StreamKind, StreamRecord};
use catalog::{NewStream, StreamChange};

#[derive(Serialize)]
pub struct StreamView {
    id: String,
    name: String,
    kind: StreamKind,
    device_id: Option<String>,
    created_at: i64,
    /// Only when the stream is created or its key rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_key: Option<String>,
    /// A camera's pull settings (never its URL or credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    camera: Option<CameraPull>,
}

impl StreamView {
    fn without_key(stream: StreamRecord) -> Self {
        StreamView {
            id: stream.id,
            name: stream.name,
            kind: stream.kind,
            device_id: stream.device_id,
            created_at: stream.created_at,
            stream_key: None,
            camera: None,
        }
    }

    fn with_pull(self, pull: Option<CameraPull>) -> Self {
        StreamView { camera: pull, ..self }
    }

    fn with_key(stream: StreamRecord) -> Self {
        let key = stream.issued_key.clone().filter(|_| stream.kind == StreamKind::Push);
        StreamView { stream_key: key, ..StreamView::without_key(stream) }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateStream {
    name: String,
    device_id: Option<String>,
    #[serde(default = "push")]
    kind: StreamKind,
    stream_key: Option<String>,
    camera: Option<CameraSource>,
}

fn push() -> StreamKind {
    StreamKind::Push
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeStream {
    name: Option<String>,
    /// `null` detaches the stream from its device.
    #[serde(default, deserialize_with = "present")]
    device_id: Option<Option<String>>,
    camera: Option<CameraSource>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamFilter {
    device_id: Option<String>,
}

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    QueryParams(filter): QueryParams<StreamFilter>,
) -> Result<Json<Vec<StreamView>>, ApiError> {
    let streams = if caller.user.role.manages_all_streams() {
        state.database().streams(filter.device_id.as_deref()).await?
    } else {
        let visible = state.database().streams_visible_to(&caller.user.id).await?;
        match &filter.device_id {
            Some(device) => visible.into_iter().filter(|stream| stream.device_id.as_ref() == Some(device)).collect(),
            None => visible,
        }
    };
    let pulls = state.database().camera_pulls().await?;
    let view = |stream: StreamRecord| {
        let pull = pulls.get(&stream.id).copied();
        StreamView::without_key(stream).with_pull(pull)
    };
    Ok(Json(streams.into_iter().map(view).collect()))
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateStream>,
) -> Result<(StatusCode, Json<StreamView>), ApiError> {
    caller.require(Role::Operator)?;
    match request.kind {
        StreamKind::Camera if request.camera.is_none() => {
            return Err(ApiError::field("camera", "required for a camera stream"))
        }
        StreamKind::Camera if request.stream_key.is_some() => {
            return Err(ApiError::field("stream_key", "camera streams have no stream key"))
        }
        StreamKind::Push if request.camera.is_some() => {
            return Err(ApiError::field("camera", "only for a camera stream"))
        }
        _ => {}
    }
    if let Some(camera) = &request.camera {
        super::admin::check_outbound(&state, "camera.url", &camera.url).await?;
    }
    let new = NewStream {
        name: request.name,
        device_id: request.device_id,
        stream_key: request.stream_key,
        camera: request.camera,
    };
    let pull = new.camera.as_ref().map(CameraSource::pull);
    let stream = state.database().create_stream(&new).await.map_err(field_errors)?;
    caller.audit(&state, "stream.create", "stream", &stream.id).await?;
    // The origin serves only names it knows.
    state.reload_access().await?;
    Ok((StatusCode::CREATED, Json(StreamView::with_key(stream).with_pull(pull))))
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    let stream = caller.stream_visible(&state, &id).await?;
    let pull = camera_pull(&state, &stream).await?;
    Ok(Json(StreamView::without_key(stream).with_pull(pull)))
}

pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ChangeStream>,
) -> Result<Json<StreamView>, ApiError> {
    let before = caller.stream_with(&state, &id, Right::Manage).await?;
    if let Some(camera) = &request.camera {
        // Where the server connects, with which credentials: not a
        // per-stream right.
        caller.require(Role::Operator)?;
        super::admin::check_outbound(&state, "camera.url", &camera.url).await?;
    }
    let change = StreamChange { name: request.name, device_id: request.device_id, camera: request.camera };
    let stream = state.database().update_stream(&id, &change).await.map_err(field_errors)?;
    caller.audit(&state, "stream.update", "stream", &id).await?;
    if before.name != stream.name {
        // The policy follows the id; the old name stops serving now.
        state.retire_stream_name(&before.name).await?;
    }
    let pull = camera_pull(&state, &stream).await?;
    Ok(Json(StreamView::without_key(stream).with_pull(pull)))
}

async fn camera_pull(state: &ApiState, stream: &StreamRecord) -> Result<Option<CameraPull>, ApiError> {
    if stream.kind != StreamKind::Camera {
        return Ok(None);
    }
    Ok(state.database().camera_source(&stream.id).await?.map(|source| source.pull()))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.stream_with(&state, &id, Right::Manage).await?;
    let deleted = state.database().delete_stream(&id).await?;
    caller.audit(&state, "stream.delete", "stream", &id).await?;
    state.retire_stream_name(&deleted.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drops the stream's publisher now; it may reconnect with a valid key
/// (rotate the key to keep it out).
pub async fn disconnect(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let stream = caller.stream_with(&state, &id, Right::Manage).await?;
    caller.audit(&state, "stream.disconnect", "stream", &id).await?;
    state.disconnect_publisher(&stream.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    caller.stream_with(&state, &id, Right::Manage).await?;
    let stream = state.database().rotate_stream_key(&id).await?;
    caller.audit(&state, "stream.rotate_key", "stream", &id).await?;
    // The old key's publisher goes too.
    state.disconnect_publisher(&stream.name).await?;
    Ok(Json(StreamView::with_key(stream)))
}

/// Name and key problems of the store are field errors of this request.
fn field_errors(error: CatalogError) -> ApiError {
    match error {
        CatalogError::InvalidName(_) => ApiError::field("name", "1 to 64 of a-z 0-9 - _"),
        CatalogError::InvalidKey => ApiError::field("stream_key", "16 to 128 of A-Z a-z 0-9 - _"),
        other => other.into(),
    }
}

/// How the stream is doing now: live or offline and since when, codecs,
/// picture, bitrate, GOP and advice for the encoder.
pub async fn status(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stream = caller.stream_visible(&state, &id).await?;
    let live = match state.status_source() {
        Some(source) => source.status(&stream.name).await.map_err(|error| CatalogError::Internal(error.to_string()))?,
        None => None,
    };
    // What a pod reports is an object; anything else is not a status.
    let mut status = match live {
        Some(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::from_iter([("state".to_owned(), serde_json::json!("offline"))]),
    };
    if !caller.user.role.manages_all_streams() {
        if let Some(serde_json::Value::Object(camera)) = status.get_mut("camera") {
            generic_camera_status(camera);
        }
    }
    status.insert("stream_id".to_owned(), serde_json::Value::String(stream.id));
    status.insert("name".to_owned(), serde_json::Value::String(stream.name));
    Ok(Json(serde_json::Value::Object(status)))
}

/// What a camera's status tells a viewer: whether it works, not where it
/// is or how it fails (a refused connection and a timeout would map the
/// network behind the camera's address).
fn generic_camera_status(camera: &mut serde_json::Map<String, serde_json::Value>) {
    camera.remove("url");
    let failing =
        matches!(camera.get("state").and_then(serde_json::Value::as_str), Some("offline" | "waiting_for_config"));
    if failing {
        camera.insert("reason".to_owned(), serde_json::json!("camera unreachable"));
    }
}
