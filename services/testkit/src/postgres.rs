//! A throw-away PostgreSQL cluster for tests: `initdb` in a fresh temporary
//! directory, a server on a free loopback port with its socket inside that
//! directory, no fsync. Everything is stopped and removed on drop, and, for
//! the per-process [`PgTestServer::shared`] server, when the process exits:
//! a small watchdog shell holds the read end of a pipe and cleans up as soon
//! as that pipe closes, however the test process ends.
//!
//! PostgreSQL refuses to run as root; as root the cluster belongs to the
//! `postgres` system user and its programs run through `runuser`.
//!
//! [`PgTestServer::stop`] and [`PgTestServer::start_again`] take a server
//! down and bring it back on the same port, for outage tests; use a server
//! of the test's own ([`PgTestServer::start`]), not the shared one.

use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::free_port;

const SERVER_USER: &str = "postgres";
const START_ATTEMPTS: usize = 3;

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

pub struct PgTestServer {
    root: PathBuf,
    bin: PathBuf,
    data: PathBuf,
    as_root: bool,
    port: u16,
    next_database: AtomicU32,
    watchdog: Child,
    watchdog_pipe: Option<ChildStdin>,
}

impl PgTestServer {
    /// Starts a new cluster. Panics with the reason when PostgreSQL is not
    /// installed or does not start: a test cannot go on without it.
    pub fn start() -> PgTestServer {
        let bin = server_bin_dir().unwrap_or_else(|| panic!("no PostgreSQL server binaries found"));
        let root = std::env::temp_dir().join(format!(
            "pg-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap_or_else(|error| panic!("cannot create the cluster directory: {error}"));
        let as_root = std::fs::metadata(&root).map(|meta| meta.uid() == 0).unwrap_or(false);
        if as_root {
            run(Command::new("chown").arg(format!("{SERVER_USER}:{SERVER_USER}")).arg(&root), "chown");
        }
        let data = root.join("data");
        run(
            pg_command(&bin.join("initdb"), as_root).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ]),
            "initdb",
        );
        let watchdog = spawn_watchdog(&bin.join("pg_ctl"), &data, &root, as_root);
        let mut server = PgTestServer {
            root,
            bin,
            data,
            as_root,
            port: 0,
            next_database: AtomicU32::new(0),
            watchdog: watchdog.0,
            watchdog_pipe: Some(watchdog.1),
        };
        for attempt in 1..=START_ATTEMPTS {
            server.port = free_port();
            if server.pg_ctl_start() {
                return server;
            }
            if attempt == START_ATTEMPTS {
                panic!("PostgreSQL did not start:\n{}", server.log());
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Starts the server on `self.port`; false if it did not come up.
    fn pg_ctl_start(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            self.port,
            self.root.display()
        );
        pg_command(&self.bin.join("pg_ctl"), self.as_root)
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "60", "-s", "-o", &options, "-l"])
            .arg(self.root.join("server.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|status| status.success())
            .unwrap_or(false)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// Stops the server (fast shutdown: open connections are closed) and
    /// waits until it is down. Data stay; [`Self::start_again`] resumes.
    /// Blocks: call it from `spawn_blocking` in an async test.
    pub fn stop(&self) {
        run(
            pg_command(&self.bin.join("pg_ctl"), self.as_root)
                .arg("stop")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "-t", "60", "-s"]),
            "pg_ctl stop",
        );
    }

    /// Starts a stopped server again on the same port, so existing URLs and
    /// pools reach it. Panics if it does not come up. Blocking, as `stop`.
    pub fn start_again(&self) {
        for attempt in 1..=START_ATTEMPTS {
            if self.pg_ctl_start() {
                return;
            }
            if attempt == START_ATTEMPTS {
                panic!("PostgreSQL did not start again on port {}:\n{}", self.port, self.log());
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    /// One server for the whole test process, started on first use.
    pub fn shared() -> &'static PgTestServer {
        static SHARED: OnceLock<PgTestServer> = OnceLock::new();
        SHARED.get_or_init(PgTestServer::start)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the initial `postgres` database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database of its own for one test and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!("test_{}", self.next_database.fetch_add(1, Ordering::Relaxed));
        run(
            Command::new(self.bin.join("createdb"))
                .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .arg(&name),
            "createdb",
        );
        self.database_url(&name)
    }
}

impl Drop for PgTestServer {
    fn drop(&mut self) {
        // Closing the pipe tells the watchdog to stop the server and remove the directory.
        drop(self.watchdog_pipe.take());
        let _ = self.watchdog.wait();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn server_bin_dir() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    let newest = versions
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|version| Path::new(&format!("/usr/lib/postgresql/{version}/bin/initdb")).exists())
        .max()?;
    Some(PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin")))
}

fn pg_command(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVER_USER, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn spawn_watchdog(pg_ctl: &Path, data: &Path, root: &Path, as_root: bool) -> (Child, ChildStdin) {
    const SCRIPT: &str = r#"read _ignored
if [ "$4" = 1 ]; then runuser -u postgres -- "$3" stop -D "$1" -m immediate -s; else "$3" stop -D "$1" -m immediate -s; fi
rm -rf "$2""#;
    let mut child = Command::new("sh")
        .args(["-c", SCRIPT, "pg-test-watchdog"])
        .arg(data)
        .arg(root)
        .arg(pg_ctl)
        .arg(if as_root { "1" } else { "0" })
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start the cleanup watchdog: {error}"));
    let pipe = child.stdin.take().unwrap_or_else(|| panic!("the watchdog has no stdin"));
    (child, pipe)
}

fn run(command: &mut Command, what: &str) {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|error| match error.kind() {
        ErrorKind::NotFound => panic!("{what} is not installed"),
        _ => panic!("{what} failed to start: {error}"),
    });
    if !output.status.success() {
        panic!(
            "{what} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
