//! The container image, end to end without a container runtime (none runs
//! here): scripts/image.sh builds it with buildah, umoci unpacks it, and
//! `relay all` runs from the unpacked root under chroot as the image's user,
//! with the image's environment and the chart's command. ffmpeg publishes
//! and reads the stream back.
//!
//! The image is built from this test's (debug) binary, not the release one
//! `make image` uses: the recipe (Containerfile, root filesystem, user, paths,
//! entrypoint, labels) is what is under test, and a release build would add
//! a second full compilation to `make test`.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{hls, http, require_tool, run_with_timeout, tools, Server};
use serde_json::Value;
use testkit::TempDir;

const IMAGE_USER: u32 = 65532;
const DATA_DIR: &str = "/var/lib/relay";

#[test]
fn image_runs_relay_as_its_user_and_serves_a_published_stream() {
    let _turn = common::exclusive();
    // chroot and files owned by 65532 need root; CI runs the suite as root.
    let uid = std::fs::metadata("/proc/self").map(|meta| meta.uid()).unwrap_or(u32::MAX);
    if uid != 0 {
        eprintln!("SKIPPED e2e_image: needs root (chroot, image files owned by {IMAGE_USER}); running as uid {uid}");
        return;
    }
    for tool in ["buildah", "umoci", "objcopy", "chroot", "tar"] {
        require_tool(tool);
    }

    let built = build_image();
    let archive = PathBuf::from(&built["archive"]);
    let tag = built["reference"].rsplit_once(':').map(|(_, tag)| tag.to_string()).expect("reference NAME:TAG");
    assert_eq!(built["reference"], format!("relay-origin/relay:{tag}"), "the chart's default image.repository");

    // An OCI layout is the archive untarred; umoci unpacks it as root, keeping owners.
    let scratch = TempDir::new("relay-image");
    let layout = scratch.join("layout");
    let bundle = scratch.join("bundle");
    std::fs::create_dir_all(&layout).expect("layout dir");
    run(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&layout), "untar the OCI archive");
    run(
        Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:{tag}", layout.display())).arg(&bundle),
        "umoci unpack",
    );
    let rootfs = bundle.join("rootfs");

    // What the image's config says: labels, user, entrypoint, environment.
    let image_config = read_image_config(&layout, &tag);
    let config = &image_config["config"];
    let labels = &config["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], tag.as_str(), "{labels}");
    assert_eq!(labels["org.opencontainers.image.title"], "relay", "{labels}");
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0", "{labels}");
    assert_eq!(config["User"], format!("{IMAGE_USER}:{IMAGE_USER}"));
    assert_eq!(config["WorkingDir"], DATA_DIR);
    assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/bin/relay"]));
    let env: Vec<(String, String)> = config["Env"]
        .as_array()
        .expect("image Env")
        .iter()
        .filter_map(|entry| entry.as_str()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    assert!(env.iter().any(|(name, value)| name == "PATH" && value.split(':').any(|dir| dir == "/usr/bin")), "{env:?}");

    // The root holds what the binary needs and the data directory is the user's.
    let data = rootfs.join(DATA_DIR.trim_start_matches('/'));
    let data_meta = std::fs::metadata(&data).expect("/var/lib/relay in the image");
    assert_eq!((data_meta.uid(), data_meta.gid()), (IMAGE_USER, IMAGE_USER), "owner of {DATA_DIR}");
    assert_eq!(std::fs::metadata(rootfs.join("tmp")).expect("/tmp").permissions().mode() & 0o7777, 0o1777);
    let bundle_pem = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).expect("CA bundle");
    assert!(bundle_pem.matches("BEGIN CERTIFICATE").count() > 100, "CA bundle holds too few certificates");
    assert!(rootfs.join("usr/share/zoneinfo/Europe/Paris").is_file(), "time zones");
    assert!(!rootfs.join("bin/sh").exists(), "the image should have no shell");

    let compressed: u64 = built["compressed_bytes"].parse().expect("compressed_bytes");
    let layers: u64 = read_manifest(&layout, &tag)["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|layer| layer["size"].as_u64())
        .sum();
    let unpacked = disk_usage(&rootfs);
    eprintln!(
        "image {}: OCI archive {:.1} MB, layers {:.1} MB compressed, root filesystem {:.1} MB unpacked (debug binary, stripped)",
        built["reference"],
        mb(compressed),
        mb(layers),
        mb(unpacked)
    );

    // The binary inside reports the version the image is tagged with.
    let version = run(
        Command::new("chroot")
            .arg(format!("--userspec={IMAGE_USER}:{IMAGE_USER}"))
            .arg(&rootfs)
            .args(["/usr/bin/relay", "--version"]),
        "relay --version in the image",
    );
    assert_eq!(version.trim(), format!("relay {tag}"));

    // `relay all` from the image: the chart's command on the image's PATH, as the image's user,
    // with nothing of this machine's environment.
    let mut command = Command::new(require_tool("chroot"));
    command
        .arg(format!("--userspec={IMAGE_USER}:{IMAGE_USER}"))
        .arg(&rootfs)
        .arg(chart_command())
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .env("RUST_LOG", "info");
    let mut server = Server::launch(command, Path::new(DATA_DIR), &[], scratch);

    // Data lands in /var/lib/relay inside the root, written by the image's user.
    let key_file = rootfs.join("var/lib/relay/first-stream.key");
    let key_meta = std::fs::metadata(&key_file).expect("first-stream.key in the image's data dir");
    assert_eq!(key_meta.uid(), IMAGE_USER, "first-stream.key written by the image's user");
    let key = std::fs::read_to_string(&key_file).expect("read first-stream.key");
    assert_eq!(key.trim(), server.stream_key, "the key in the data dir is the one the banner printed");

    // The player's hls.js and the console come from inside the binary: the image has no web/.
    let script = http::get(&server.url("/hls.min.js"), Duration::from_secs(10)).expect("GET /hls.min.js");
    assert_eq!(script.status, 200);
    assert!(
        script.body.len() > 100_000 && script.text().contains("Hls"),
        "/hls.min.js is not hls.js ({} bytes)",
        script.body.len()
    );
    let console = http::get(&server.url("/console"), Duration::from_secs(10)).expect("GET /console");
    assert_eq!(console.status, 200, "{}", console.text());

    let _publisher = tools::spawn_publisher(&server.publish_url(), 30);
    let playlist = hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(45));
    let reader = run_with_timeout(
        Command::new(require_tool("ffmpeg"))
            .args(["-hide_banner", "-nostdin", "-v", "error"])
            .args(["-i", &server.playlist_url])
            .args(["-t", "4", "-f", "null", "-"]),
        Duration::from_secs(60),
    );
    assert!(reader.success(), "ffmpeg could not play the stream from the image: {reader}");

    let init_url = playlist.init_url().unwrap_or_else(|| panic!("no EXT-X-MAP:\n{}", playlist.body));
    let segment_url =
        playlist.segment_urls().last().cloned().unwrap_or_else(|| panic!("no segment:\n{}", playlist.body));
    let mut sample = download(&init_url);
    sample.extend(download(&segment_url));
    let probe_dir = TempDir::new("relay-image-probe");
    let sample_path = probe_dir.join("sample.mp4");
    std::fs::write(&sample_path, &sample).expect("write sample");
    let probe = tools::probe(&sample_path);
    assert!(probe.streams.iter().any(|s| s == "video:h264"), "no H.264 in {segment_url}: {probe:?}");
    assert!(probe.streams.iter().any(|s| s == "audio:aac"), "no AAC in {segment_url}: {probe:?}");
    assert!(probe.video_packets >= 30, "too few video frames in {segment_url}: {probe:?}");
    server.assert_running();
    eprintln!("image: relay all ran from the unpacked image as {IMAGE_USER}; ffmpeg published and played it back");
}

