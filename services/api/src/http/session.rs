//! Logging in and out, and who am I.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{
    forwarded_https, same_origin, session_cookie_from_headers, Caller, ClientAddress, JsonBody, SESSION_COOKIE,
};
use crate::error::ApiError;

/// Set when the request came over this process's own TLS port.
type TlsPort = Option<axum::Extension<listener::http::ServedOverTls>>;
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
    tls: TlsPort,
    headers: HeaderMap,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    // A login form posted from another site would sign the browser in as the attacker.
    if !same_origin(&headers) {
        return Err(CatalogError::Forbidden.into());
    }
    // Bounded before anything else: the throttle keeps names, argon2 hashes passwords.
    // Characters, as when the password was set (users::valid_password) and in the document.
    Checks::default()
        .check((1..=64).contains(&request.username.chars().count()), "username", "1 to 64 characters")
        .check(request.password.chars().count() <= MAX_PASSWORD_LEN, "password", "at most 256 characters")
        .finish()?;
    let user = state.login(&request.username, &request.password, address).await?;
    let ttl = state.options().session_ttl;
    let token = state.database().create_session(&user.id, i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)).await?;
    let actor = Some((user.id.as_str(), user.username.as_str()));
    state.database().record_audit(actor, &address.to_string(), "session.login", "user", &user.id).await?;
    let cookie = session_cookie(&state, &headers, tls, &token, ttl.as_secs());
    let mut response = Json(Me { user, api_key_id: None }).into_response();
    response.headers_mut().insert(SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| CatalogError::Random)?);
    Ok(response)
}

pub async fn logout(
    State(state): State<ApiState>,
    caller: Caller,
    tls: TlsPort,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie_from_headers(&headers) {
        state.database().delete_session(&token).await?;
    }
    caller.audit(&state, "session.logout", "user", &caller.user.id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = session_cookie(&state, &headers, tls, "", 0);
    response.headers_mut().insert(SET_COOKIE, HeaderValue::from_str(&expired).map_err(|_| CatalogError::Random)?);
    Ok(response)
}

/// The session cookie, `Secure` when configured so, or when the request
/// came over HTTPS: on this process's TLS port or through a proxy.
/// Believing a client that claims HTTPS is safe here: `Secure` only
/// narrows where its own browser sends the cookie.
fn session_cookie(state: &ApiState, headers: &HeaderMap, tls: TlsPort, token: &str, max_age_secs: u64) -> String {
    let https = tls.is_some() || forwarded_https(headers);
    let secure = if state.http_options().secure_cookies || https { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me { user: caller.user, api_key_id: caller.api_key_id })
}
