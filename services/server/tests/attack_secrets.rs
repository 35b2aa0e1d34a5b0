//! Secrets at rest against the real binary: the database never holds a
//! stream key, an RTSP Digest publisher is checked against the stored hash
//! alone (a real ffmpeg, the right user name only), and the embedded
//! server shows its first key again after a restart only while it is
//! still the stream's key; a stream the CLI adds beside a running server
//! publishes with the key it printed once.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::ChildGuard;
use common::{hls, require_tool, run_with_timeout, tools, Server};

const SEGMENTS_WITHIN: Duration = Duration::from_secs(30);

/// ffmpeg pushing the test source over RTSP (interleaved TCP) to `url`.
fn rtsp_publisher(url: &str, seconds: u32) -> Command {
    let mut args = tools::test_source_args(seconds, url);
    let format = args.iter().position(|arg| arg == "flv").expect("the source names its output format");
    args[format] = "rtsp".into();
    args.insert(format - 1, "tcp".into());
    args.insert(format - 1, "-rtsp_transport".into());
    let mut command = Command::new(require_tool("ffmpeg"));
    command.args(args).stdout(Stdio::null());
    command
}

/// Runs `relay streams ARGS --data-dir DIRECTORY`, which ends by printing a
/// new key (48 hex digits), and returns that key.
fn streams_command(args: &[&str], directory: &Path) -> String {
    let finished = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_relay"))
            .arg("streams")
            .args(args)
            .arg("--data-dir")
            .arg(directory)
            .env_remove("RELAY_DATABASE_URL"),
        Duration::from_secs(60),
    );
    assert!(finished.success(), "{finished}");
    let key = finished.stdout.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    assert_eq!(key.len(), 48, "{finished}");
    key
}

/// Every file of the data directory that holds `needle`, except `allowed`.
fn files_holding(directory: &Path, needle: &str, allowed: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().is_some_and(|name| name != allowed) {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|window| window == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn stream_keys_live_only_as_hashes_and_digest_publishers_prove_them() {
    let _turn = common::exclusive();
    let rtsp_port = testkit::free_port();
    let variables = [("RELAY_RTSP_LISTEN", format!("127.0.0.1:{rtsp_port}"))];
    let server = Server::start_with_env(&variables);
    let key = server.stream_key.clone();
    assert_eq!(key.len(), 48, "a fresh key is printed on first start: {key}");

    // Expected: no file of the data directory but first-stream.key holds the key.
    let holding = files_holding(server.data_dir(), &key, "first-stream.key");
    assert!(holding.is_empty(), "the key is stored in {holding:?}");

    // Expected: the right key under another user name is refused (HA1 binds the name).
    let wrong_user = format!("rtsp://someone:{key}@127.0.0.1:{rtsp_port}/live/main");
    let refused = run_with_timeout(&mut rtsp_publisher(&wrong_user, 2), Duration::from_secs(30));
    assert!(!refused.success(), "another user name must not publish: {refused}");
    assert!(refused.to_string().contains("401"), "ffmpeg reports the refusal: {refused}");

    // Expected: user `publisher` with the key publishes; the stream plays over HLS.
    let digest = format!("rtsp://publisher:{key}@127.0.0.1:{rtsp_port}/live/main");
    let _publisher = ChildGuard::spawn("ffmpeg rtsp publisher", &mut rtsp_publisher(&digest, 8));
    let playlist = hls::wait_for_segments(&server.playlist_url, 2, SEGMENTS_WITHIN);
    assert!(playlist.body.contains("#EXT-X-PART:"), "{}", playlist.body);
    drop(_publisher);

    // Expected: after a restart the embedded server shows the same key, still not in the database.
    let directory = server.stop();
    let server = Server::start_in(directory, &variables);
    assert_eq!(server.stream_key, key, "the kept first key is shown again");
    let holding = files_holding(server.data_dir(), &key, "first-stream.key");
    assert!(holding.is_empty(), "the key is stored in {holding:?}");

    // Expected: once rotated (here by the CLI), the old key is never shown again.
    let directory = server.stop();
    let new_key = streams_command(&["rotate-key", "main"], directory.path());
    assert_ne!(new_key, key);
    let mut server = Server::start_in(directory, &variables);
    assert!(server.stream_key.starts_with("shown only when made"), "{}", server.stream_key);
    assert!(files_holding(server.data_dir(), &new_key, "").is_empty(), "the new key is stored nowhere");
    let old_key = format!("rtsp://publisher:{key}@127.0.0.1:{rtsp_port}/live/main");
    let refused = run_with_timeout(&mut rtsp_publisher(&old_key, 2), Duration::from_secs(30));
    assert!(!refused.success() && refused.to_string().contains("401"), "the old key is dead: {refused}");
    server.assert_running();
}

/// `relay streams add` beside a running `relay all`: the key it prints once
/// publishes, and the running server serves the new name within its access
/// refresh (5 s).
#[test]
fn a_stream_the_cli_adds_beside_a_running_server_publishes_and_plays() {
    let _turn = common::exclusive();
    let server = Server::start();
    let key = streams_command(&["add", "from-cli"], server.data_dir());
    assert!(files_holding(server.data_dir(), &key, "").is_empty(), "the CLI's key is stored nowhere");
    let _publisher = tools::spawn_publisher(&server.publish_url_with_key(&key), 12);
    let playlist = hls::wait_for_segments(&server.url("/live/from-cli/index.m3u8"), 2, SEGMENTS_WITHIN);
    assert!(playlist.body.contains("#EXT-X-PART:"), "{}", playlist.body);
}

/// With `http.origin_secret`, someone who found the origin's address cannot
/// watch around the CDN: viewer routes need the header the CDN adds; the
/// API, the console and the probes are not affected.
#[test]
fn viewers_around_the_cdn_are_refused_when_an_origin_secret_is_set() {
    let _turn = common::exclusive();
    let secret = "cdn-origin-secret-0123456789abcdef";
    let server = Server::start_with_env(&[("RELAY_HTTP_ORIGIN_SECRET", secret.to_owned())]);
    let timeout = Duration::from_secs(10);
    let get = |path: &str, headers: &[(&str, &str)]| {
        common::http::send("GET", &server.url(path), headers, None, timeout).unwrap().status
    };
    let from_cdn = [("x-relay-origin-secret", secret)];
    // Expected: 403 without the header or with a wrong one, on playlists, media and the player.
    for path in ["/live/main/index.m3u8", "/live/main/seg1.m4s", "/player.html"] {
        assert_eq!(get(path, &[]), 403, "{path}");
        assert_eq!(get(path, &[("x-relay-origin-secret", "guess")]), 403, "{path}");
    }
    // Expected: through the CDN the origin answers as usual (nothing live yet: 404; the page: 200).
    assert_eq!(get("/live/main/index.m3u8", &from_cdn), 404);
    assert_eq!(get("/player.html", &from_cdn), 200);
    // Expected: the API, the console and the probes do not need it.
    assert_eq!(get("/api/v1/streams", &[]), 401);
    assert_eq!(get("/healthz", &[]), 200);
    assert_eq!(get("/readyz", &[]), 200);
}
