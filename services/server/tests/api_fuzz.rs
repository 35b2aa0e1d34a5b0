//! The management API against its own OpenAPI document: schemathesis
//! (pinned in tests/api-fuzz/requirements.txt, settings in
//! tests/api-fuzz/schemathesis.toml) generates bounded, seeded requests for
//! every operation and checks that no answer is a 5xx and that every status
//! code, content type and response body is one the document promises.
//!
//! The server is a throw-away `relay all`, once on SQLite (the default) and
//! once on PostgreSQL (which refuses what SQLite keeps, NUL in text); the run signs in as its admin
//! with a session cookie (logging out is left out, so it stays signed in).
//! Camera and webhook URLs in generated bodies are rewritten to loopback
//! (tests/api-fuzz/hooks.py): the server connects to them.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{http, repo_root, run_with_timeout, Server};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);
/// The first run installs the Python packages (about a minute); the run
/// itself takes 50-100 s on two slow cores.
const RUN_TIMEOUT: Duration = Duration::from_secs(480);
/// run.sh's exit status when Python cannot make a virtual environment.
const NO_VENV: i32 = 77;

fn json_of(response: &http::Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", response.text()))
}

/// Signs in as the first admin; the session cookie's `name=value`.
fn sign_in(server: &Server) -> String {
    let password = server.admin_password.clone().expect("the first start prints the admin login");
    let body = json!({"username": "admin", "password": password}).to_string();
    let login = http::send("POST", &server.url("/api/v1/auth/login"), &[], Some(&body), Duration::from_secs(120))
        .expect("login");
    assert_eq!(login.status, 200, "{}", login.text());
    let cookie = login.header("set-cookie").expect("the login sets the session cookie");
    let pair = cookie.split(';').next().unwrap_or_default().trim().to_owned();
    assert!(pair.starts_with("relay_session=") && pair.len() > "relay_session=".len(), "{cookie}");
    pair
}

/// A request as the signed-in admin; panics unless it answers `expected`.
fn call(server: &Server, cookie: &str, method: &str, path: &str, body: Option<Value>, expected: u16) -> Value {
    let body = body.map(|body| body.to_string());
    let response = http::send(method, &server.url(path), &[("cookie", cookie)], body.as_deref(), TIMEOUT)
        .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    assert_eq!(response.status, expected, "{method} {path}: {}", response.text());
    if response.body.is_empty() {
        Value::Null
    } else {
        json_of(&response)
    }
}

/// One object of every kind, so that lists and the objects they lead to
/// are not all empty when the responses are checked against the document.
fn seed(server: &Server, cookie: &str) {
    let area = call(server, cookie, "POST", "/api/v1/areas", Some(json!({"name": "Hall", "description": "east"})), 201);
    let area_id = area["id"].as_str().expect("area id");
    let device =
        call(server, cookie, "POST", "/api/v1/devices", Some(json!({"area_id": area_id, "name": "Door camera"})), 201);
    let device_id = device["id"].as_str().expect("device id");
    let camera = json!({
        "name": "door",
        "kind": "camera",
        "device_id": device_id,
        "camera": {"url": "rtsp://127.0.0.1:9/door", "mode": "on_demand", "linger_ms": 5000},
    });
    let camera = call(server, cookie, "POST", "/api/v1/streams", Some(camera), 201);
    let camera_id = camera["id"].as_str().expect("stream id");
    let viewer = json!({"username": "viewer", "password": "a long viewer password", "role": "viewer"});
    let viewer = call(server, cookie, "POST", "/api/v1/users", Some(viewer), 201);
    let viewer_id = viewer["id"].as_str().expect("user id");
    let rights = json!({"rights": ["view_live", "view_recordings"]});
    call(server, cookie, "PUT", &format!("/api/v1/streams/{camera_id}/rights/{viewer_id}"), Some(rights), 200);
    let policy = json!({"kind": "ip_allow_list", "allow": ["127.0.0.0/8", "::1/128"]});
    call(server, cookie, "PUT", &format!("/api/v1/streams/{camera_id}/policy"), Some(policy), 200);
    call(
        server,
        cookie,
        "POST",
        &format!("/api/v1/streams/{camera_id}/tokens"),
        Some(json!({"expires_in_secs": 60})),
        201,
    );
    let webhook = json!({"url": "http://127.0.0.1:9/hook", "events": ["on_publish"], "enabled": false});
    call(server, cookie, "POST", "/api/v1/webhooks", Some(webhook), 201);
    call(server, cookie, "POST", "/api/v1/api-keys", Some(json!({"name": "seed", "expires_in_secs": 3600})), 201);
}

