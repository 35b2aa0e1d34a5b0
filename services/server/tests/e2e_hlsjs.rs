//! End to end with the viewer most users have: hls.js in (headless) Chromium,
//! driven by tests/browser/play.mjs while ffmpeg publishes in real time.

mod common;

use std::time::Duration;

use common::pki::TestPki;
use common::{hls, http, tools, Server};
use testkit::TempDir;

const PLAY_SECONDS: u64 = 25;

#[test]
fn hlsjs_plays_live_stream_in_low_latency_mode_without_stalls() {
    let browser = common::browser::require();

    let _turn = common::exclusive();
    let server = Server::start();
    let _publisher = tools::spawn_publisher(&server.publish_url(), 60);
    hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(45));

    let page = http::get(&server.player_url, Duration::from_secs(10))
        .unwrap_or_else(|err| panic!("GET {}: {err}", server.player_url));
    assert_eq!(page.status, 200, "player page {}", server.player_url);
    assert!(page.text().to_ascii_lowercase().contains("<video"), "player page has no <video> element");
    // The page's hls.js is embedded at build time from web/node_modules; a
    // build without it serves a stub of a few bytes.
    let script_url = server.url("/hls.min.js");
    let script =
        http::get(&script_url, Duration::from_secs(10)).unwrap_or_else(|err| panic!("GET {script_url}: {err}"));
    assert_eq!(script.status, 200, "GET {script_url}");
    assert!(
        script.body.len() > 100_000,
        "{script_url} is not hls.js ({} bytes): was web/node_modules installed before the build?",
        script.body.len()
    );

    let seconds = PLAY_SECONDS.to_string();
    let report = browser.run("play.mjs", &[&server.playlist_url, &seconds], Duration::from_secs(PLAY_SECONDS + 45));
    eprintln!("hls.js report: {report}");
    eprintln!(
        "hls.js: first frame {} ms, latency to live edge (hls.latency) median {} s, \
         PROGRAM-DATE-TIME latency median {} s, target {} s",
        report["first_frame_ms"],
        report["latency_median_s"],
        report["pdt_latency_median_s"],
        report["target_latency_s"]
    );

    let fatal = &report["fatal_errors"];
    assert!(fatal.as_array().is_some_and(|errors| errors.is_empty()), "hls.js fatal errors: {fatal}; report {report}");
    assert!(
        !report["part_target_s"].is_null(),
        "hls.js did not see EXT-X-PART-INF (not in low-latency mode): {report}"
    );
    let played = report["played_s"].as_f64().unwrap_or(0.0);
    assert!(played >= (PLAY_SECONDS - 5) as f64, "played only {played} s of {PLAY_SECONDS} s: {report}");
    assert_eq!(report["stalls"].as_u64(), Some(0), "playback stalled after the first frame: {report}");
}

/// The same viewer over HTTPS: hls.js fetches playlists and parts over
/// HTTP/2 with the test CA trusted in the browser's own certificate store.
#[test]
fn hlsjs_plays_over_https_and_http2() {
    let browser = common::browser::require();
    let _turn = common::exclusive();
    let scratch = TempDir::new("relay-hlsjs-tls");
    let pki = TestPki::new();
    let (certificate, key) = pki.leaf(&["127.0.0.1", "localhost"]);
    let (certificate_file, key_file) = (scratch.path().join("tls.crt"), scratch.path().join("tls.key"));
    std::fs::write(&certificate_file, certificate).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let home = scratch.path().join("home");
    common::browser::home_trusting(&home, &pki.ca_pem);

    let server = Server::start_with_env(&[
        ("RELAY_HTTP_TLS_LISTEN", "127.0.0.1:0".to_string()),
        ("RELAY_TLS_CERTIFICATE_FILE", certificate_file.display().to_string()),
        ("RELAY_TLS_PRIVATE_KEY_FILE", key_file.display().to_string()),
    ]);
    let https = server.https_base.clone().expect("the banner names the HTTPS port");
    let _publisher = tools::spawn_publisher(&server.publish_url(), 60);
    hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(45));

    let playlist = server.playlist_url.replace(&server.http_base, &https);
    let seconds = PLAY_SECONDS.to_string();
    let report = browser.run_with_env(
        "play.mjs",
        &[&playlist, &seconds],
        &[("HOME", home.as_path())],
        Duration::from_secs(PLAY_SECONDS + 45),
    );
    eprintln!("hls.js over HTTPS report: {report}");
    let fatal = &report["fatal_errors"];
    assert!(fatal.as_array().is_some_and(|errors| errors.is_empty()), "hls.js fatal errors: {fatal}; report {report}");
    assert_eq!(report["protocols"], serde_json::json!(["h2"]), "every stream request over HTTP/2: {report}");
    let played = report["played_s"].as_f64().unwrap_or(0.0);
    assert!(played >= (PLAY_SECONDS - 5) as f64, "played only {played} s of {PLAY_SECONDS} s: {report}");
    assert_eq!(report["stalls"].as_u64(), Some(0), "playback stalled after the first frame: {report}");
}
