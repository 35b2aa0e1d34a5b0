//! TLS end to end with real clients: ffmpeg publishes over RTMPS, curl
//! reads playlists and parts over HTTP/2 and HTTP/1.1 on the HTTPS port
//! trusting only the test CA; a certificate replaced on disk is served
//! without a restart and a bad replacement is not; each port refuses the
//! other's clients at once; a bad certificate stops the start.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pki::TestPki;
use common::{hls, http, require_tool, run_with_timeout, tools, Server};
use testkit::TempDir;

struct Files {
    ca: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
}

impl Files {
    fn write(directory: &Path, pki: &TestPki) -> Self {
        let files = Files {
            ca: directory.join("ca.pem"),
            certificate: directory.join("tls.crt"),
            key: directory.join("tls.key"),
        };
        std::fs::write(&files.ca, &pki.ca_pem).unwrap();
        files.replace(&pki.leaf(&["localhost", "127.0.0.1"]));
        files
    }

    fn replace(&self, (certificate, key): &(String, String)) {
        std::fs::write(&self.certificate, certificate).unwrap();
        std::fs::write(&self.key, key).unwrap();
    }
}

fn tls_env(files: &Files) -> Vec<(&'static str, String)> {
    vec![
        ("RELAY_HTTP_TLS_LISTEN", "127.0.0.1:0".to_string()),
        ("RELAY_RTMP_TLS_LISTEN", "127.0.0.1:0".to_string()),
        ("RELAY_TLS_CERTIFICATE_FILE", files.certificate.display().to_string()),
        ("RELAY_TLS_PRIVATE_KEY_FILE", files.key.display().to_string()),
        ("RELAY_TLS_RELOAD_INTERVAL_MS", "1000".to_string()),
    ]
}

/// curl with the test CA as its only trust; `protocol` is --http2 or --http1.1.
fn curl(ca: &Path, protocol: &str, url: &str) -> common::process::Finished {
    run_with_timeout(
        Command::new(require_tool("curl"))
            .args(["--silent", "--show-error", "--max-time", "10", protocol, "--cacert"])
            .arg(ca)
            .args(["--write-out", "\n%{http_version} %{http_code}", url]),
        Duration::from_secs(15),
    )
}

/// The leaf certificate the HTTPS port serves now, as PEM.
fn served_leaf(https_base: &str) -> String {
    let address = https_base.trim_start_matches("https://");
    let shown = run_with_timeout(
        Command::new(require_tool("openssl")).args(["s_client", "-connect", address, "-servername", "localhost"]),
        Duration::from_secs(10),
    );
    let text = shown.stdout;
    let begin = text.find("-----BEGIN CERTIFICATE-----").unwrap_or_else(|| panic!("no certificate shown:\n{text}"));
    let end = text[begin..].find("-----END CERTIFICATE-----").unwrap() + begin + "-----END CERTIFICATE-----".len();
    text[begin..end].to_string()
}

fn normalized(pem: &str) -> String {
    pem.split_whitespace().collect()
}