/// scripts/image.sh on this test's binary; its `key=value` lines. The archive
/// is kept under the target dir and reused while its inputs are unchanged.
fn build_image() -> std::collections::HashMap<String, String> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image");
    let mut command = Command::new("bash");
    command
        .arg(common::repo_root().join("scripts/image.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_relay")])
        .arg("--out")
        .arg(&out)
        .env_remove("IMAGE_NAME")
        .env_remove("IMAGE_TAG")
        // Fixed labels and times: a commit that leaves the binary alone reuses the archive.
        .env("IMAGE_REVISION", "e2e-test")
        .env("SOURCE_DATE_EPOCH", "0");
    let finished = run_with_timeout(&mut command, Duration::from_secs(600));
    assert!(finished.success(), "scripts/image.sh failed: {finished}");
    eprint!("{}", finished.stderr);
    finished
        .stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// The chart's `image.command` (one program name under `command:` in values.yaml).
fn chart_command() -> String {
    let values = std::fs::read_to_string(common::repo_root().join("charts/relay/values.yaml")).expect("values.yaml");
    let mut lines = values.lines().skip_while(|line| *line != "image:").skip_while(|line| line.trim() != "command:");
    lines.next();
    let program = lines.next().and_then(|line| line.trim().strip_prefix("- ")).map(str::to_string);
    program.unwrap_or_else(|| panic!("no image.command in charts/relay/values.yaml"))
}

fn read_manifest(layout: &Path, tag: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .and_then(|manifests| {
            manifests.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag))
        })
        .unwrap_or_else(|| panic!("no manifest tagged {tag} in {index}"));
    read_blob(layout, &entry["digest"])
}

fn read_image_config(layout: &Path, tag: &str) -> Value {
    read_blob(layout, &read_manifest(layout, tag)["config"]["digest"])
}

fn read_blob(layout: &Path, digest: &Value) -> Value {
    let digest = digest.as_str().and_then(|d| d.strip_prefix("sha256:")).expect("sha256 digest");
    read_json(&layout.join("blobs/sha256").join(digest))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(command: &mut Command, what: &str) -> String {
    let finished = run_with_timeout(command, Duration::from_secs(120));
    assert!(finished.success(), "{what}: {finished}");
    finished.stdout
}

fn disk_usage(path: &Path) -> u64 {
    let out = run(Command::new("du").arg("-sb").arg(path), "du");
    out.split_whitespace().next().and_then(|bytes| bytes.parse().ok()).expect("du output")
}

fn download(url: &str) -> Vec<u8> {
    let response = http::get(url, Duration::from_secs(10)).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status, 200, "GET {url}");
    response.body
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}
