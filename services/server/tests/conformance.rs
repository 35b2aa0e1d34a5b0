//! LL-HLS conformance of `relay all` with a live ffmpeg publisher: every origin
//! rule the `loadtest` checker can observe from outside must pass, over
//! HTTP/1.1 (a connection per request) and over HTTP/2 on TLS (every
//! blocking reload, preload hint and part multiplexed on one connection).
//!
//! Needs ffmpeg with libx264 on PATH.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use loadtest::{check_hold_timeout, check_stream, Outcome};
use testkit::TempDir;

#[path = "common/pki.rs"]
#[allow(dead_code)]
mod pki;

/// How long the checker watches the stream.
const CHECK_SECONDS: u64 = 18;
/// Publisher runs past the check so the stream is live throughout.
const PUBLISH_SECONDS: u64 = 28;

/// Kills and reaps the child when dropped, so a failing test leaves nothing behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `relay all` announces on stdout once it is ready.
struct Announced {
    rtmp_base: String,
    key: String,
    playlist_url: String,
}

/// Starts `relay all`; with `tls_files` (certificate, key), the playlist
/// URL announced is the HTTPS one.
fn start_relay(data_dir: &TempDir, tls_files: Option<(&std::path::Path, &std::path::Path)>) -> (ChildGuard, Announced) {
    let log = std::fs::File::create(data_dir.join("relay.log")).expect("create relay log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_relay"));
    if let Some((certificate, key)) = tls_files {
        command
            .env("RELAY_HTTP_TLS_LISTEN", "127.0.0.1:0")
            .env("RELAY_TLS_CERTIFICATE_FILE", certificate)
            .env("RELAY_TLS_PRIVATE_KEY_FILE", key);
    }
    let playlist_line = if tls_files.is_some() { "Playlist URL (HTTPS):" } else { "Playlist URL:" };
    let mut child = command
        .args(["all", "--rtmp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .env("RELAY_RTSP_LISTEN", "127.0.0.1:0")
        .env("RELAY_ADMIN_LISTEN", "127.0.0.1:0")
        .args(["--public-host", "127.0.0.1", "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start relay");
    let stdout = child.stdout.take().expect("relay stdout");
    let guard = ChildGuard(child);
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|line: &String| line.starts_with(playlist_line)) {
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("relay did not announce its URLs; got {lines:?}"),
        }
    }
    let field = |prefix: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .map(|value| value.trim().to_string())
            .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:?}"))
    };
    let announced = Announced {
        rtmp_base: field("OBS server URL:"),
        key: field("Stream key:"),
        playlist_url: field(playlist_line),
    };
    (guard, announced)
}

fn start_publisher(url: &str) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &PUBLISH_SECONDS.to_string()])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"])
        .args(["-b:v", "800k", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
        .args(["-c:a", "aac", "-b:a", "96k", "-f", "flv", url])
        .stdout(Stdio::null())
        .spawn()
        .expect("start ffmpeg (is it installed?)");
    ChildGuard(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_follows_ll_hls_origin_rules() {
    let data_dir = TempDir::new("relay-conformance");
    let (relay, announced) = start_relay(&data_dir, None);
    check_all_rules(&data_dir, relay, announced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_follows_ll_hls_origin_rules_over_http2() {
    let data_dir = TempDir::new("relay-conformance-h2");
    let ca = pki::TestPki::new();
    let (certificate, key) = ca.leaf(&["127.0.0.1", "localhost"]);
    let (certificate_file, key_file) = (data_dir.join("tls.crt"), data_dir.join("tls.key"));
    std::fs::write(&certificate_file, certificate).unwrap();
    std::fs::write(&key_file, key).unwrap();
    loadtest::h2::trust_ca_pem(ca.ca_pem.as_bytes()).unwrap();
    let (relay, announced) = start_relay(&data_dir, Some((&certificate_file, &key_file)));
    assert!(announced.playlist_url.starts_with("https://"), "{}", announced.playlist_url);
    let index = loadtest::http::get_str(&announced.playlist_url, Duration::from_secs(10)).await.unwrap();
    assert_eq!(index.protocol, "HTTP/2");
    check_all_rules(&data_dir, relay, announced).await;
}

async fn check_all_rules(data_dir: &TempDir, relay: ChildGuard, announced: Announced) {
    let _relay = relay;
    let publish_url = format!("{}/{}", announced.rtmp_base.trim_end_matches('/'), announced.key);
    let publisher = start_publisher(&publish_url);

    let report = check_stream(&announced.playlist_url, Duration::from_secs(CHECK_SECONDS)).await;
    println!("{report}");
    let mut failed: Vec<String> =
        report.failed().iter().map(|rule| format!("{}: {}", rule.id, rule.details.join(" | "))).collect();

    // With the publisher gone (and within the reconnect grace period) nothing new
    // appears, so a blocking request must time out with 503.
    drop(publisher);
    let timeout_rule = check_hold_timeout(&announced.playlist_url).await;
    println!("{:?} {}: {}", timeout_rule.outcome, timeout_rule.id, timeout_rule.details.join(" | "));
    if timeout_rule.outcome != Outcome::Pass {
        failed.push(format!("{}: {}", timeout_rule.id, timeout_rule.details.join(" | ")));
    }
    if !failed.is_empty() {
        let log = std::fs::read_to_string(data_dir.join("relay.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!("relay log (last lines, newest first):\n{}", tail.join("\n"));
    }
    assert!(failed.is_empty(), "LL-HLS rules failed:\n{}", failed.join("\n"));
}
