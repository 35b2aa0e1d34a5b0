//! The CloudFront Function (terraform/cloudfront/playback-token.js) run in
//! Node through its harness, terraform/cloudfront/test/run.mjs, for tests
//! that check it agrees with the Rust side. Needs `node` (`make deps`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

/// The viewer address a case comes from unless it says otherwise.
pub const VIEWER: &str = "203.0.113.7";

/// One viewer request for the function.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub uri: String,
    pub ip: &'static str,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Case {
    /// A request for `uri` from [`VIEWER`] without headers.
    pub fn new(name: &'static str, uri: impl Into<String>) -> Case {
        Case { name, uri: uri.into(), ip: VIEWER, headers: vec![] }
    }
}

/// Runs every case through the function with `store` as its key-value
/// store; the harness's result per case name. A result's `status` is null
/// when the function lets the request go on to the cache, and the status
/// code when it answers itself.
pub fn run(store: &HashMap<String, String>, cases: &[Case]) -> HashMap<String, Value> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../terraform/cloudfront/test/run.mjs");
    let input = json!({
        "store": store,
        "cases": cases.iter().map(|case| json!({
            "name": case.name,
            "uri": case.uri,
            "ip": case.ip,
            "headers": case.headers.iter().copied().collect::<HashMap<_, _>>(),
        })).collect::<Vec<_>>(),
    });
    let input_path = std::env::temp_dir().join(format!(
        "edge-function-cases-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&input_path, input.to_string()).unwrap();
    let output = Command::new("node")
        .arg(&harness)
        .arg(&input_path)
        .output()
        .expect("node is needed for this test (make deps installs it)");
    let _ = std::fs::remove_file(&input_path);
    assert!(output.status.success(), "harness failed: {}", String::from_utf8_lossy(&output.stderr));
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    results.into_iter().map(|result| (result["name"].as_str().unwrap().to_owned(), result)).collect()
}
