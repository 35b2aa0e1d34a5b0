//! The control plane as one handle: the database, password hashing and
//! login throttling, webhooks, the playback access control it feeds, and
//! where stream status comes from.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use access::{AccessControl, AccessPolicy};

use crate::auth::{HashingLimits, LoginLimiter, LoginLimits, LoginRefusal, PasswordCost, Passwords};
use crate::error::CatalogError;
use crate::model::{Role, User};
use crate::model::{StreamKind, StreamRecord};
use crate::outbound::OutboundPolicy;
use crate::store::Database;
use crate::webhook::{PublishDecision, RetryPolicy, WebhookSender};

#[derive(Debug, Clone)]
pub struct CatalogOptions {
    /// How long a login session lasts. Default 12 hours.
    pub session_ttl: Duration,
    pub password_cost: PasswordCost,
    /// Failed-login throttling (see `LoginLimits`).
    pub login: LoginLimits,
    /// Password hashes at once, and how long one waits for its turn.
    pub hashing: HashingLimits,
    /// The policy of streams without one, used when rebuilding the origin's access control. Default public.
    pub default_policy: AccessPolicy,
    /// Longest playback token lifetime that may be requested. Default 24 hours.
    pub max_token_ttl: Duration,
    /// Webhook delivery attempts and backoff. Default 4 attempts from 200 ms, 5 s timeout each.
    pub webhook_retry: RetryPolicy,
    /// Which non-public networks webhooks and cameras may reach. Default none.
    pub outbound: OutboundPolicy,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            session_ttl: Duration::from_secs(12 * 3600),
            password_cost: PasswordCost::Recommended,
            login: LoginLimits::default(),
            hashing: HashingLimits::default(),
            default_policy: AccessPolicy::Public,
            max_token_ttl: Duration::from_secs(24 * 3600),
            webhook_retry: RetryPolicy::default(),
            outbound: OutboundPolicy::default(),
        }
    }
}

/// Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    database: Database,
    options: CatalogOptions,
    passwords: Passwords,
    limiter: LoginLimiter,
    access: Option<Arc<AccessControl>>,
    webhooks: WebhookSender,
    status: std::sync::OnceLock<StatusSource>,
    publishers: std::sync::OnceLock<Control>,
}

/// Wraps the publisher control so `Inner` stays `Debug`.
struct Control(Arc<dyn crate::live_control::PublisherControl>);

impl std::fmt::Debug for Control {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PublisherControl")
    }
}

/// Wraps the status source so `Inner` stays `Debug`.
struct StatusSource(Arc<dyn crate::status::StreamStatusSource>);

impl std::fmt::Debug for StatusSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("StatusSource")
    }
}

fn refusal(refusal: LoginRefusal) -> CatalogError {
    match refusal {
        LoginRefusal::Throttled { retry_after_secs } => CatalogError::TooManyRequests { retry_after_secs },
        LoginRefusal::Full => CatalogError::Busy { retry_after_secs: 1 },
    }
}

impl Catalog {
    pub fn new(database: Database, options: CatalogOptions) -> Self {
        Catalog::build(database, options, None)
    }

    /// Policies and signing keys changed through the catalog are pushed
    /// into `access` at once (see [`Catalog::reload_access`]).
    pub fn with_access_control(database: Database, options: CatalogOptions, access: Arc<AccessControl>) -> Self {
        Catalog::build(database, options, Some(access))
    }

    fn build(database: Database, options: CatalogOptions, access: Option<Arc<AccessControl>>) -> Self {
        let passwords = Passwords::with_limits(options.password_cost, options.hashing);
        let limiter = LoginLimiter::new(options.login);
        let webhooks = WebhookSender::new(database.clone())
            .with_retry(options.webhook_retry)
            .with_policy(options.outbound.clone());
        let status = std::sync::OnceLock::new();
        let publishers = std::sync::OnceLock::new();
        Catalog {
            inner: Arc::new(Inner { database, options, passwords, limiter, access, webhooks, status, publishers }),
        }
    }

    /// Where `GET /api/v1/streams/{id}/status` asks; set once at startup.
    pub fn set_status_source(&self, source: Arc<dyn crate::status::StreamStatusSource>) {
        let _ = self.inner.status.set(StatusSource(source));
    }

    pub fn status_source(&self) -> Option<&Arc<dyn crate::status::StreamStatusSource>> {
        self.inner.status.get().map(|source| &source.0)
    }

    /// How publishers are dropped and old names retired; set once at startup.
    pub fn set_publisher_control(&self, control: Arc<dyn crate::live_control::PublisherControl>) {
        let _ = self.inner.publishers.set(Control(control));
    }

    /// Drops the publisher of `stream_name` (key rotated, or asked to).
    pub async fn disconnect_publisher(&self, stream_name: &str) -> Result<(), CatalogError> {
        let Some(Control(control)) = self.inner.publishers.get() else { return Ok(()) };
        control.disconnect(stream_name).await.map_err(|error| CatalogError::Internal(error.to_string()))
    }

    /// Retires `stream_name` after a delete or rename: the origin refuses it
    /// from now on (the access control is reloaded first), its publisher is
    /// dropped and its stored objects purged.
    pub async fn retire_stream_name(&self, stream_name: &str) -> Result<(), CatalogError> {
        self.reload_access().await?;
        let Some(Control(control)) = self.inner.publishers.get() else { return Ok(()) };
        control.retire(stream_name).await.map_err(|error| CatalogError::Internal(error.to_string()))
    }

    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    pub fn options(&self) -> &CatalogOptions {
        &self.inner.options
    }

