//! The audit log and webhook receivers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody, QueryParams};
use crate::error::ApiError;
use crate::state::ApiState;
use catalog::AuditQuery;
use catalog::Checks;
use catalog::{AuditEntry, Role, Webhook, WebhookEvent};

pub async fn audit(
    State(state): State<ApiState>,
    caller: Caller,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require(Role::Operator)?;
    let (min, max) = super::AUDIT_LIMIT;
    Checks::default()
        .check(query.limit.is_none_or(|limit| (min..=max).contains(&limit)), "limit", "1 to 1000")
        .finish()?;
    Ok(Json(state.database().audit(&query).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    url: String,
    events: Vec<WebhookEvent>,
    /// Generated when absent.
    secret: Option<String>,
    #[serde(default = "enabled")]
    enabled: bool,
}

fn enabled() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    url: Option<String>,
    events: Option<Vec<WebhookEvent>>,
    enabled: Option<bool>,
}

#[derive(Serialize)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: Webhook,
    /// Shown only in this response.
    secret: String,
}

fn valid_url(url: &str) -> bool {
    url.len() <= 2048
        && url
            .parse::<axum::http::Uri>()
            .is_ok_and(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some())
}

const URL_RULE: &str = "an http:// or https:// URL of at most 2048 characters";

/// A URL the server will connect to must not lead to an address the
/// outbound policy refuses (loopback, link-local, private...): 422 with
/// the reason. A URL that does not parse is left to the other checks.
pub(super) async fn check_outbound(state: &ApiState, field: &str, url: &str) -> Result<(), ApiError> {
    let Some(host) = url.parse::<axum::http::Uri>().ok().and_then(|uri| uri.host().map(str::to_owned)) else {
        return Ok(());
    };
    state.outbound().check_host(&host).await.map_err(|refused| ApiError::field(field, refused.to_string()))
}

fn valid_secret(secret: &str) -> bool {
    (16..=256).contains(&secret.len()) && secret.bytes().all(|byte| byte.is_ascii_graphic())
}

pub async fn list_webhooks(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<Webhook>>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(state.database().webhooks().await?))
}

pub async fn create_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    caller.require(Role::Admin)?;
    Checks::default()
        .check(valid_url(&new.url), "url", URL_RULE)
        .check(!new.events.is_empty(), "events", "at least one of on_publish, on_unpublish, on_play")
        .check(new.secret.as_deref().is_none_or(valid_secret), "secret", "16 to 256 printable ASCII characters")
        .finish()?;
    check_outbound(&state, "url", &new.url).await?;
    let secret = match new.secret {
        Some(secret) => secret,
        None => catalog::random_hex(32)?,
    };
    let mut events = new.events;
    events.dedup();
    let webhook = state.database().create_webhook(&new.url, &events, &secret, new.enabled).await?;
    caller.audit(&state, "webhook.create", "webhook", &webhook.id).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook, secret })))
}

pub async fn get_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(state.database().webhook(&id).await?))
}

pub async fn update_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<WebhookChange>,
) -> Result<Json<Webhook>, ApiError> {
    caller.require(Role::Admin)?;
    Checks::default()
        .check(change.url.as_deref().is_none_or(valid_url), "url", URL_RULE)
        .check(change.events.as_ref().is_none_or(|events| !events.is_empty()), "events", "at least one event")
        .finish()?;
    if let Some(url) = &change.url {
        check_outbound(&state, "url", url).await?;
    }
    let webhook =
        state.database().update_webhook(&id, change.url.as_deref(), change.events.as_deref(), change.enabled).await?;
    caller.audit(&state, "webhook.update", "webhook", &id).await?;
    Ok(Json(webhook))
}

pub async fn delete_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    state.database().delete_webhook(&id).await?;
    caller.audit(&state, "webhook.delete", "webhook", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
