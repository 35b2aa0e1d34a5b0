//! ACME for real, against pebble (Let's Encrypt's test server) with its
//! DNS stand-in: `relay all` orders a certificate for relay.test, answers
//! the TLS-ALPN-01 challenge on its HTTPS port, serves the issued chain,
//! keeps it across a restart without ordering again; with the directory
//! unreachable it starts anyway, serves plain HTTP and reports the failure.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::pki::{free_port, TestPki};
use common::process::ChildGuard;
use common::{http, require_tool, run_with_timeout, Server};
use testkit::TempDir;

const DOMAIN: &str = "relay.test";

/// pebble and pebble-challtestsrv answering every name with 127.0.0.1.
struct Pebble {
    _dns: ChildGuard,
    _pebble: ChildGuard,
    directory_url: String,
    management: String,
    /// Trusted by relay for the directory (pebble's own HTTPS certificate).
    ca_file: std::path::PathBuf,
}

impl Pebble {
    /// Validations of TLS-ALPN-01 go to `tls_port` on 127.0.0.1.
    fn start(scratch: &Path, tls_port: u16) -> Pebble {
        let pki = TestPki::new();
        let (certificate, key) = pki.leaf(&["localhost", "127.0.0.1"]);
        let ca_file = scratch.join("pebble-ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).unwrap();
        std::fs::write(scratch.join("pebble.crt"), certificate).unwrap();
        std::fs::write(scratch.join("pebble.key"), key).unwrap();
        let (acme_port, management_port, dns_port, dns_management_port) =
            (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{acme_port}"),
                "managementListenAddress": format!("127.0.0.1:{management_port}"),
                "certificate": scratch.join("pebble.crt"),
                "privateKey": scratch.join("pebble.key"),
                "httpPort": free_port(),
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_file = scratch.join("pebble.json");
        std::fs::write(&config_file, config.to_string()).unwrap();

        let dns = ChildGuard::spawn(
            "pebble-challtestsrv",
            Command::new(require_tool("pebble-challtestsrv"))
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-management", &format!("127.0.0.1:{dns_management_port}")]),
        );
        let pebble = ChildGuard::spawn(
            "pebble",
            Command::new(require_tool("pebble"))
                .arg("-config")
                .arg(&config_file)
                .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
                // Validate at once, accept every nonce, and always validate anew.
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0"),
        );
        wait_for_port(acme_port);
        wait_for_port(management_port);
        Pebble {
            _dns: dns,
            _pebble: pebble,
            directory_url: format!("https://127.0.0.1:{acme_port}/dir"),
            management: format!("https://127.0.0.1:{management_port}"),
            ca_file,
        }
    }

    /// The root that signs what pebble issues (made anew at each start).
    fn issuing_root(&self, scratch: &Path) -> std::path::PathBuf {
        let fetched = run_with_timeout(
            Command::new(require_tool("curl"))
                .args(["--silent", "--show-error", "--fail", "--cacert"])
                .arg(&self.ca_file)
                .arg(format!("{}/roots/0", self.management)),
            Duration::from_secs(10),
        );
        assert!(fetched.success() && fetched.stdout.contains("BEGIN CERTIFICATE"), "pebble's root: {fetched}");
        let path = scratch.join("pebble-root.pem");
        std::fs::write(&path, fetched.stdout).unwrap();
        path
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn acme_env(pebble_directory: &str, ca_file: &Path, https_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("RELAY_HTTP_TLS_LISTEN", format!("127.0.0.1:{https_port}")),
        ("RELAY_TLS_ACME_DOMAINS", DOMAIN.to_string()),
        ("RELAY_TLS_ACME_DIRECTORY_URL", pebble_directory.to_string()),
        ("RELAY_TLS_ACME_CA_FILE", ca_file.display().to_string()),
        ("RELAY_TLS_ACME_CONTACT_EMAIL", "ops@relay.test".to_string()),
    ]
}

/// The admin listener's /tls report.
fn tls_report(server: &Server) -> serde_json::Value {
    let text = http::get(&server.admin_url("/tls"), Duration::from_secs(5)).unwrap().text();
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("/tls is not JSON ({error}): {text}"))
}

fn wait_for_report(server: &Server, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report = tls_report(server);
        if done(&report) {
            return report;
        }
        assert!(Instant::now() < deadline, "{what}: {report}\nstderr:\n{}", server.stderr_tail());
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// GET /healthz on the HTTPS port as relay.test, trusting only `root`.
fn healthz_over_tls(https_port: u16, root: &Path) -> common::process::Finished {
    run_with_timeout(
        Command::new(require_tool("curl"))
            .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
            .arg(root)
            .args(["--resolve", &format!("{DOMAIN}:{https_port}:127.0.0.1")])
            .arg(format!("https://{DOMAIN}:{https_port}/healthz")),
        Duration::from_secs(15),
    )
}

#[test]
fn a_certificate_is_ordered_served_and_kept_across_a_restart() {
    let scratch = TempDir::new("relay-acme");
    let https_port = free_port();
    let pebble = Pebble::start(scratch.path(), https_port);
    let variables = acme_env(&pebble.directory_url, &pebble.ca_file, https_port);

    let server = Server::start_with_env(&variables);
    let report = wait_for_report(&server, "no certificate issued", |report| report["acme"]["issued"] == 1);
    assert_eq!(report["acme"]["consecutive_failures"], 0, "{report}");
    assert!(report["certificate_expires"].as_i64().unwrap_or(0) > 0, "{report}");
    let root = pebble.issuing_root(scratch.path());
    let fetched = healthz_over_tls(https_port, &root);
    assert!(fetched.success() && fetched.stdout == "ok", "HTTPS with the issued certificate: {fetched}");
    let account = server.data_dir().join("acme/account.json");
    let key = server.data_dir().join("acme/private-key.pem");
    for kept in [&account, &key] {
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(kept).unwrap().permissions());
        assert_eq!(mode & 0o077, 0, "{} must be private", kept.display());
    }

    // A restart serves the kept certificate at once and orders nothing.
    let data_dir = server.stop();
    let server = Server::start_in(data_dir, &variables);
    let fetched = healthz_over_tls(https_port, &root);
    assert!(fetched.success() && fetched.stdout == "ok", "HTTPS right after the restart: {fetched}");
    std::thread::sleep(Duration::from_secs(2));
    let report = tls_report(&server);
    assert_eq!(report["acme"]["issued"], 0, "the kept certificate is not due: {report}");
    assert!(server.stderr_tail().contains("serving the kept certificate"), "{}", server.stderr_tail());
}

#[test]
fn an_unreachable_directory_is_reported_and_plain_http_keeps_serving() {
    let scratch = TempDir::new("relay-acme-down");
    let ca_file = scratch.path().join("ca.pem");
    std::fs::write(&ca_file, TestPki::new().ca_pem).unwrap();
    let https_port = free_port();
    let closed = format!("https://127.0.0.1:{}/dir", free_port());
    let server = Server::start_with_env(&acme_env(&closed, &ca_file, https_port));
    let report = wait_for_report(&server, "the failure is not reported", |report| {
        report["acme"]["consecutive_failures"].as_u64().unwrap_or(0) >= 1
    });
    let error = report["acme"]["last_error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "{report}");
    assert!(report["certificate_expires"].is_null(), "{report}");
    let metrics = http::get(&server.admin_url("/metrics"), Duration::from_secs(5)).unwrap().text();
    assert!(metrics.lines().any(|line| line == "relay_acme_consecutive_failures 1"), "{metrics}");
    // Viewers on plain HTTP are not affected; the HTTPS port refuses handshakes at once.
    let healthz = http::get(&server.url("/healthz"), Duration::from_secs(5)).unwrap();
    assert_eq!(healthz.text(), "ok");
    let refused = healthz_over_tls(https_port, &ca_file);
    assert!(!refused.success() && refused.elapsed < Duration::from_secs(5), "{refused}");
}
