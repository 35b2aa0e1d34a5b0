//! The [tls] section: the certificate of the HTTPS and RTMPS ports, from
//! files or ACME (docs/design/tls.md).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::sections::{non_empty, refuse, Refused};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM certificate chain, leaf first, for the HTTPS and RTMPS ports
    /// (empty: none, unless acme_domains).
    pub certificate_file: String,
    /// PEM private key of certificate_file (empty).
    pub private_key_file: String,
    /// How often both files are checked for a replacement, in ms (10000).
    pub reload_interval_ms: u64,
    /// Domains to get a certificate for from an ACME server (TLS-ALPN-01
    /// on the HTTPS port, which must be reachable on port 443) instead of
    /// the files (none).
    pub acme_domains: Vec<String>,
    /// The ACME directory (Let's Encrypt's production one).
    pub acme_directory_url: String,
    /// Contact address for the ACME account (empty: none).
    pub acme_contact_email: String,
    /// A PEM root certificate to trust for the ACME directory, for a
    /// private or test ACME server (empty: the built-in web roots).
    pub acme_ca_file: String,
    /// Renew this many days before the certificate expires (30).
    pub acme_renew_before_days: u64,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            certificate_file: String::new(),
            private_key_file: String::new(),
            reload_interval_ms: 10_000,
            acme_domains: Vec::new(),
            acme_directory_url: "https://acme-v02.api.letsencrypt.org/directory".into(),
            acme_contact_email: String::new(),
            acme_ca_file: String::new(),
            acme_renew_before_days: 30,
        }
    }
}

impl TlsSection {
    /// The certificate and key files, when configured.
    pub fn files(&self) -> Option<listener::tls::CertificateFiles> {
        let certificate = non_empty(&self.certificate_file)?;
        let private_key = non_empty(&self.private_key_file)?;
        Some(listener::tls::CertificateFiles { certificate: certificate.into(), private_key: private_key.into() })
    }

    /// A certificate is configured, from files or ACME.
    pub fn has_certificate(&self) -> bool {
        self.files().is_some() || !self.acme_domains.is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), Refused> {
        if self.certificate_file.is_empty() != self.private_key_file.is_empty() {
            return refuse("tls.certificate_file", "set both certificate_file and private_key_file, or neither");
        }
        if self.files().is_some() && !self.acme_domains.is_empty() {
            return refuse("tls.acme_domains", "use either certificate files or ACME, not both");
        }
        if !(1000..=3_600_000).contains(&self.reload_interval_ms) {
            return refuse("tls.reload_interval_ms", "must be 1000-3600000");
        }
        for domain in &self.acme_domains {
            let valid = !domain.is_empty()
                && domain.len() <= 253
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
                });
            if !valid {
                return refuse("tls.acme_domains", format!("{domain:?} is not a domain name (no wildcards)"));
            }
        }
        if !self.acme_domains.is_empty() && !self.acme_directory_url.starts_with("https://") {
            return refuse("tls.acme_directory_url", "must be an https:// URL");
        }
        if !(1..=60).contains(&self.acme_renew_before_days) {
            return refuse("tls.acme_renew_before_days", "must be 1-60");
        }
        Ok(())
    }
}

/// An optional listen address: empty for none.
pub fn optional_listen(value: &str) -> Option<SocketAddr> {
    non_empty(value).and_then(|value| value.parse().ok())
}
