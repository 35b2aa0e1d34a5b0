//! Helpers shared by the end-to-end tests: a temporary data directory, the
//! `relay all` server under test, external programs (ffmpeg, GStreamer, node)
//! with bounded run times, a tiny HTTP client and playlist helpers.
//!
//! Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

pub mod browser;
pub mod cluster;
pub mod hls;
pub mod http;
pub mod pki;
pub mod process;
pub mod server;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

// Every test binary compiles this module; not all of them use every item.
#[allow(unused_imports)]
pub use process::run_with_timeout;
pub use server::Server;

/// Repository root (the workspace), derived from this crate's manifest dir.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).map(Path::to_path_buf).unwrap_or_else(|| manifest.to_path_buf())
}

/// `cargo test` runs the tests of one binary on parallel threads; the e2e tests
/// encode and decode video in real time, so on a 2-core machine they take turns.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Finds a program on PATH or fails the test: a missing tool is a broken test
/// machine (`make deps` installs them), not a reason to skip.
pub fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!("required program `{name}` is not on PATH; run `make deps` (scripts/ensure-deps.sh)"),
    }
}

/// Fails the test if a file the test depends on is missing.
pub fn require_file(path: &Path, hint: &str) {
    assert!(path.exists(), "missing {}: {hint}", path.display());
}

/// `RELAY_*` variables that point a server at `bucket` on a test S3 server.
pub fn s3_variables(s3: &testkit::s3::S3TestServer, bucket: &str) -> Vec<(&'static str, String)> {
    let config = s3.config(bucket);
    vec![
        ("RELAY_STORAGE_KIND", "s3".to_string()),
        ("RELAY_S3_BUCKET", bucket.to_string()),
        ("RELAY_S3_ENDPOINT", s3.endpoint()),
        ("RELAY_S3_REGION", config.region.unwrap_or_default()),
        ("RELAY_S3_FORCE_PATH_STYLE", "true".to_string()),
        ("RELAY_S3_ACCESS_KEY_ID", config.access_key_id.unwrap_or_default()),
        ("RELAY_S3_SECRET_ACCESS_KEY", config.secret_access_key.unwrap_or_default()),
    ]
}

/// Logs in as the admin the server printed and returns the session's
/// `Cookie` header value.
pub fn admin_cookie(server: &Server) -> String {
    let password = server.admin_password.clone().expect("the first start prints the admin login");
    let body = serde_json::json!({"username": "admin", "password": password}).to_string();
    let login = http::send("POST", &server.url("/api/v1/auth/login"), &[], Some(&body), Duration::from_secs(10))
        .expect("login request");
    assert_eq!(login.status, 200, "{}", login.text());
    login.header("set-cookie").and_then(|value| value.split(';').next()).expect("session cookie").to_owned()
}
