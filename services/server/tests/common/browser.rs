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
        let run = run_with_timeout(
            Command::new(&self.node).arg(self.dir.join(script)).args(args).current_dir(&self.dir),
            timeout,
        );
        assert!(run.success(), "{script} failed: {run}");
        let line = run.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|err| panic!("{script} printed no JSON ({err}): {run}"))
    }
}