/// `testcase` elements of the JUnit report, and those with a `failure` or `error`.
fn junit_counts(report: &str) -> (usize, usize) {
    let cases = report.matches("<testcase").count();
    let failed = report.matches("<failure").count() + report.matches("<error").count();
    (cases, failed)
}

#[test]
fn the_api_answers_as_its_document_says_to_generated_requests_on_sqlite() {
    let _turn = common::exclusive();
    fuzz(Server::start(), &[]);
}

#[test]
fn the_api_answers_as_its_document_says_to_generated_requests_on_postgresql() {
    let _turn = common::exclusive();
    let database = testkit::postgres::PgTestServer::shared().create_database();
    // Fewer cases, no coverage phase: the SQLite run covers the handlers; this one is for what
    // the database refuses.
    fuzz(
        Server::start_with_env(&[("RELAY_DATABASE_URL", database)]),
        &["--phases", "fuzzing,stateful", "--max-examples", "10"],
    );
}

/// Signs in, seeds, runs schemathesis with `extra` arguments and checks its reports.
fn fuzz(mut server: Server, extra: &[&str]) {
    let fuzz = repo_root().join("tests/api-fuzz");
    let cookie = sign_in(&server);
    seed(&server, &cookie);
    let operations = call(&server, &cookie, "GET", "/api/openapi.json", None, 200)["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |methods| methods.len()))
        .sum::<usize>();

    let report_dir = testkit::TempDir::new("relay-api-fuzz");
    let junit = report_dir.path().join("junit.xml");
    let mut command = Command::new("bash");
    command
        .arg(fuzz.join("run.sh"))
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--header", &format!("Cookie: {cookie}")])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .args(extra)
        .current_dir(report_dir.path());
    let finished = run_with_timeout(&mut command, RUN_TIMEOUT);
    if finished.status.and_then(|status| status.code()) == Some(NO_VENV) {
        eprintln!(
            "\n!!!!!!!!\nSKIPPED api_fuzz: python3 cannot make a virtual environment (apt-get install python3-venv)\n\
             {}\n!!!!!!!!\n",
            finished.stderr.trim_end()
        );
        return;
    }
    assert!(!finished.timed_out(), "schemathesis did not finish within {RUN_TIMEOUT:?}: {finished}");
    server.assert_running();
    assert!(finished.success(), "schemathesis found problems (reproduce with the seed it prints): {finished}");
    eprintln!("{}", summary(&finished.stdout));

    // Every operation but logout was exercised, and none failed.
    let report = std::fs::read_to_string(&junit).unwrap_or_else(|error| panic!("{}: {error}", junit.display()));
    let (cases, failed) = junit_counts(&report);
    assert_eq!(failed, 0, "{report}");
    assert_eq!(cases, operations - 1, "one test case per operation, logout left out: {report}");
    let generated = generated_cases(&finished.stdout).unwrap_or_else(|| panic!("no count of cases: {finished}"));
    assert!(generated >= 5 * cases, "only {generated} requests for {cases} operations: {finished}");
    // The run kept its session: it was not tested into a corner of 401s.
    call(&server, &cookie, "GET", "/api/v1/auth/me", None, 200);
    // Runs repeat: the seed comes from schemathesis.toml, not the clock.
    assert!(finished.stdout.contains("Seed: 20261208"), "{finished}");
}

/// "1524 generated, 1524 passed" from schemathesis' summary.
fn generated_cases(stdout: &str) -> Option<usize> {
    stdout.lines().find_map(|line| line.trim().split_once(" generated,")?.0.trim().parse().ok())
}

/// The summary at the end of schemathesis' output.
fn summary(stdout: &str) -> &str {
    stdout.find("SUMMARY").map_or(stdout, |start| &stdout[start..])
}
