//! The browser harnesses in tests/browser: node scripts driving Debian's
//! Chromium through playwright-core, each printing a JSON report last.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{repo_root, require_file, require_tool, run_with_timeout};

pub struct Browser {
    node: PathBuf,
    dir: PathBuf,
}

/// Node, playwright-core, hls.js and Chromium, or a failed test.
pub fn require() -> Browser {
    let node = require_tool("node");
    let dir = repo_root().join("tests/browser");
    let setup_hint = "run `make deps` (npm ci in tests/browser, Debian chromium)";
    require_file(&dir.join("node_modules/playwright-core"), setup_hint);
    require_file(&dir.join("node_modules/hls.js/dist/hls.min.js"), setup_hint);
    require_file(std::path::Path::new("/usr/bin/chromium"), setup_hint);
    Browser { node, dir }
}

impl Browser {
    /// Runs `script` with `args` and returns the JSON report it printed last.
    pub fn run(&self, script: &str, args: &[&str], timeout: Duration) -> serde_json::Value {
        self.run_with_env(script, args, &[], timeout)
    }

    /// [`Browser::run`] with extra environment variables (HOME for a
    /// profile whose NSS database trusts a test CA).
    pub fn run_with_env(
        &self,
        script: &str,
        args: &[&str],
        env: &[(&str, &std::path::Path)],
        timeout: Duration,
    ) -> serde_json::Value {
        let mut command = Command::new(&self.node);
        command.arg(self.dir.join(script)).args(args).current_dir(&self.dir);
        for (name, value) in env {
            command.env(name, value);
        }
        let run = run_with_timeout(&mut command, timeout);
        assert!(run.success(), "{script} failed: {run}");
        let line = run.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|err| panic!("{script} printed no JSON ({err}): {run}"))
    }
}

/// A HOME whose NSS database (what Chromium on Linux trusts besides the
/// system roots) trusts the CA in `ca_pem`: the browser checks certificates
/// as it always does, with one more root.
pub fn home_trusting(home: &std::path::Path, ca_pem: &str) {
    let certutil = require_tool("certutil");
    let database = home.join(".pki/nssdb");
    std::fs::create_dir_all(&database).unwrap();
    let ca_file = home.join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let store = format!("sql:{}", database.display());
    let created = run_with_timeout(
        Command::new(&certutil).args(["-N", "--empty-password", "-d", &store]),
        Duration::from_secs(20),
    );
    assert!(created.success(), "certutil -N: {created}");
    let added = run_with_timeout(
        Command::new(&certutil).args(["-A", "-d", &store, "-n", "relay-test-ca", "-t", "C,,", "-i"]).arg(&ca_file),
        Duration::from_secs(20),
    );
    assert!(added.success(), "certutil -A: {added}");
}
