//! Certificates from an ACME server (Let's Encrypt) for a single box:
//! TLS-ALPN-01 answered on the HTTPS port itself, the account and the
//! certificate kept in `data_dir/acme` so a restart serves at once and
//! does not order again. Renewal starts `acme_renew_before_days` before
//! expiry; a failure (challenge refused, rate limit, directory
//! unreachable) keeps the current certificate and retries with backoff,
//! and shows in [`AcmeStatus`]. docs/design/tls.md explains the choices.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use listener::tls::{certified_key, Certificates};
use rcgen::{CertificateParams, CustomExtension, KeyPair};

use crate::config::{non_empty, Config};
use crate::error::ServerError;
use crate::tls::leaf_facts;

/// The first retry after a failure; each next one waits twice as long.
const FIRST_RETRY: Duration = Duration::from_secs(60);
/// Retries never wait longer than this.
const LONGEST_RETRY: Duration = Duration::from_secs(6 * 3600);
/// A certificate that never needs renewing is still looked at this often.
const LONGEST_SLEEP: Duration = Duration::from_secs(24 * 3600);
/// How long the ACME server may take to validate and to issue.
const ORDER_PATIENCE: Duration = Duration::from_secs(120);

/// Why an order failed; kept as text in [`AcmeStatus`] for operators.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME server: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("{path}: {error}", path = .path.display())]
    File { path: PathBuf, error: std::io::Error },
    #[error("account file {path}: {error}", path = .path.display())]
    Account { path: PathBuf, error: serde_json::Error },
    #[error("challenge certificate: {0}")]
    ChallengeCertificate(#[from] rcgen::Error),
    #[error("authorization for {domain} is {status:?}; TLS-ALPN-01 must reach this server's HTTPS port on 443")]
    NotAuthorized { domain: String, status: AuthorizationStatus },
    #[error("the ACME server offers no TLS-ALPN-01 challenge for {0}")]
    NoTlsAlpnChallenge(String),
    #[error("order ended {0:?} instead of ready")]
    OrderNotReady(OrderStatus),
    #[error("issued certificate unusable: {0}")]
    Issued(listener::tls::PemError),
}

/// How certificate management is going, for metrics and the admin endpoint.
#[derive(Debug, Default)]
pub struct AcmeStatus {
    /// Unix seconds when the served certificate expires (0: none yet).
    pub not_after: AtomicI64,
    pub issued_total: AtomicU64,
    pub failures_total: AtomicU64,
    /// Failures since the last success.
    pub consecutive_failures: AtomicU64,
    pub last_error: Mutex<String>,
}

impl AcmeStatus {
    pub fn last_error(&self) -> String {
        self.last_error.lock().map(|error| error.clone()).unwrap_or_default()
    }
}

/// Serves the certificate kept from an earlier run, if it is still good
/// for the configured domains, and starts the task that orders and renews.
pub async fn start(config: &Config, certificates: Arc<Certificates>) -> Result<Arc<AcmeStatus>, ServerError> {
    let directory = config.server.data_dir.join("acme");
    create_private_dir(&directory).map_err(|error| ServerError::DataDir { path: directory.clone(), error })?;
    let status = Arc::new(AcmeStatus::default());
    let manager = Manager {
        domains: config.tls.acme_domains.clone(),
        directory_url: config.tls.acme_directory_url.clone(),
        contact: non_empty(&config.tls.acme_contact_email).map(|email| format!("mailto:{email}")),
        ca_file: non_empty(&config.tls.acme_ca_file).map(PathBuf::from),
        renew_before: Duration::from_secs(config.tls.acme_renew_before_days * 86_400),
        directory,
        certificates,
        status: status.clone(),
    };
    match manager.load_kept() {
        Ok(Some(not_after)) => {
            tracing::info!(domains = ?manager.domains, expires = not_after, "ACME: serving the kept certificate");
        }
        Ok(None) => tracing::info!(domains = ?manager.domains, "ACME: no certificate yet; ordering one"),
        Err(error) => tracing::warn!(%error, "ACME: kept certificate not usable; ordering a new one"),
    }
    tokio::spawn(manager.run());
    Ok(status)
}

struct Manager {
    domains: Vec<String>,
    directory_url: String,
    contact: Option<String>,
    ca_file: Option<PathBuf>,
    renew_before: Duration,
    /// data_dir/acme: account.json, certificate.pem, private-key.pem.
    directory: PathBuf,
    certificates: Arc<Certificates>,
    status: Arc<AcmeStatus>,
}

impl Manager {
    fn certificate_path(&self) -> PathBuf {
        self.directory.join("certificate.pem")
    }

    fn key_path(&self) -> PathBuf {
        self.directory.join("private-key.pem")
    }

    fn account_path(&self) -> PathBuf {
        self.directory.join("account.json")
    }

    /// Installs the kept certificate when it covers every domain; its
    /// expiry, or `None` when nothing is kept.
    fn load_kept(&self) -> Result<Option<i64>, AcmeError> {
        let (certificate, key) = match (read(&self.certificate_path()), read(&self.key_path())) {
            (Ok(certificate), Ok(key)) => (certificate, key),
            _ => return Ok(None),
        };
        let certified = certified_key(&certificate, &key).map_err(AcmeError::Issued)?;
        let Some((not_after, names)) = certified.cert.first().and_then(|leaf| leaf_facts(leaf)) else {
            return Ok(None);
        };
        if !self.domains.iter().all(|domain| names.iter().any(|name| name.eq_ignore_ascii_case(domain))) {
            return Ok(None);
        }
        self.certificates.install(certified);
        self.status.not_after.store(not_after, Ordering::Relaxed);
        Ok(Some(not_after))
    }

