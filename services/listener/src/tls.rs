//! TLS for the listeners: one certificate store that every TLS port reads
//! at each handshake, so a certificate replaced on disk (cert-manager) or
//! issued by ACME takes effect without a restart, and a bad replacement
//! keeps the old one. HTTP ports offer HTTP/2 and HTTP/1.1 by ALPN and
//! answer ACME `tls-alpn-01` challenges; stream ports (RTMPS) offer no
//! ALPN. docs/design/tls.md explains the choices.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::Shutdown;

/// The ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// A TLS record starts with its content type; a handshake is 22.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why a certificate or key could not be used; every case names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: no PEM certificate in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: not a PEM certificate chain: {source}", path.display())]
    BadCertificate { path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {source}", path.display())]
    BadKey { path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{}: the private key cannot sign: {source}", path.display())]
    UnusableKey { path: PathBuf, source: rustls::Error },
    #[error("{} is not the private key of the certificate in {}", key.display(), certificate.display())]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error("TLS settings refused: {0}")]
    Config(rustls::Error),
}

/// What the TLS ports serve: the current certificate, and the challenge
/// certificates of ACME TLS-ALPN-01 validations in progress.
#[derive(Debug, Default)]
pub struct Certificates {
    current: ArcSwapOption<CertifiedKey>,
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    stats: TlsStats,
}

/// Counters of the TLS ports and of certificate changes.
#[derive(Debug, Default)]
pub struct TlsStats {
    installed: AtomicU64,
    reload_failures: AtomicU64,
    handshake_failures: AtomicU64,
    plaintext_refused: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsSnapshot {
    /// Certificates put in service (the first one included).
    pub installed: u64,
    /// Replacements on disk that could not be used (the old one stayed).
    pub reload_failures: u64,
    pub handshake_failures: u64,
    /// Plain-text requests answered with "use https" on a TLS port.
    pub plaintext_refused: u64,
}

impl Certificates {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Serves `key` from the next handshake on.
    pub fn install(&self, key: CertifiedKey) {
        self.current.store(Some(Arc::new(key)));
        self.stats.installed.fetch_add(1, Ordering::Relaxed);
    }

    /// The certificate handshakes get now, if any.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }

    /// Answers TLS-ALPN-01 validations of `domain` with `key` until
    /// [`Certificates::clear_challenge`].
    pub fn set_challenge(&self, domain: &str, key: CertifiedKey) {
        self.lock_challenges().insert(domain.to_ascii_lowercase(), Arc::new(key));
    }

    pub fn clear_challenge(&self, domain: &str) {
        self.lock_challenges().remove(&domain.to_ascii_lowercase());
    }

    pub fn snapshot(&self) -> TlsSnapshot {
        let stats = &self.stats;
        TlsSnapshot {
            installed: stats.installed.load(Ordering::Relaxed),
            reload_failures: stats.reload_failures.load(Ordering::Relaxed),
            handshake_failures: stats.handshake_failures.load(Ordering::Relaxed),
            plaintext_refused: stats.plaintext_refused.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn note_handshake_failure(&self) {
        self.stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note_plaintext_refused(&self) {
        self.stats.plaintext_refused.fetch_add(1, Ordering::Relaxed);
    }

    fn lock_challenges(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        // A panic while holding the map cannot leave it half-written.
        self.challenges.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello.alpn().is_some_and(|mut offered| offered.any(|protocol| protocol == ACME_TLS_ALPN));
        if acme {
            let domain = hello.server_name()?.to_ascii_lowercase();
            return self.lock_challenges().get(&domain).cloned();
        }
        self.current()
    }
}

/// The acceptors of the TLS ports, all reading one [`Certificates`].
#[derive(Clone)]
pub struct TlsPorts {
    pub certificates: Arc<Certificates>,
    http: TlsAcceptor,
    stream: TlsAcceptor,
}

impl TlsPorts {
    pub fn new(certificates: Arc<Certificates>) -> Result<Self, TlsError> {
        let http = server_config(&certificates, vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()])?;
        let stream = server_config(&certificates, Vec::new())?;
        Ok(Self { certificates, http: TlsAcceptor::from(http), stream: TlsAcceptor::from(stream) })
    }

    /// For HTTP ports: HTTP/2 and HTTP/1.1 by ALPN.
    pub fn http(&self) -> &TlsAcceptor {
        &self.http
    }

    /// For stream protocols (RTMPS): no ALPN.
    pub fn stream(&self) -> &TlsAcceptor {
        &self.stream
    }
}

fn server_config(certificates: &Arc<Certificates>, alpn: Vec<Vec<u8>>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(certificates.clone());
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// A certificate chain and its private key, PEM, in two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

impl CertificateFiles {
    /// Reads and checks both files: the chain parses, the key parses and
    /// is the certificate's.
    pub fn load(&self) -> Result<CertifiedKey, TlsError> {
        let (certificate, key) = self.read()?;
        self.parse(&certificate, &key)
    }

    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let read = |path: &Path| std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source });
        Ok((read(&self.certificate)?, read(&self.private_key)?))
    }

    fn parse(&self, certificate: &[u8], key: &[u8]) -> Result<CertifiedKey, TlsError> {
        certified_key(certificate, key).map_err(|error| error.naming(self))
    }

    /// Watches both files every `every` until `stop` begins: a change that
    /// loads is served from the next handshake; one that does not is
    /// logged and counted once, and the old certificate stays.
    pub async fn watch(self, certificates: Arc<Certificates>, every: Duration, stop: Shutdown) {
        let mut seen = self.read().ok();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.begun() => return,
            }
            let files = self.clone();
            let Ok(read) = tokio::task::spawn_blocking(move || files.read()).await else { continue };
            let (certificate, key) = match read {
                Ok(contents) => contents,
                Err(error) => {
                    // Mid-rotation a file may be missing for a moment: say so once.
                    if seen.take().is_some() {
                        certificates.stats.reload_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%error, "TLS certificate not reloaded; serving the previous one");
                    }
                    continue;
                }
            };
            if seen
                .as_ref()
                .is_some_and(|(seen_certificate, seen_key)| *seen_certificate == certificate && *seen_key == key)
            {
                continue;
            }
            match self.parse(&certificate, &key) {
                Ok(loaded) => {
                    certificates.install(loaded);
                    tracing::info!(certificate = %self.certificate.display(), "TLS certificate reloaded");
                }
                Err(error) => {
                    certificates.stats.reload_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "TLS certificate not reloaded; serving the previous one");
                }
            }
            seen = Some((certificate, key));
        }
    }
}

