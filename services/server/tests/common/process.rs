//! External programs with bounded lifetimes: a guard that kills a child when
//! dropped (even while a test panics) and keeps the tail of its stderr for
//! diagnostics, and a run-to-completion helper with a deadline.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const KEPT_LOG_LINES: usize = 200;

/// Last lines a child wrote to one of its pipes, filled by a reader thread.
#[derive(Clone, Default)]
pub struct LogTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl LogTail {
    /// Starts a thread that drains `pipe` line by line into the tail.
    pub fn follow(pipe: impl Read + Send + 'static) -> LogTail {
        let tail = LogTail::default();
        let sink = tail.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                match line {
                    Ok(line) => sink.push(line),
                    Err(_) => break,
                }
            }
        });
        tail
    }

    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == KEPT_LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// A running child process that is killed and reaped when dropped.
pub struct ChildGuard {
    name: String,
    child: Child,
    stderr: LogTail,
}

impl ChildGuard {
    /// Spawns `command` with stdin closed and stderr captured; stdout is left
    /// to the caller's configuration (default: discarded).
    pub fn spawn(name: &str, command: &mut Command) -> ChildGuard {
        command.stdin(Stdio::null()).stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => panic!("cannot start {name} ({command:?}): {err}"),
        };
        let stderr = child.stderr.take().map(LogTail::follow).unwrap_or_default();
        ChildGuard { name: name.to_string(), child, stderr }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    pub fn stderr_tail(&self) -> String {
        self.stderr.text()
    }

    /// Exit status if the child has already exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the child to exit on its own.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let still_running = self.try_wait().is_none();
        self.kill();
        if thread::panicking() {
            eprintln!(
                "---- {} (pid {}, {}) stderr tail ----\n{}\n---- end of {} ----",
                self.name,
                self.child.id(),
                if still_running { "killed" } else { "had exited" },
                self.stderr.text(),
                self.name
            );
        }
    }
}

/// Result of [`run_with_timeout`]. `status` is `None` when the deadline hit.
pub struct Finished {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => "killed at deadline".to_string(),
        };
        write!(
            f,
            "{status} after {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.elapsed.as_secs_f64(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs a command to completion, killing it at `timeout`. Output is read on
/// threads so a chatty child cannot block on a full pipe.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Finished {
    let started = Instant::now();
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot start {command:?}: {err}"),
    };
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());

    let deadline = started + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // A grandchild that inherited a pipe could keep it open; do not wait forever.
    let grace = Duration::from_secs(5);
    Finished {
        status,
        stdout: stdout.recv_timeout(grace).unwrap_or_default(),
        stderr: stderr.recv_timeout(grace).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn collect(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    } else {
        let _ = sender.send(String::new());
    }
    receiver
}
