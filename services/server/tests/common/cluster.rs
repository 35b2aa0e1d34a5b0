//! A cluster on one machine: role processes of `relay` on free loopback
//! ports, sharing one PostgreSQL database and one S3-protocol bucket.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{free_port, TempDir};

use super::process::ChildGuard;

/// The shared secret of the test clusters' internal endpoints.
pub const INTERNAL_SECRET: &str = "test-cluster-internal-secret-0123456789";

/// One `relay ingest|origin|api` process.
pub struct RoleProcess {
    pub name: String,
    pub process: ChildGuard,
    /// RTMP port (ingest only).
    pub rtmp_port: u16,
    /// Public HTTP port (origin, api) or internal endpoint (ingest).
    pub http_port: u16,
    /// The admin listener: /metrics.
    pub admin_port: u16,
    _data_dir: TempDir,
}

impl RoleProcess {
    /// Starts `relay ROLE` with the shared settings plus its own ports, and
    /// waits until /readyz says it is ready. The cluster's internal secret
    /// and an outbound allowance for loopback (test cameras and webhook
    /// receivers) apply unless `shared` says otherwise.
    pub fn start(role: &str, name: &str, shared: &[(&str, String)]) -> RoleProcess {
        let data_dir = TempDir::new(&format!("relay-{name}"));
        let rtmp_port = free_port();
        let http_port = free_port();
        let admin_port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_relay"));
        command.arg(role).stdout(Stdio::null());
        for (variable, _) in std::env::vars_os() {
            if variable.to_string_lossy().starts_with("RELAY_") {
                command.env_remove(variable);
            }
        }
        command
            .env("RELAY_CLUSTER_INTERNAL_SECRET", INTERNAL_SECRET)
            .env("RELAY_OUTBOUND_ALLOW_NETWORKS", "127.0.0.0/8")
            .env("RELAY_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"));
        for (variable, value) in shared {
            command.env(variable, value);
        }
        command
            .env("RELAY_SERVER_DATA_DIR", data_dir.path())
            .env("RELAY_CLUSTER_POD_NAME", name)
            .env("RELAY_RTMP_LISTEN", format!("127.0.0.1:{rtmp_port}"))
            .env("RELAY_RTSP_LISTEN", "127.0.0.1:0")
            .env("RELAY_HTTP_LISTEN", format!("127.0.0.1:{http_port}"))
            .env("RELAY_CLUSTER_INTERNAL_LISTEN", format!("127.0.0.1:{http_port}"))
            .env("RELAY_CLUSTER_ADVERTISE_ADDRESS", format!("127.0.0.1:{http_port}"))
            .env("NO_COLOR", "1");
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let mut process = ChildGuard::spawn(name, &mut command);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = process.try_wait() {
                panic!("{name} exited during startup ({status}); stderr:\n{}", process.stderr_tail());
            }
            let ready = super::http::get(&format!("http://127.0.0.1:{http_port}/readyz"), Duration::from_secs(2));
            if ready.is_ok_and(|response| response.status == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never became ready; stderr:\n{}", process.stderr_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
        RoleProcess { name: name.to_owned(), process, rtmp_port, http_port, admin_port, _data_dir: data_dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    /// GET `path` on an ingest pod's internal endpoint, as a pod of the
    /// cluster asks (with the shared secret).
    pub async fn internal_get(&self, path: &str) -> loadtest::http::Response {
        let url = loadtest::http::Url::parse(&self.url(path)).expect("internal URL");
        let secret = [(cluster::INTERNAL_SECRET_HEADER, INTERNAL_SECRET)];
        loadtest::http::get(&url, &secret, Duration::from_secs(10)).await.expect("internal endpoint answers")
    }

    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }
}

/// The test kit's stand-in camera at rtsp://127.0.0.1:PORT/cam, once it
/// listens.
pub fn start_rtsp_camera(port: u16) -> ChildGuard {
    let mut command = testkit::camera::command(port, &[]);
    command.stdout(Stdio::null());
    let camera = ChildGuard::spawn("rtsp camera", &mut command);
    let deadline = Instant::now() + testkit::camera::STARTUP;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the test camera never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    camera
}