/// Why PEM text is not a usable certificate and key, before it is known
/// which files it came from.
#[derive(Debug)]
pub enum PemError {
    NoCertificate,
    BadCertificate(rustls::pki_types::pem::Error),
    BadKey(rustls::pki_types::pem::Error),
    UnusableKey(rustls::Error),
    Mismatch,
}

impl std::fmt::Display for PemError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemError::NoCertificate => formatter.write_str("no PEM certificate"),
            PemError::BadCertificate(error) => write!(formatter, "not a PEM certificate chain: {error}"),
            PemError::BadKey(error) => write!(formatter, "no usable PEM private key: {error}"),
            PemError::UnusableKey(error) => write!(formatter, "the private key cannot sign: {error}"),
            PemError::Mismatch => formatter.write_str("the private key is not the certificate's"),
        }
    }
}

impl std::error::Error for PemError {}

impl PemError {
    fn naming(self, files: &CertificateFiles) -> TlsError {
        let certificate = files.certificate.clone();
        let path = files.private_key.clone();
        match self {
            PemError::NoCertificate => TlsError::NoCertificate { path: certificate },
            PemError::BadCertificate(source) => TlsError::BadCertificate { path: certificate, source },
            PemError::BadKey(source) => TlsError::BadKey { path, source },
            PemError::UnusableKey(source) => TlsError::UnusableKey { path, source },
            PemError::Mismatch => TlsError::Mismatch { certificate, key: path },
        }
    }
}

/// A certificate chain (leaf first) and its private key from PEM text.
pub fn certified_key(certificate_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, PemError> {
    let chain = CertificateDer::pem_slice_iter(certificate_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(PemError::BadCertificate)?;
    if chain.is_empty() {
        return Err(PemError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(PemError::BadKey)?;
    let provider = rustls::crypto::ring::default_provider();
    let signer = provider.key_provider.load_private_key(key).map_err(PemError::UnusableKey)?;
    let certified = CertifiedKey::new(chain, signer);
    // Only a proven mismatch is refused: a leaf this parser cannot read
    // (an extension it does not know, marked critical) is for clients to judge.
    match certified.keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(PemError::Mismatch),
        _ => Ok(certified),
    }
}

#[cfg(test)]
mod tests;