    /// Where webhooks and cameras may connect.
    pub fn outbound(&self) -> &OutboundPolicy {
        &self.inner.options.outbound
    }

    pub fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    pub fn webhooks(&self) -> &WebhookSender {
        &self.inner.webhooks
    }

    pub fn access_control(&self) -> Option<&Arc<AccessControl>> {
        self.inner.access.as_ref()
    }

    /// Rebuilds policies and verifying keys from the database into the
    /// origin's access control, keeping its client address source, default
    /// and token rules (leeway, longest lifetime).
    pub async fn reload_access(&self) -> Result<(), CatalogError> {
        let Some(control) = &self.inner.access else { return Ok(()) };
        let current = control.snapshot();
        let mut loaded = self.database().access_config(current.default_policy.clone()).await?;
        loaded.verifier.copy_rules_from(&current.verifier);
        control.replace(loaded);
        Ok(())
    }

    /// The user whose `username` and `password` these are, coming from
    /// `address`. The attempt is counted before the password is hashed
    /// (429 while throttled; 503 when hashing has no room); a wrong
    /// password or an unknown user is `Unauthorized`.
    pub async fn login(&self, username: &str, password: &str, address: IpAddr) -> Result<User, CatalogError> {
        let result = self.check_login(username, password, address).await;
        let counted = match &result {
            Ok(_) => "success",
            Err(CatalogError::Unauthorized) => "failure",
            Err(CatalogError::TooManyRequests { .. }) => "throttled",
            Err(CatalogError::Busy { .. }) => "busy",
            Err(_) => "error",
        };
        metrics::counter!("relay_login_attempts_total", "result" => counted).increment(1);
        result
    }

    async fn check_login(&self, username: &str, password: &str, address: IpAddr) -> Result<User, CatalogError> {
        let attempt = self.inner.limiter.begin(username, address).map_err(refusal)?;
        let found = self.database().user_for_login(username).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let valid = match self.passwords().verify(hash, password).await {
            Ok(valid) => valid,
            Err(error @ CatalogError::Busy { .. }) => {
                attempt.not_tried();
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        match user.filter(|_| valid) {
            Some(user) => {
                attempt.succeeded();
                Ok(user)
            }
            None => Err(CatalogError::Unauthorized),
        }
    }

    /// Checks `password` as `user`'s current one, throttled like a login
    /// (a stolen session must not become a password oracle). A wrong
    /// password is a validation failure of `field`.
    pub async fn check_current_password(
        &self,
        user: &User,
        password: &str,
        address: IpAddr,
        field: &str,
    ) -> Result<(), CatalogError> {
        match self.login(&user.username, password, address).await {
            Ok(found) if found.id == user.id => Ok(()),
            Ok(_) | Err(CatalogError::Unauthorized) => Err(CatalogError::field(field, "is not the current password")),
            Err(other) => Err(other),
        }
    }

    /// Reloads the access control from the database every `every`, for
    /// changes made through other API instances sharing the database.
    pub fn spawn_access_refresh(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = state.reload_access().await {
                    tracing::warn!(%error, "cannot reload access control");
                }
            }
        })
    }

    /// Publish authorisation for ingest: the push stream with this key,
    /// when every `on_publish` webhook allows it.
    pub async fn authorize_publish(
        &self,
        stream_key: &str,
        peer: IpAddr,
    ) -> Result<Option<StreamRecord>, CatalogError> {
        let Some(stream) = self.database().stream_by_key(stream_key).await? else { return Ok(None) };
        self.ask_on_publish(stream, peer).await
    }

    /// Publish authorisation for a publisher that proved it knows push
    /// stream `name`'s key without sending it (RTSP Digest against
    /// [`crate::Database::stream_digest_ha1`]).
    pub async fn authorize_proven_publish(
        &self,
        name: &str,
        peer: IpAddr,
    ) -> Result<Option<StreamRecord>, CatalogError> {
        let stream = self.database().stream_by_name(name).await?.filter(|stream| stream.kind == StreamKind::Push);
        let Some(stream) = stream else { return Ok(None) };
        self.ask_on_publish(stream, peer).await
    }

    async fn ask_on_publish(&self, stream: StreamRecord, peer: IpAddr) -> Result<Option<StreamRecord>, CatalogError> {
        match self.webhooks().on_publish(&stream.name, Some(peer)).await {
            PublishDecision::Allow => Ok(Some(stream)),
            PublishDecision::Deny(reason) => {
                tracing::info!(stream = %stream.name, %reason, "publish denied by webhook");
                Ok(None)
            }
        }
    }

    /// Creates user `username` as admin when there is no admin yet, and
    /// returns the generated password to show once.
    pub async fn ensure_admin(&self, username: &str) -> Result<Option<(User, String)>, CatalogError> {
        if self.database().count_admins().await? > 0 {
            return Ok(None);
        }
        let password = crate::crypto::random_hex(12)?;
        let hash = self.passwords().hash(&password).await?;
        let user = self.database().create_user(username, &hash, Role::Admin).await?;
        self.database().record_audit(None, "local", "user.create", "user", &user.id).await?;
        Ok(Some((user, password)))
    }
}
