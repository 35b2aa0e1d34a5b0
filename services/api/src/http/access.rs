//! Per-stream rights, access policies, playback tokens and signing keys.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use access::{scope_covers, AccessPolicy, PlaybackClaims, TokenSigner};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody};
use crate::error::ApiError;
use crate::state::ApiState;
use catalog::SigningKeyInfo;
use catalog::{CatalogError, Checks};
use catalog::{Right, Role};

#[derive(Serialize)]
pub struct UserRights {
    user_id: String,
    username: String,
    rights: BTreeSet<Right>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RightsChange {
    rights: BTreeSet<Right>,
}

pub async fn list_rights(
    State(state): State<ApiState>,
    caller: Caller,
    Path(stream_id): Path<String>,
) -> Result<Json<Vec<UserRights>>, ApiError> {
    caller.stream_with(&state, &stream_id, Right::Manage).await?;
    let mut listed = Vec::new();
    for (user_id, rights) in state.database().stream_rights(&stream_id).await? {
        let user = state.database().user(&user_id).await?;
        listed.push(UserRights { user_id, username: user.username, rights });
    }
    Ok(Json(listed))
}

pub async fn set_rights(
    State(state): State<ApiState>,
    caller: Caller,
    Path((stream_id, user_id)): Path<(String, String)>,
    JsonBody(change): JsonBody<RightsChange>,
) -> Result<Json<UserRights>, ApiError> {
    caller.stream_with(&state, &stream_id, Right::Manage).await?;
    let user = state.database().user(&user_id).await?;
    may_change_rights(&state, &caller, &stream_id, &user_id, &change.rights).await?;
    state.database().set_stream_rights(&user_id, &stream_id, &change.rights).await?;
    caller.audit(&state, "rights.set", "stream", &stream_id).await?;
    Ok(Json(UserRights { user_id, username: user.username, rights: change.rights }))
}

pub async fn delete_rights(
    State(state): State<ApiState>,
    caller: Caller,
    Path((stream_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.stream_with(&state, &stream_id, Right::Manage).await?;
    may_change_rights(&state, &caller, &stream_id, &user_id, &BTreeSet::new()).await?;
    state.database().set_stream_rights(&user_id, &stream_id, &BTreeSet::new()).await?;
    caller.audit(&state, "rights.delete", "stream", &stream_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Operators and admins may set any rights. A user who manages only this
/// stream may hand out the rights they hold except `manage`, and may not
/// change the rights of another manager: otherwise one shared stream
/// would let them make managers, or unmake the one who made them.
async fn may_change_rights(
    state: &ApiState,
    caller: &Caller,
    stream_id: &str,
    user_id: &str,
    rights: &BTreeSet<Right>,
) -> Result<(), ApiError> {
    if caller.user.role.manages_all_streams() {
        return Ok(());
    }
    let mut own = BTreeSet::new();
    let mut theirs = BTreeSet::new();
    for (holder, held) in state.database().stream_rights(stream_id).await? {
        if holder == caller.user.id {
            own = held;
        } else if holder == user_id {
            theirs = held;
        }
    }
    let beyond_own = rights.iter().any(|right| *right == Right::Manage || !own.contains(right));
    let over_a_manager = user_id != caller.user.id && theirs.contains(&Right::Manage);
    if beyond_own || over_a_manager {
        return Err(CatalogError::Forbidden.into());
    }
    Ok(())
}

#[derive(Serialize)]
pub struct PolicyView {
    policy: AccessPolicy,
    /// True when the stream has no policy of its own and the default applies.
    default: bool,
}

pub async fn get_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(stream_id): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    caller.stream_visible(&state, &stream_id).await?;
    let view = match state.database().access_policy(&stream_id).await? {
        Some(policy) => PolicyView { policy, default: false },
        None => PolicyView { policy: state.options().default_policy.clone(), default: true },
    };
    Ok(Json(view))
}

pub async fn set_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    JsonBody(policy): JsonBody<AccessPolicy>,
) -> Result<Json<PolicyView>, ApiError> {
    caller.stream_with(&state, &stream_id, Right::Manage).await?;
    if let AccessPolicy::IpAllowList(networks) = &policy {
        Checks::default().check(networks.len() <= 1000, "allow", "at most 1000 networks").finish()?;
    }
    state.database().set_access_policy(&stream_id, &policy).await?;
    caller.audit(&state, "policy.set", "stream", &stream_id).await?;
    state.reload_access().await?;
    Ok(Json(PolicyView { policy, default: false }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    expires_in_secs: u64,
    client_ip: Option<IpAddr>,
    /// Defaults to the whole stream, `live/<name>/`.
    path_scope: Option<String>,
}

#[derive(Serialize)]
pub struct IssuedToken {
    token: String,
    /// The playlist URL path carrying the token.
    url_path: String,
    /// Unix seconds.
    expires_at: u64,
    kid: String,
}

pub async fn issue_token(
    State(state): State<ApiState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let stream = caller.stream_with(&state, &stream_id, Right::ViewLive).await?;
    let stream_scope = format!("live/{}/", stream.name);
    let scope = request.path_scope.clone().unwrap_or_else(|| stream_scope.clone());
    let max_ttl = state.options().max_token_ttl.as_secs();
    Checks::default()
        .check((1..=max_ttl).contains(&request.expires_in_secs), "expires_in_secs", "1 up to the configured maximum")
        .check(scope_covers(&stream_scope, scope.trim_end_matches('/')), "path_scope", "must lie within live/<stream>/")
        .finish()?;
    // Bound to the stream's id: refused once the name names another stream.
    let mut claims = PlaybackClaims::new(scope, Duration::from_secs(request.expires_in_secs)).for_stream(&stream.id);
    if let Some(ip) = request.client_ip {
        claims = claims.bound_to(ip);
    }
    let (key, new_key) = state.database().current_signing_key().await?;
    let token = TokenSigner::new(&key)
        .issue(&claims)
        .map_err(|_| ApiError::field("path_scope", "plain path segments of A-Z a-z 0-9 . _ ~ -"))?;
    if new_key {
        // The origin must know the key before the token is used.
        state.reload_access().await?;
    }
    caller.audit(&state, "token.issue", "stream", &stream_id).await?;
    let url_path = format!("/t/{token}/live/{}/index.m3u8", stream.name);
    Ok((StatusCode::CREATED, Json(IssuedToken { token, url_path, expires_at: claims.exp, kid: key.kid().to_owned() })))
}

#[derive(Serialize)]
pub struct NewSigningKey {
    #[serde(flatten)]
    info: SigningKeyInfo,
    /// Shown only in this response (for CDN edges that verify tokens).
    secret: String,
}

pub async fn list_signing_keys(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<SigningKeyInfo>>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(state.database().signing_keys().await?))
}

pub async fn rotate_signing_key(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<(StatusCode, Json<NewSigningKey>), ApiError> {
    caller.require(Role::Admin)?;
    let (info, key) = state.database().rotate_signing_key().await?;
    caller.audit(&state, "signing_key.rotate", "signing_key", &info.kid).await?;
    state.reload_access().await?;
    Ok((StatusCode::CREATED, Json(NewSigningKey { info, secret: key.secret().to_owned() })))
}

pub async fn retire_signing_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path(kid): Path<String>,
) -> Result<Json<SigningKeyInfo>, ApiError> {
    caller.require(Role::Admin)?;
    let info = state.database().retire_signing_key(&kid).await?;
    caller.audit(&state, "signing_key.retire", "signing_key", &kid).await?;
    state.reload_access().await?;
    Ok(Json(info))
}
