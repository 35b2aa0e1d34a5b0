//! The stand-in camera: GStreamer's RTSP server through python3-gi
//! (`scripts/rtsp_camera.py`), serving test patterns like an IP camera.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the camera may take to start listening.
pub const STARTUP: Duration = Duration::from_secs(30);

/// The script that runs the camera; `--help` lists its options.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/rtsp_camera.py")
}

/// The stand-in camera: GStreamer's RTSP server through python3-gi.
pub struct Camera {
    pub port: u16,
    child: Child,
}

/// `rtsp_camera.py --port PORT ARGS..` under the system interpreter
/// (python3-gi is a system package), for tests that run the camera as a
/// plain child process. It prints `ready` once it listens.
pub fn command(port: u16, args: &[&str]) -> std::process::Command {
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let mut command = std::process::Command::new(python);
    command.arg(script()).arg("--port").arg(port.to_string()).args(args);
    command
}

impl Camera {
    /// Starts `rtsp_camera.py --port PORT ARGS..` and waits until it listens.
    pub async fn start(port: u16, args: &[&str]) -> Camera {
        let mut child = Command::from(command(port, args))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the RTSP test camera (python3-gi, gir1.2-gst-rtsp-server-1.0)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(STARTUP, lines.next_line()).await;
        assert!(matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"), "camera did not start: {ready:?}");
        Camera { port, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{path}", self.port)
    }

    /// Kills the server abruptly, like a camera losing power.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
