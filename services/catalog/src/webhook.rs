//! Webhook deliveries: JSON POSTed over HTTP or HTTPS, signed with
//! HMAC-SHA256, retried with exponential backoff. `on_publish` answers
//! allow or deny; the other events are fire and forget.
//!
//! Signature header: `X-Relay-Signature: t=<unix seconds>,v1=<hex>` where
//! the MAC covers `<t>.<body>` under the webhook's secret, so a receiver can
//! refuse replays of old deliveries.
//!
//! The receiver's name is resolved and checked against the
//! [`OutboundPolicy`] before every connection, and the connection goes to
//! the checked address. Redirects are not followed (a 3xx is a failure), so
//! a receiver cannot bounce the request to an address the policy refuses.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::crypto::hmac_sha256_hex;
use crate::error::CatalogError;
use crate::model::{Webhook, WebhookEvent};
use crate::outbound::OutboundPolicy;
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

#[derive(Clone)]
pub struct WebhookSender {
    database: Database,
    retry: RetryPolicy,
    policy: OutboundPolicy,
    /// HTTPS trust; `None`: the system's root certificates.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("WebhookSender").field("retry", &self.retry).field("policy", &self.policy).finish()
    }
}

impl WebhookSender {
    /// A sender that reaches public addresses only.
    pub fn new(database: Database) -> Self {
        WebhookSender { database, retry: RetryPolicy::default(), policy: OutboundPolicy::default(), tls: None }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Which non-public networks receivers may be on.
    pub fn with_policy(mut self, policy: OutboundPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Trusts these roots for HTTPS receivers instead of the system's.
    pub fn with_tls_roots(mut self, roots: rustls::RootCertStore) -> Self {
        self.tls = Some(Arc::new(tls_config(roots)));
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
            match self.deliver(event, &hook, &body).await {
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
            match self.deliver(event, &hook, &body).await {
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

impl WebhookSender {
    /// [`Self::attempt_all`], counted and timed by event and outcome.
    async fn deliver(&self, event: WebhookEvent, hook: &Webhook, body: &[u8]) -> Outcome {
        let started = std::time::Instant::now();
        let outcome = self.attempt_all(hook, body).await;
        let event = event.as_str();
        metrics::histogram!("relay_webhook_delivery_duration_seconds", "event" => event)
            .record(started.elapsed().as_secs_f64());
        let result = match &outcome {
            Outcome::Accepted(_) => "accepted",
            Outcome::Refused(_) => "refused",
            Outcome::Failed(_) => "failed",
        };
        metrics::counter!("relay_webhook_deliveries_total", "event" => event, "outcome" => result).increment(1);
        outcome
    }

    async fn attempt_all(&self, hook: &Webhook, body: &[u8]) -> Outcome {
        let retry = self.retry;
        let mut delay = retry.first_delay;
        let mut last_failure = String::from("no attempt made");
        for attempt in 1..=retry.attempts.max(1) {
            match tokio::time::timeout(retry.timeout, self.post_once(hook, body)).await {
                Ok(Ok((status, answer))) if (200..300).contains(&status) => return Outcome::Accepted(answer),
                Ok(Ok((status, _))) if (400..500).contains(&status) => return Outcome::Refused(status),
                Ok(Ok((status, _))) => last_failure = format!("status {status}"),
                Ok(Err(PostError::Refused(reason))) => return Outcome::Failed(reason),
                Ok(Err(PostError::Failed(reason))) => last_failure = reason,
                Err(_) => last_failure = "timed out".into(),
            }
            if attempt < retry.attempts {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(retry.max_delay);
            }
        }
        Outcome::Failed(last_failure)
    }

    async fn post_once(&self, hook: &Webhook, body: &[u8]) -> Result<(u16, Bytes), PostError> {
        let uri: Uri = hook.url.parse().map_err(|_| PostError::Refused("unusable url".into()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(PostError::Refused("only http:// and https:// receivers are supported".into())),
        };
        let host = uri.host().ok_or_else(|| PostError::Refused("url without host".into()))?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // Refused addresses are not retried: the policy will not change
        // between attempts.
        let addresses =
            self.policy.resolve(host, port).await.map_err(|refused| PostError::Refused(refused.to_string()))?;
        let stream = connect_any(&addresses).await.map_err(PostError::Failed)?;
        let authority = uri.authority().map_or_else(|| host.to_owned(), ToString::to_string);
        let path = uri.path_and_query().map_or("/", |path| path.as_str()).to_owned();
        let request = signed_request(&hook.secret, &path, &authority, body)?;
        if !https {
            return exchange(stream, request).await;
        }
        let name = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())
            .map_err(|_| PostError::Refused("not a valid TLS server name".into()))?;
        let config = self.tls.clone().unwrap_or_else(system_tls);
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name, stream)
            .await
            .map_err(|error| PostError::Failed(format!("TLS: {error}")))?;
        exchange(tls, request).await
    }
}

/// Why one attempt gave no answer.
enum PostError {
    /// Retrying cannot help (the URL or the address is refused).
    Refused(String),
    Failed(String),
}

/// The first of `addresses` that accepts a connection.
async fn connect_any(addresses: &[std::net::SocketAddr]) -> Result<TcpStream, String> {
    let mut last = String::from("no address to connect to");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = format!("{address}: {error}"),
        }
    }
    Err(last)
}

fn signed_request(secret: &str, path: &str, authority: &str, body: &[u8]) -> Result<Request<Full<Bytes>>, PostError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "relay-webhook/1")
        .header(SIGNATURE_HEADER, signature(secret, now, body))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|error| PostError::Refused(error.to_string()))
}

async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), PostError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |error: hyper::Error| PostError::Failed(error.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(failed)?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(failed)?;
    let status = response.status().as_u16();
    let limited = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES);
    let answer = limited.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    Ok((status, answer))
}

fn tls_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
        // ring supports the default versions; nothing to fail.
        Err(_) => unreachable!("ring supports TLS 1.2 and 1.3"),
    }
}

/// The system's root certificates, read once.
fn system_tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                tracing::warn!(%error, "cannot read a system root certificate");
            }
            let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
            if added == 0 {
                tracing::warn!(ignored, "no system root certificates: HTTPS webhooks will fail");
            }
            Arc::new(tls_config(roots))
        })
        .clone()
}
