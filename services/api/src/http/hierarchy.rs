//! Areas and devices. Everyone signed in may read them; operators change them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::extract::{Caller, JsonBody, QueryParams};
use crate::error::ApiError;
use crate::state::ApiState;
use catalog::Checks;
use catalog::{Area, Device, Role};

pub(crate) fn valid_label(name: &str) -> bool {
    (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control)
}

const LABEL_RULE: &str = "1 to 128 characters, no control characters";
const DESCRIPTION_RULE: &str = "at most 1024 characters";

fn valid_description(description: &str) -> bool {
    description.chars().count() <= 1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewArea {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaChange {
    name: Option<String>,
    description: Option<String>,
}

pub async fn list_areas(State(state): State<ApiState>, _caller: Caller) -> Result<Json<Vec<Area>>, ApiError> {
    Ok(Json(state.database().areas().await?))
}

pub async fn create_area(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewArea>,
) -> Result<(StatusCode, Json<Area>), ApiError> {
    caller.require(Role::Operator)?;
    Checks::default()
        .check(valid_label(&new.name), "name", LABEL_RULE)
        .check(valid_description(&new.description), "description", DESCRIPTION_RULE)
        .finish()?;
    let area = state.database().create_area(&new.name, &new.description).await?;
    caller.audit(&state, "area.create", "area", &area.id).await?;
    Ok((StatusCode::CREATED, Json(area)))
}

pub async fn get_area(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Area>, ApiError> {
    Ok(Json(state.database().area(&id).await?))
}

pub async fn update_area(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<AreaChange>,
) -> Result<Json<Area>, ApiError> {
    caller.require(Role::Operator)?;
    Checks::default()
        .check(change.name.as_deref().is_none_or(valid_label), "name", LABEL_RULE)
        .check(change.description.as_deref().is_none_or(valid_description), "description", DESCRIPTION_RULE)
        .finish()?;
    let area = state.database().update_area(&id, change.name.as_deref(), change.description.as_deref()).await?;
    caller.audit(&state, "area.update", "area", &id).await?;
    Ok(Json(area))
}

pub async fn delete_area(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Operator)?;
    state.database().delete_area(&id).await?;
    caller.audit(&state, "area.delete", "area", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    area_id: String,
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceChange {
    area_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFilter {
    area_id: Option<String>,
}

pub async fn list_devices(
    State(state): State<ApiState>,
    _caller: Caller,
    QueryParams(filter): QueryParams<DeviceFilter>,
) -> Result<Json<Vec<Device>>, ApiError> {
    Ok(Json(state.database().devices(filter.area_id.as_deref()).await?))
}

pub async fn create_device(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewDevice>,
) -> Result<(StatusCode, Json<Device>), ApiError> {
    caller.require(Role::Operator)?;
    Checks::default()
        .check(valid_label(&new.name), "name", LABEL_RULE)
        .check(valid_description(&new.description), "description", DESCRIPTION_RULE)
        .finish()?;
    let device = state.database().create_device(&new.area_id, &new.name, &new.description).await?;
    caller.audit(&state, "device.create", "device", &device.id).await?;
    Ok((StatusCode::CREATED, Json(device)))
}

pub async fn get_device(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Device>, ApiError> {
    Ok(Json(state.database().device(&id).await?))
}

pub async fn update_device(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<DeviceChange>,
) -> Result<Json<Device>, ApiError> {
    caller.require(Role::Operator)?;
    Checks::default()
        .check(change.name.as_deref().is_none_or(valid_label), "name", LABEL_RULE)
        .check(change.description.as_deref().is_none_or(valid_description), "description", DESCRIPTION_RULE)
        .finish()?;
    let device = state
        .database()
        .update_device(&id, change.area_id.as_deref(), change.name.as_deref(), change.description.as_deref())
        .await?;
    caller.audit(&state, "device.update", "device", &id).await?;
    Ok(Json(device))
}

pub async fn delete_device(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Operator)?;
    state.database().delete_device(&id).await?;
    caller.audit(&state, "device.delete", "device", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
