//! Logging in and out, and who am I.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{session_cookie_from_headers, Caller, ClientAddress, JsonBody, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::ApiState;
use catalog::CatalogError;
use catalog::Checks;
use catalog::User;
use catalog::MAX_PASSWORD_LEN;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
pub struct Me {
    user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key_id: Option<String>,
}

pub async fn login(
    State(state): State<ApiState>,
    ClientAddress(address): ClientAddress,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    // Bounded before anything else: the throttle keeps names, argon2 hashes passwords.
    Checks::default()
        .check((1..=64).contains(&request.username.len()), "username", "1 to 64 characters")
        .check(request.password.len() <= MAX_PASSWORD_LEN, "password", "at most 256 characters")
        .finish()?;
    let user_key = format!("user:{}", request.username);
    let keys = [user_key.clone(), format!("ip:{address}")];
    state.limiter().check(&keys).map_err(|retry_after_secs| CatalogError::TooManyRequests { retry_after_secs })?;
    let found = state.database().user_for_login(&request.username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let valid = state.passwords().verify(hash, &request.password).await?;
    let Some(user) = user.filter(|_| valid) else {
        state.limiter().record_failure(&keys);
        return Err(CatalogError::Unauthorized.into());
    };
    state.limiter().clear(&user_key);
    let ttl = state.options().session_ttl;
    let token = state.database().create_session(&user.id, i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)).await?;
    let actor = Some((user.id.as_str(), user.username.as_str()));
    state.database().record_audit(actor, &address.to_string(), "session.login", "user", &user.id).await?;
    let secure = if state.http_options().secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", ttl.as_secs());
    let mut response = Json(Me { user, api_key_id: None }).into_response();
    response.headers_mut().insert(SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| CatalogError::Random)?);
    Ok(response)
}

pub async fn logout(State(state): State<ApiState>, caller: Caller, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie_from_headers(&headers) {
        state.database().delete_session(&token).await?;
    }
    caller.audit(&state, "session.logout", "user", &caller.user.id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    response.headers_mut().insert(SET_COOKIE, HeaderValue::from_str(&expired).map_err(|_| CatalogError::Random)?);
    Ok(response)
}

pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me { user: caller.user, api_key_id: caller.api_key_id })
}
