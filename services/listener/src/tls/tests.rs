//! Certificates from PEM files and their reload, with certificates made
//! by rcgen.

use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use super::{certified_key, CertificateFiles, Certificates, PemError, TlsError};
use crate::Shutdown;

struct Pem {
    certificate: String,
    key: String,
}

fn self_signed(name: &str) -> Pem {
    let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    Pem { certificate: made.cert.pem(), key: made.signing_key.serialize_pem() }
}

fn write(directory: &Path, pem: &Pem) -> CertificateFiles {
    let files = CertificateFiles { certificate: directory.join("tls.crt"), private_key: directory.join("tls.key") };
    std::fs::write(&files.certificate, &pem.certificate).unwrap();
    std::fs::write(&files.private_key, &pem.key).unwrap();
    files
}

fn leaf(certificates: &Certificates) -> Vec<u8> {
    certificates.current().unwrap().cert[0].to_vec()
}

fn leaf_of(pem: &Pem) -> Vec<u8> {
    certified_key(pem.certificate.as_bytes(), pem.key.as_bytes()).unwrap().cert[0].to_vec()
}

#[test]
fn a_certificate_and_its_key_load() {
    let pem = self_signed("relay.example");
    let loaded = certified_key(pem.certificate.as_bytes(), pem.key.as_bytes()).unwrap();
    assert_eq!(loaded.cert.len(), 1);
}

#[test]
fn bad_pem_is_refused_with_the_reason() {
    let one = self_signed("one.example");
    let other = self_signed("other.example");
    assert!(matches!(certified_key(one.certificate.as_bytes(), other.key.as_bytes()), Err(PemError::Mismatch)));
    assert!(matches!(certified_key(b"", one.key.as_bytes()), Err(PemError::NoCertificate)));
    assert!(matches!(certified_key(one.certificate.as_bytes(), b"nothing"), Err(PemError::BadKey(_))));
    // A key where the certificate should be: no certificate in it.
    assert!(matches!(certified_key(one.key.as_bytes(), one.key.as_bytes()), Err(PemError::NoCertificate)));
}

#[test]
fn errors_name_the_file_at_fault() {
    let directory = TempDir::new().unwrap();
    let files = write(directory.path(), &self_signed("relay.example"));
    let missing = CertificateFiles { private_key: directory.path().join("absent.key"), ..files.clone() };
    let error = missing.load().unwrap_err();
    assert!(matches!(error, TlsError::Read { .. }));
    assert!(error.to_string().contains("absent.key"), "{error}");

    std::fs::write(&files.private_key, self_signed("other.example").key).unwrap();
    let error = files.load().unwrap_err();
    assert!(matches!(error, TlsError::Mismatch { .. }));
    assert!(error.to_string().contains("tls.key") && error.to_string().contains("tls.crt"), "{error}");
}

/// Ticks the watcher until `done` or a minute of simulated time.
async fn until(certificates: &Certificates, done: impl Fn(&Certificates) -> bool) {
    for _ in 0..60 {
        if done(certificates) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_replaced_certificate_is_served_and_a_bad_one_is_not() {
    let directory = TempDir::new().unwrap();
    let first = self_signed("relay.example");
    let files = write(directory.path(), &first);
    let certificates = Certificates::new();
    certificates.install(files.load().unwrap());
    let stop = Shutdown::new();
    tokio::spawn(files.clone().watch(certificates.clone(), Duration::from_secs(10), stop.clone()));
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(leaf(&certificates), leaf_of(&first), "unchanged files are not reloaded");
    assert_eq!(certificates.snapshot().installed, 1);

    let second = self_signed("relay.example");
    write(directory.path(), &second);
    until(&certificates, |certificates| leaf(certificates) == leaf_of(&second)).await;
    assert_eq!(leaf(&certificates), leaf_of(&second));
    assert_eq!(certificates.snapshot().installed, 2);

    // The key of another certificate: refused once, the second one stays.
    std::fs::write(&files.private_key, self_signed("other.example").key).unwrap();
    until(&certificates, |certificates| certificates.snapshot().reload_failures > 0).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let snapshot = certificates.snapshot();
    assert_eq!((snapshot.reload_failures, snapshot.installed), (1, 2), "{snapshot:?}");
    assert_eq!(leaf(&certificates), leaf_of(&second));
    stop.begin(tokio::time::Instant::now());
}