    async fn run(self) {
        let mut retry = FIRST_RETRY;
        loop {
            let wait = self.until_renewal();
            if !wait.is_zero() {
                tokio::time::sleep(wait.min(LONGEST_SLEEP)).await;
                continue;
            }
            match self.order().await {
                Ok(not_after) => {
                    retry = FIRST_RETRY;
                    self.status.issued_total.fetch_add(1, Ordering::Relaxed);
                    self.status.consecutive_failures.store(0, Ordering::Relaxed);
                    tracing::info!(domains = ?self.domains, expires = not_after, "ACME: certificate issued and served");
                }
                Err(error) => {
                    self.status.failures_total.fetch_add(1, Ordering::Relaxed);
                    self.status.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut last) = self.status.last_error.lock() {
                        *last = error.to_string();
                    }
                    tracing::warn!(%error, retry_in_secs = retry.as_secs(), "ACME: no certificate this time; serving the current one");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LONGEST_RETRY);
                }
            }
        }
    }

    /// Zero when a certificate must be ordered now.
    fn until_renewal(&self) -> Duration {
        let not_after = self.status.not_after.load(Ordering::Relaxed);
        if not_after == 0 {
            return Duration::ZERO;
        }
        let renew_at = UNIX_EPOCH + Duration::from_secs(not_after.max(0) as u64) - self.renew_before;
        renew_at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
    }

    /// One order from account to installed certificate; its expiry.
    async fn order(&self) -> Result<i64, AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self.domains.iter().cloned().map(Identifier::Dns).collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let mut answered = Vec::new();
        let validated = self.answer_challenges(&mut order, &mut answered).await;
        let result = match validated {
            Ok(()) => self.finish(&mut order).await,
            Err(error) => Err(error),
        };
        for domain in answered {
            self.certificates.clear_challenge(&domain);
        }
        result
    }

    async fn answer_challenges(
        &self,
        order: &mut instant_acme::Order,
        answered: &mut Vec<String>,
    ) -> Result<(), AcmeError> {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            let domain = authorization.identifier().to_string();
            match authorization.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                status => return Err(AcmeError::NotAuthorized { domain, status }),
            }
            let mut challenge = authorization
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or_else(|| AcmeError::NoTlsAlpnChallenge(domain.clone()))?;
            let digest = challenge.key_authorization().digest();
            self.certificates.set_challenge(&domain, challenge_certificate(&domain, digest.as_ref())?);
            answered.push(domain);
            challenge.set_ready().await?;
        }
        Ok(())
    }

    async fn finish(&self, order: &mut instant_acme::Order) -> Result<i64, AcmeError> {
        let patience = RetryPolicy::new().timeout(ORDER_PATIENCE);
        let status = order.poll_ready(&patience).await?;
        if status != OrderStatus::Ready {
            return Err(AcmeError::OrderNotReady(status));
        }
        let key = order.finalize().await?;
        let chain = order.poll_certificate(&patience).await?;
        let certified = certified_key(chain.as_bytes(), key.as_bytes()).map_err(AcmeError::Issued)?;
        let not_after = certified.cert.first().and_then(|leaf| leaf_facts(leaf)).map_or(0, |(not_after, _)| not_after);
        // Kept before it is served, so a crash right after cannot lose it.
        write_private(&self.key_path(), key.as_bytes())?;
        write_private(&self.certificate_path(), chain.as_bytes())?;
        self.certificates.install(certified);
        self.status.not_after.store(not_after, Ordering::Relaxed);
        Ok(not_after)
    }

    /// The kept account, or a new one (kept for the next order).
    async fn account(&self) -> Result<Account, AcmeError> {
        let builder = match &self.ca_file {
            Some(ca_file) => Account::builder_with_root(ca_file)?,
            None => Account::builder()?,
        };
        let path = self.account_path();
        if let Ok(text) = read(&path) {
            let credentials: AccountCredentials =
                serde_json::from_slice(&text).map_err(|error| AcmeError::Account { path: path.clone(), error })?;
            return Ok(builder.from_credentials(credentials).await?);
        }
        let contact: Vec<&str> = self.contact.iter().map(String::as_str).collect();
        let new_account = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
        let (account, credentials) = builder.create(&new_account, self.directory_url.clone(), None).await?;
        let text =
            serde_json::to_vec(&credentials).map_err(|error| AcmeError::Account { path: path.clone(), error })?;
        write_private(&path, &text)?;
        Ok(account)
    }
}

/// The self-signed certificate that proves control of `domain` to a
/// TLS-ALPN-01 validation (RFC 8737): the domain and the key
/// authorization's digest in the acmeIdentifier extension.
fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<rustls::sign::CertifiedKey, AcmeError> {
    let mut params = CertificateParams::new(vec![domain.to_owned()])?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let key = KeyPair::generate()?;
    let certificate = params.self_signed(&key)?;
    certified_key(certificate.pem().as_bytes(), key.serialize_pem().as_bytes()).map_err(AcmeError::Issued)
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Writes through a temporary file and a rename, readable by the owner only.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), AcmeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let file_error = |error| AcmeError::File { path: path.to_owned(), error };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(file_error)?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(file_error)?;
    std::fs::rename(&temporary, path).map_err(file_error)
}
