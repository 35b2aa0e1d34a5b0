//! The certificate of the HTTPS and RTMPS ports: from files, checked at
//! start (a bad file stops the start and is named) and watched for
//! replacement; or from an ACME server ([`crate::acme`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use listener::tls::{Certificates, TlsPorts};
use listener::Shutdown;

use crate::acme::AcmeStatus;
use crate::config::Config;
use crate::error::ServerError;

/// The TLS ports and what keeps their certificate current.
#[derive(Clone)]
pub struct Tls {
    pub ports: TlsPorts,
    /// Set when the certificate comes from ACME.
    pub acme: Option<Arc<AcmeStatus>>,
}

/// The TLS ports' acceptors when a certificate is configured; starts what
/// keeps the certificate current. `None` without TLS.
pub async fn start(config: &Config) -> Result<Option<Tls>, ServerError> {
    let tls = &config.tls;
    if !tls.has_certificate() {
        return Ok(None);
    }
    let certificates = Certificates::new();
    let ports = TlsPorts::new(certificates.clone()).map_err(ServerError::Tls)?;
    let acme = match tls.files() {
        Some(files) => {
            certificates.install(files.load().map_err(ServerError::Tls)?);
            let every = Duration::from_millis(tls.reload_interval_ms);
            // Lives as long as the process: the certificate is needed until the last connection.
            tokio::spawn(files.watch(certificates, every, Shutdown::new()));
            None
        }
        None => Some(crate::acme::start(config, certificates).await?),
    };
    Ok(Some(Tls { ports, acme }))
}

/// What operators see of TLS: in /metrics and at the admin listener's /tls.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TlsReport {
    /// Unix seconds when the served certificate expires (none yet: ACME
    /// has not issued one).
    pub certificate_expires: Option<i64>,
    pub certificates_installed: u64,
    pub reload_failures: u64,
    pub handshake_failures: u64,
    pub plaintext_refused: u64,
    pub acme: Option<AcmeReport>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AcmeReport {
    pub issued: u64,
    pub failures: u64,
    /// Failures since the last certificate was issued.
    pub consecutive_failures: u64,
    pub last_error: String,
}

impl Tls {
    pub fn report(&self) -> TlsReport {
        let certificates = &self.ports.certificates;
        let counters = certificates.snapshot();
        let expires = certificates
            .current()
            .and_then(|current| current.cert.first().and_then(|leaf| leaf_facts(leaf)))
            .map(|(not_after, _)| not_after);
        TlsReport {
            certificate_expires: expires,
            certificates_installed: counters.installed,
            reload_failures: counters.reload_failures,
            handshake_failures: counters.handshake_failures,
            plaintext_refused: counters.plaintext_refused,
            acme: self.acme.as_ref().map(|status| AcmeReport {
                issued: status.issued_total.load(Ordering::Relaxed),
                failures: status.failures_total.load(Ordering::Relaxed),
                consecutive_failures: status.consecutive_failures.load(Ordering::Relaxed),
                last_error: status.last_error(),
            }),
        }
    }
}

/// A leaf certificate's expiry (Unix seconds) and DNS names.
pub fn leaf_facts(leaf: &[u8]) -> Option<(i64, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let not_after = parsed.validity().not_after.timestamp();
    let names = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some((not_after, names))
}
