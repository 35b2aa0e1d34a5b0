//! Users (admins manage them; everyone may change their own password) and API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody};
use crate::error::ApiError;
use crate::state::ApiState;
use catalog::CatalogError;
use catalog::Checks;
use catalog::{ApiKeyInfo, Role, User};
use catalog::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    password: Option<String>,
    /// Required to change your own password.
    current_password: Option<String>,
    role: Option<Role>,
}

fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._@-".contains(&byte))
}

fn valid_password(password: &str) -> bool {
    (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&password.chars().count())
}

const PASSWORD_RULE: &str = "12 to 256 characters";

pub async fn list(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<User>>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(state.database().users().await?))
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    caller.require(Role::Admin)?;
    Checks::default()
        .check(valid_username(&new.username), "username", "1 to 64 of A-Z a-z 0-9 . _ @ -")
        .check(valid_password(&new.password), "password", PASSWORD_RULE)
        .finish()?;
    let hash = state.passwords().hash(&new.password).await?;
    let user = state.database().create_user(&new.username, &hash, new.role).await?;
    caller.audit(&state, "user.create", "user", &user.id).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    if caller.user.id != id {
        caller.require(Role::Admin)?;
    }
    Ok(Json(state.database().user(&id).await?))
}

pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<UserChange>,
) -> Result<Json<User>, ApiError> {
    let is_admin = caller.require(Role::Admin).is_ok();
    if !(is_admin || (caller.user.id == id && change.role.is_none())) {
        return Err(CatalogError::Forbidden.into());
    }
    let own_password = caller.user.id == id && change.password.is_some();
    Checks::default()
        .check(change.password.as_deref().is_none_or(valid_password), "password", PASSWORD_RULE)
        .check(
            !own_password || change.current_password.is_some(),
            "current_password",
            "required to change your own password",
        )
        .check(
            change.current_password.as_deref().is_none_or(|password| password.chars().count() <= MAX_PASSWORD_LEN),
            "current_password",
            "at most 256 characters",
        )
        .finish()?;
    if let (true, Some(current_password)) = (own_password, &change.current_password) {
        // Whoever holds a session (or key) must still know the password to replace it.
        state.check_current_password(&caller.user, current_password, caller.address, "current_password").await?;
    }
    let current = state.database().user(&id).await?;
    if current.role == Role::Admin
        && change.role.is_some_and(|role| role != Role::Admin)
        && state.database().count_admins().await? <= 1
    {
        return Err(CatalogError::InUse("the last admin cannot lose the admin role").into());
    }
    let hash = match &change.password {
        Some(password) => Some(state.passwords().hash(password).await?),
        None => None,
    };
    let user = state.database().update_user(&id, hash.as_deref(), change.role).await?;
    caller.audit(&state, "user.update", "user", &id).await?;
    Ok(Json(user))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    if caller.user.id == id {
        return Err(CatalogError::InUse("you cannot delete yourself").into());
    }
    state.database().delete_user(&id).await?;
    caller.audit(&state, "user.delete", "user", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The longest an API key may live: ten years.
pub(super) const MAX_KEY_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    name: String,
    expires_in_secs: Option<u64>,
}

#[derive(Serialize)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    info: ApiKeyInfo,
    /// Shown only in this response.
    key: String,
}

pub async fn list_keys(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<ApiKeyInfo>>, ApiError> {
    Ok(Json(state.database().api_keys(&caller.user.id).await?))
}

pub async fn create_key(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    Checks::default()
        .check((1..=128).contains(&new.name.chars().count()), "name", "1 to 128 characters")
        .check(
            new.expires_in_secs.is_none_or(|secs| (1..=MAX_KEY_LIFETIME_SECS).contains(&secs)),
            "expires_in_secs",
            "1 to 315360000",
        )
        .finish()?;
    let expires_at = new.expires_in_secs.map(|secs| db::unix_millis().saturating_add(secs as i64 * 1000));
    let (info, key) = state.database().create_api_key(&caller.user.id, &new.name, expires_at).await?;
    caller.audit(&state, "api_key.create", "api_key", &info.id).await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { info, key })))
}

pub async fn delete_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = state.database().api_key(&id).await?;
    if key.user_id != caller.user.id && caller.require(Role::Admin).is_err() {
        // Someone else's key does not exist as far as this caller can tell.
        return Err(CatalogError::NotFound("API key").into());
    }
    state.database().delete_api_key(&id).await?;
    caller.audit(&state, "api_key.delete", "api_key", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
