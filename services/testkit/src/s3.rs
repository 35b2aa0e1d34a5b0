//! A real S3-protocol server for tests: s3s-fs as a child process on a free
//! 127.0.0.1 port, storing buckets as directories under a temporary root and
//! checking every request's signature against one access key.
//!
//! The binary comes from `make deps` (scripts/ensure-deps.sh). Tests fail,
//! rather than skip, when it is missing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use storage::{S3Config, S3Store};
use tokio::process::{Child, Command};

use crate::{free_port, TempDir};

pub const ACCESS_KEY: &str = "relay-test-access";
pub const SECRET_KEY: &str = "relay-test-secret-0123456789";
pub const REGION: &str = "us-east-1";

pub struct S3TestServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Removed when the server is dropped, after s3s-fs has been stopped.
    root: TempDir,
}

impl S3TestServer {
    /// Starts s3s-fs on a fresh root directory. Panics (failing the test)
    /// when the binary is missing or the server does not come up.
    pub async fn start() -> Self {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "s3s-fs not found (looked at $S3S_FS_BIN, $PATH and cargo's bin directory): \
                 run `make deps` to install it"
            )
        });
        let mut server = Self { binary, port: 0, child: None, root: TempDir::new("relay-s3s-fs") };
        for _ in 0..5 {
            server.port = free_port();
            if server.launch().await {
                return server;
            }
        }
        panic!("s3s-fs ({}) did not start listening; `make deps` installs a working one", server.binary.display());
    }

    /// Starts s3s-fs and creates `bucket` through the S3 API.
    pub async fn start_with_bucket(bucket: &str) -> Self {
        let server = Self::start().await;
        let store = S3Store::connect(server.config(bucket)).await.expect("client for s3s-fs");
        store.client().create_bucket().bucket(bucket).send().await.expect("create bucket on s3s-fs");
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where s3s-fs keeps its buckets (one directory each).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Path-style config with the server's credentials and a short attempt
    /// timeout.
    pub fn config(&self, bucket: &str) -> S3Config {
        let mut config = S3Config::new(bucket);
        config.region = Some(REGION.into());
        config.endpoint = Some(self.endpoint());
        config.force_path_style = true;
        config.access_key_id = Some(ACCESS_KEY.into());
        config.secret_access_key = Some(SECRET_KEY.into());
        config.attempt_timeout = Duration::from_secs(5);
        config
    }

    /// Kills the server (an outage); its data stays on disk.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // Closing the watchdog's stdin makes it kill s3s-fs; it exits once s3s-fs has.
        drop(child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port and root.
    pub async fn restart(&mut self) {
        self.stop().await;
        // The port was ours a moment ago; retry briefly in case the kernel
        // has not released it yet.
        for _ in 0..20 {
            if self.launch().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("s3s-fs did not restart on port {}", self.port);
    }

    /// Spawns the process and waits until it accepts connections; false if
    /// it exited first (port taken) or never listened.
    ///
    /// s3s-fs runs under a small shell watchdog that kills it when our end
    /// of the watchdog's stdin closes, which also happens when the test
    /// process dies without running destructors: no server outlives a test.
    async fn launch(&mut self) -> bool {
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("s3s-fs-watchdog")
            .arg(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => panic!("cannot run {}: {error}; run `make deps`", self.binary.display()),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                self.child = Some(child);
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        drop(child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        false
    }
}

/// Runs `"$@"` (s3s-fs) in the background, kills it when stdin reaches EOF,
/// and exits with it. Asynchronous lists get /dev/null as stdin, hence fd 3.
const WATCHDOG: &str = r#"exec 3<&0
"$@" &
server=$!
(read -r _ <&3; kill "$server" 2>/dev/null) &
wait "$server""#;

impl Drop for S3TestServer {
    fn drop(&mut self) {
        // Dropping the child closes the watchdog's stdin, which stops s3s-fs;
        // the root directory goes with the fields, after this.
        self.child = None;
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("S3S_FS_BIN") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let mut candidates: Vec<PathBuf> =
        std::env::var_os("PATH").map(|path| std::env::split_paths(&path).collect()).unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        candidates.push(PathBuf::from(cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo").join("bin"));
    }
    candidates.into_iter().map(|dir| dir.join("s3s-fs")).find(|path| path.is_file())
}
