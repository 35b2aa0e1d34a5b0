//! Webhook deliveries: JSON POSTed over plain HTTP, signed with
//! HMAC-SHA256, retried with exponential backoff. `on_publish` answers
//! allow or deny; the other events are fire and forget.
//!
//! Signature header: `X-Relay-Signature: t=<unix seconds>,v1=<hex>` where
//! the MAC covers `<t>.<body>` under the webhook's secret, so a receiver can
//! refuse replays of old deliveries.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::crypto::hmac_sha256_hex;
use crate::error::CatalogError;
use crate::model::{Webhook, WebhookEvent};
use crate::store::Database;

pub const SIGNATURE_HEADER: &str = "x-relay-signature";
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Per attempt: connect, send and read the answer.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookPayload<'a> {
    pub event: WebhookEvent,
    pub stream: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<IpAddr>,
    /// Unix milliseconds.
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishDecision {
    Allow,
    /// The reason is for logs; publishers are only told no.
    Deny(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// 2xx with the body.
    Accepted(Bytes),
    /// 4xx: the receiver said no; not retried.
    Refused(u16),
    /// 5xx or a network failure after every attempt.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct WebhookSender {
    database: Database,
    retry: RetryPolicy,
}

impl WebhookSender {
    pub fn new(database: Database) -> Self {
        WebhookSender { database, retry: RetryPolicy::default() }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Asks every `on_publish` receiver. Allowed when there is none, or when
    /// all answer 2xx without `{"allow": false}`. A receiver that cannot be
    /// reached denies: publishing fails closed.
    pub async fn on_publish(&self, stream: &str, client_ip: Option<IpAddr>) -> PublishDecision {
        self.decide(WebhookEvent::OnPublish, stream, client_ip).await
    }

    /// Asks every `on_play` receiver whether a viewer may start watching,
    /// with the same rules as [`Self::on_publish`].
    pub async fn on_play(&self, stream: &str, client_ip: Option<IpAddr>) -> PublishDecision {
        self.decide(WebhookEvent::OnPlay, stream, client_ip).await
    }

    /// Whether any enabled webhook receives `event`.
    pub async fn has_receivers(&self, event: WebhookEvent) -> Result<bool, CatalogError> {
        Ok(!self.database.webhooks_for(event).await?.is_empty())
    }

    async fn decide(&self, event: WebhookEvent, stream: &str, client_ip: Option<IpAddr>) -> PublishDecision {
        let hooks = match self.database.webhooks_for(event).await {
            Ok(hooks) => hooks,
            Err(error) => return PublishDecision::Deny(format!("cannot read webhooks: {error}")),
        };
        let payload = WebhookPayload { event, stream, client_ip, at: db::unix_millis() };
        let Ok(body) = serde_json::to_vec(&payload) else {
            return PublishDecision::Deny("cannot encode the payload".into());
        };
        for hook in hooks {
            match deliver(&hook, &body, self.retry).await {
                Outcome::Accepted(answer) if allows(&answer) => {}
                Outcome::Accepted(_) => return PublishDecision::Deny(format!("webhook {} denied", hook.id)),
                Outcome::Refused(status) => {
                    return PublishDecision::Deny(format!("webhook {} answered {status}", hook.id));
                }
                Outcome::Failed(reason) => return PublishDecision::Deny(format!("webhook {}: {reason}", hook.id)),
            }
        }
        PublishDecision::Allow
    }

    /// Sends `event` to its receivers in the background.
    pub fn notify(&self, event: WebhookEvent, stream: &str, client_ip: Option<IpAddr>) {
        let sender = self.clone();
        let stream = stream.to_owned();
        tokio::spawn(async move { sender.deliver_all(event, &stream, client_ip).await });
    }

    /// Sends `event` to every receiver and waits; returns how many accepted it.
    pub async fn deliver_all(&self, event: WebhookEvent, stream: &str, client_ip: Option<IpAddr>) -> usize {
        let hooks = match self.database.webhooks_for(event).await {
            Ok(hooks) => hooks,
            Err(error) => {
                tracing::warn!(%error, "cannot read webhooks");
                return 0;
            }
        };
        let payload = WebhookPayload { event, stream, client_ip, at: db::unix_millis() };
        let Ok(body) = serde_json::to_vec(&payload) else { return 0 };
        let mut accepted = 0;
        for hook in hooks {
            match deliver(&hook, &body, self.retry).await {
                Outcome::Accepted(_) => accepted += 1,
                outcome => {
                    tracing::warn!(webhook = %hook.id, event = event.as_str(), ?outcome, "webhook not delivered")
                }
            }
        }
        accepted
    }
}

fn allows(answer: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|value| value.get("allow").and_then(serde_json::Value::as_bool))
        .unwrap_or(true)
}

/// The header value for `body` sent at `unix_secs`.
pub fn signature(secret: &str, unix_secs: u64, body: &[u8]) -> String {
    let mut signed = format!("{unix_secs}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={unix_secs},v1={}", hmac_sha256_hex(secret.as_bytes(), &signed))
}

async fn deliver(hook: &Webhook, body: &[u8], retry: RetryPolicy) -> Outcome {
    let mut delay = retry.first_delay;
    let mut last_failure = String::from("no attempt made");
    for attempt in 1..=retry.attempts.max(1) {
        match tokio::time::timeout(retry.timeout, post_once(hook, body)).await {
            Ok(Ok((status, answer))) if (200..300).contains(&status) => return Outcome::Accepted(answer),
            Ok(Ok((status, _))) if (400..500).contains(&status) => return Outcome::Refused(status),
            Ok(Ok((status, _))) => last_failure = format!("status {status}"),
            Ok(Err(reason)) => last_failure = reason,
            Err(_) => last_failure = "timed out".into(),
        }
        if attempt < retry.attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(retry.max_delay);
        }
    }
    Outcome::Failed(last_failure)
}

async fn post_once(hook: &Webhook, body: &[u8]) -> Result<(u16, Bytes), String> {
    let uri: Uri = hook.url.parse().map_err(|_| "unusable url".to_owned())?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// receivers are supported".into());
    }
    let host = uri.host().ok_or("url without host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|error| error.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let authority = uri.authority().map_or(host.clone(), ToString::to_string);
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri.path_and_query().map_or("/", |path| path.as_str()))
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "relay-webhook/1")
        .header(SIGNATURE_HEADER, signature(&hook.secret, now, body))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|error| error.to_string())?;
    let response = sender.send_request(request).await.map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let limited = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES);
    let answer = limited.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    Ok((status, answer))
}
