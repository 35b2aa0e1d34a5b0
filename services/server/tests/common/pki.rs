//! A throw-away certificate authority for TLS tests: clients trust only it.

use std::net::IpAddr;

pub struct TestPki {
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA certificate, to give clients as their only trust.
    pub ca_pem: String,
}

impl TestPki {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "relay test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Self { ca: rcgen::Issuer::new(params, key), ca_pem }
    }

    /// A new leaf for `names` (DNS names or IP addresses): (certificate PEM, key PEM).
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        for name in names {
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => rcgen::SanType::IpAddress(ip),
                Err(_) => rcgen::SanType::DnsName((*name).try_into().unwrap()),
            };
            params.subject_alt_names.push(san);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.ca).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// A port nothing listens on right now, for a server whose address must be
/// known before it starts (another process may take it meanwhile: rare on
/// loopback, and the test then fails loudly at bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