#[test]
fn rtmps_in_and_http2_out_with_a_certificate_replaced_on_disk() {
    let _turn = common::exclusive();
    let scratch = TempDir::new("relay-tls");
    let pki = TestPki::new();
    let files = Files::write(scratch.path(), &pki);
    let first_leaf = std::fs::read_to_string(&files.certificate).unwrap();
    let mut server = Server::start_with_env(&tls_env(&files));
    let https = server.https_base.clone().expect("the banner names the HTTPS port");
    let rtmps = server.rtmps_url.clone().expect("the banner names the RTMPS port");
    assert!(rtmps.starts_with("rtmps://"), "{rtmps}");

    let _publisher = tools::spawn_publisher(&format!("{rtmps}/{}", server.stream_key), 40);
    // The plain port serves the same stream; wait there, then read over TLS.
    let playlist = hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(45));
    let media_path = playlist.url.trim_start_matches(&server.http_base).to_string();

    for protocol in ["--http2", "--http1.1"] {
        let fetched = curl(&files.ca, protocol, &format!("{https}{media_path}"));
        assert!(fetched.success(), "{protocol} playlist over TLS: {fetched}");
        let expected_version = if protocol == "--http2" { "2 200" } else { "1.1 200" };
        assert!(fetched.stdout.trim_end().ends_with(expected_version), "{protocol}: {fetched}");
        assert!(fetched.stdout.starts_with("#EXTM3U"), "{protocol}: {fetched}");
        let part = playlist.segment_urls().last().cloned().unwrap();
        let part_path = part.trim_start_matches(&server.http_base);
        let media = curl(&files.ca, protocol, &format!("{https}{part_path}"));
        assert!(media.success() && media.stdout.trim_end().ends_with(expected_version), "{protocol} media: {media}");
    }

    // A console login over HTTP/2 on the TLS port gets a Secure session cookie.
    let password = server.admin_password.clone().expect("first start prints the admin password");
    let login = run_with_timeout(
        Command::new(require_tool("curl"))
            .args(["--silent", "--show-error", "--max-time", "10", "--http2", "--include", "--cacert"])
            .arg(&files.ca)
            .args(["-H", "content-type: application/json", "-H", &format!("origin: {https}")])
            .args(["--data", &format!(r#"{{"username":"admin","password":"{password}"}}"#)])
            .arg(format!("{https}/api/v1/auth/login")),
        Duration::from_secs(15),
    );
    assert!(login.stdout.starts_with("HTTP/2 200"), "login over HTTP/2: {login}");
    let cookie =
        login.stdout.lines().find(|line| line.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_default();
    assert!(cookie.contains("; Secure"), "the session cookie over TLS is Secure: {login}");

    // Each port refuses the other's clients at once.
    let plain_on_tls = run_with_timeout(
        Command::new(require_tool("curl"))
            .args(["--silent", "--max-time", "5", "--write-out", "\n%{http_code}"])
            .arg(format!("{}/healthz", https.replace("https://", "http://"))),
        Duration::from_secs(10),
    );
    assert!(plain_on_tls.stdout.contains("This port speaks HTTPS"), "plain HTTP on the TLS port: {plain_on_tls}");
    assert!(plain_on_tls.stdout.trim_end().ends_with("400"), "{plain_on_tls}");
    assert!(plain_on_tls.elapsed < Duration::from_secs(3), "{plain_on_tls}");
    let tls_on_plain =
        curl(&files.ca, "--http1.1", &format!("{}/healthz", server.http_base.replace("http://", "https://")));
    assert!(!tls_on_plain.success(), "a TLS handshake on the plain port must fail: {tls_on_plain}");
    assert!(tls_on_plain.stderr.contains("alert"), "refused with a TLS alert: {tls_on_plain}");
    assert!(tls_on_plain.elapsed < Duration::from_secs(3), "refused at once, not at a timeout: {tls_on_plain}");

    // A replacement on disk is served without a restart.
    assert_eq!(normalized(&served_leaf(&https)), normalized(&first_leaf));
    let second = pki.leaf(&["localhost", "127.0.0.1"]);
    files.replace(&second);
    let deadline = Instant::now() + Duration::from_secs(15);
    while normalized(&served_leaf(&https)) != normalized(&second.0) {
        assert!(
            Instant::now() < deadline,
            "the replaced certificate was not served; stderr:\n{}",
            server.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A key that is not the certificate's: logged, and the second one stays.
    let (_, other_key) = pki.leaf(&["localhost"]);
    std::fs::write(&files.key, other_key).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.stderr_tail().contains("TLS certificate not reloaded") {
        assert!(Instant::now() < deadline, "the bad key was not reported; stderr:\n{}", server.stderr_tail());
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(normalized(&served_leaf(&https)), normalized(&second.0));
    let still = curl(&files.ca, "--http2", &format!("{https}{media_path}"));
    assert!(still.success(), "still serving after a bad replacement: {still}");

    // Operators see it: the counters, and the certificate's expiry.
    let metrics = http::get(&server.admin_url("/metrics"), Duration::from_secs(5)).unwrap().text();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
    };
    assert_eq!(value("relay_tls_reload_failures_total"), 1.0);
    assert_eq!(value("relay_tls_certificates_installed_total"), 2.0);
    assert!(value("relay_tls_plaintext_refused_total") >= 1.0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(value("relay_tls_certificate_expiry_timestamp_seconds") > now);
    let report = http::get(&server.admin_url("/tls"), Duration::from_secs(5)).unwrap().text();
    assert!(report.contains("\"reload_failures\":1"), "{report}");
    server.assert_running();
}

#[test]
fn a_bad_certificate_or_key_stops_the_start_and_names_the_file() {
    let scratch = TempDir::new("relay-tls-bad");
    let pki = TestPki::new();
    let files = Files::write(scratch.path(), &pki);
    let (_, other_key) = pki.leaf(&["localhost"]);
    let mismatched = scratch.path().join("other.key");
    std::fs::write(&mismatched, other_key).unwrap();
    let missing = scratch.path().join("missing.crt");
    let cases = [
        (files.certificate.clone(), mismatched.clone(), "other.key"),
        (missing.clone(), files.key.clone(), "missing.crt"),
        (files.key.clone(), files.key.clone(), "tls.key"),
    ];
    for (certificate, key, named) in cases {
        let data = TempDir::new("relay-tls-bad-data");
        let started = run_with_timeout(
            Command::new(env!("CARGO_BIN_EXE_relay"))
                .arg("all")
                .args(["--rtmp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir"])
                .arg(data.path())
                .env("RELAY_RTSP_LISTEN", "127.0.0.1:0")
                .env("RELAY_ADMIN_LISTEN", "127.0.0.1:0")
                .env("RELAY_HTTP_TLS_LISTEN", "127.0.0.1:0")
                .env("RELAY_TLS_CERTIFICATE_FILE", &certificate)
                .env("RELAY_TLS_PRIVATE_KEY_FILE", &key),
            Duration::from_secs(30),
        );
        assert!(!started.timed_out() && !started.success(), "must refuse to start: {started}");
        assert!(started.stderr.contains(named), "the error names {named}: {started}");
    }
}

#[test]
fn the_plain_port_redirects_to_https_except_the_probes() {
    let scratch = TempDir::new("relay-tls-redirect");
    let pki = TestPki::new();
    let files = Files::write(scratch.path(), &pki);
    let mut variables = tls_env(&files);
    variables.push(("RELAY_HTTP_REDIRECT_TO_HTTPS", "true".to_string()));
    let server = Server::start_with_env(&variables);
    let https = server.https_base.clone().expect("the banner names the HTTPS port");
    let https_port = https.rsplit(':').next().unwrap();

    let redirected = http::get(&server.url("/live/main/index.m3u8?token=abc"), Duration::from_secs(5)).unwrap();
    assert_eq!(redirected.status, 308);
    assert_eq!(
        redirected.header("location"),
        Some(format!("https://127.0.0.1:{https_port}/live/main/index.m3u8?token=abc").as_str())
    );
    let probe = http::get(&server.url("/healthz"), Duration::from_secs(5)).unwrap();
    assert_eq!((probe.status, probe.text().as_str()), (200, "ok"), "probes stay on plain HTTP");
    let followed = curl(&files.ca, "--http2", &format!("{https}/healthz"));
    assert!(followed.success() && followed.stdout.starts_with("ok"), "{followed}");
}
