//! The server under test: `relay all` on loopback with port 0 listeners and
//! a fresh data directory, configured from the four lines it prints.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::process::ChildGuard;
use testkit::TempDir;

/// Debug builds on a loaded 2-core machine can be slow to open the database.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `relay all`. Dropping it kills the process, then removes its
/// data directory (field order matters: the process goes first).
pub struct Server {
    /// `rtmp://HOST:PORT/live`, the "server URL" an OBS user types.
    pub rtmp_url: String,
    pub stream_key: String,
    pub player_url: String,
    /// Multivariant playlist of the default stream.
    pub playlist_url: String,
    /// `http://HOST:PORT`
    pub http_base: String,
    /// `http://HOST:PORT` of the admin listener (/metrics).
    pub admin_base: String,
    /// The console's first admin password, printed once on first start.
    pub admin_password: Option<String>,
    /// `https://HOST:PORT`, when RELAY_HTTP_TLS_LISTEN is set.
    pub https_base: Option<String>,
    /// `rtmps://HOST:PORT/live`, when RELAY_RTMP_TLS_LISTEN is set.
    pub rtmps_url: Option<String>,
    process: ChildGuard,
    data_dir: TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with_env(&[])
    }

    /// Starts the server with extra RELAY_* configuration variables. Test
    /// cameras and webhook receivers listen on loopback, so outbound
    /// connections to 127.0.0.0/8 are allowed unless `variables` set
    /// RELAY_OUTBOUND_ALLOW_NETWORKS.
    pub fn start_with_env(variables: &[(&str, String)]) -> Server {
        Server::start_in(TempDir::new("relay-e2e"), variables)
    }

    /// [`Server::start_with_env`] on an existing data directory (a restart:
    /// see [`Server::stop`]).
    pub fn start_in(data_dir: TempDir, variables: &[(&str, String)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_relay"));
        // The server reads RELAY_* variables as configuration; the test's own
        // arguments must be the whole configuration.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("RELAY_") {
                command.env_remove(name);
            }
        }
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let path = data_dir.path().to_path_buf();
        Server::launch(command, &path, variables, data_dir)
    }

    /// Starts `command` (relay, or what runs it: `chroot ... relay`) as
    /// `relay all` on loopback with `data_dir` (as the server sees it), and
    /// waits for its banner. `owned` is removed once the server is stopped.
    pub fn launch(mut command: Command, data_dir: &Path, variables: &[(&str, String)], owned: TempDir) -> Server {
        command
            .arg("all")
            .args(["--rtmp-listen", "127.0.0.1:0"])
            .args(["--http-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--public-host", "127.0.0.1"])
            .stdout(Stdio::piped());
        // Tests run side by side: no fixed ports.
        command.env("RELAY_RTSP_LISTEN", "127.0.0.1:0").env("RELAY_ADMIN_LISTEN", "127.0.0.1:0");
        command.env("RELAY_OUTBOUND_ALLOW_NETWORKS", "127.0.0.0/8");
        for (name, value) in variables {
            command.env(name, value);
        }
        command.env("NO_COLOR", "1");
        let mut process = ChildGuard::spawn("relay", &mut command);
        let lines = follow_stdout(&mut process);

        let wants = |name: &str| variables.iter().any(|(variable, _)| *variable == name);
        let mut banner = Banner {
            want_https: wants("RELAY_HTTP_TLS_LISTEN"),
            want_rtmps: wants("RELAY_RTMP_TLS_LISTEN"),
            ..Banner::default()
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while !banner.complete() {
            if let Some(status) = process.try_wait() {
                panic!("relay exited during startup ({status}); stderr:\n{}", process.stderr_tail());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "relay printed no complete banner within {STARTUP_TIMEOUT:?} (got {banner:?}); stderr:\n{}",
                    process.stderr_tail()
                );
            }
            if let Ok(line) = lines.recv_timeout(left.min(Duration::from_millis(200))) {
                banner.read(&line);
            }
        }

        let playlist_url = banner.playlist_url.unwrap_or_default();
        let http_base = playlist_url
            .find("/live/")
            .map(|i| playlist_url[..i].to_string())
            .unwrap_or_else(|| panic!("unexpected playlist URL {playlist_url}"));
        Server {
            rtmp_url: banner.rtmp_url.unwrap_or_default(),
            stream_key: banner.stream_key.unwrap_or_default(),
            player_url: banner.player_url.unwrap_or_default(),
            playlist_url,
            http_base,
            admin_base: banner.admin_base.unwrap_or_default(),
            admin_password: banner.admin_password,
            https_base: banner.https_playlist_url.and_then(|url| url.find("/live/").map(|i| url[..i].to_string())),
            rtmps_url: banner.rtmps_url,
            process,
            data_dir: owned,
        }
    }

    /// RTMP URL that publishes the default stream.
    pub fn publish_url(&self) -> String {
        self.publish_url_with_key(&self.stream_key)
    }

    pub fn publish_url_with_key(&self, key: &str) -> String {
        format!("{}/{key}", self.rtmp_url)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http_base)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin_base)
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// The server's process id (for /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn stderr_tail(&self) -> String {
        self.process.stderr_tail()
    }

    /// Stops the server and hands back its data directory, to start again in.
    pub fn stop(self) -> TempDir {
        let Server { mut process, data_dir, .. } = self;
        process.kill();
        data_dir
    }

    /// Panics if the server process has died.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.process.try_wait() {
            panic!("relay exited unexpectedly ({status}); stderr:\n{}", self.process.stderr_tail());
        }
    }
}

/// Forwards stdout lines on a channel; the thread keeps draining stdout for
/// the server's whole life so it never blocks on a full pipe.
fn follow_stdout(process: &mut ChildGuard) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = process.child_mut().stdout.take() {
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = sender.send(line);
            }
        });
    }
    receiver
}

#[derive(Debug, Default)]
struct Banner {
    rtmp_url: Option<String>,
    stream_key: Option<String>,
    player_url: Option<String>,
    playlist_url: Option<String>,
    admin_base: Option<String>,
    admin_password: Option<String>,
    https_playlist_url: Option<String>,
    rtmps_url: Option<String>,
    want_https: bool,
    want_rtmps: bool,
}

impl Banner {
    fn read(&mut self, line: &str) {
        let field = |prefix: &str| line.strip_prefix(prefix).map(|v| v.trim().to_string());
        if let Some(v) = field("OBS server URL:") {
            self.rtmp_url = Some(v.trim_end_matches('/').to_string());
        } else if let Some(v) = field("Stream key:") {
            self.stream_key = Some(v);
        } else if let Some(v) = field("Player link:") {
            self.player_url = Some(v);
        } else if let Some(v) = field("Playlist URL:") {
            self.playlist_url = Some(v);
        } else if let Some(v) = field("Metrics:") {
            self.admin_base = v.strip_suffix("/metrics").map(str::to_string);
        } else if let Some(v) = field("Playlist URL (HTTPS):") {
            self.https_playlist_url = Some(v);
        } else if let Some(v) = field("OBS server URL (TLS):") {
            self.rtmps_url = Some(v.trim_end_matches('/').to_string());
        } else if let Some(v) = field("Console login: admin /") {
            self.admin_password = v.split_whitespace().next().map(str::to_string);
        }
    }

    fn complete(&self) -> bool {
        self.rtmp_url.is_some()
            && self.stream_key.is_some()
            && self.player_url.is_some()
            && self.playlist_url.is_some()
            && self.admin_base.is_some()
            && (!self.want_https || self.https_playlist_url.is_some())
            && (!self.want_rtmps || self.rtmps_url.is_some())
    }
}
