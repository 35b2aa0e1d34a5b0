//! The real binary keeps its private doors shut: /metrics only on the
//! admin listener, the ingest pods' internal endpoint only for callers
//! with the cluster secret (and no cluster role without one), and webhook
//! and camera URLs on loopback refused unless the operator allows it.

#[allow(unused_imports)]
mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster::{RoleProcess, INTERNAL_SECRET};
use common::{http, Server};
use testkit::TempDir;

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn metrics_answer_on_the_admin_listener_only() {
    let _turn = common::exclusive();
    let server = Server::start();
    let public = http::get(&server.url("/metrics"), TIMEOUT).unwrap();
    assert_eq!(public.status, 404, "the viewer port (and the CDN in front of it) has no /metrics");
    let admin = http::get(&server.admin_url("/metrics"), TIMEOUT).unwrap();
    assert_eq!(admin.status, 200);
    assert!(admin.text().contains("relay_listener"), "{}", admin.text());
    // Probes still answer on the public port, with nothing but their verdict.
    assert_eq!(http::get(&server.url("/healthz"), TIMEOUT).unwrap().text(), "ok");
    assert_eq!(http::get(&server.url("/readyz"), TIMEOUT).unwrap().text(), "ready");
    assert_eq!(http::get(&server.admin_url("/readyz"), TIMEOUT).unwrap().status, 200);
}

#[test]
fn loopback_webhooks_and_cameras_are_refused_without_an_allowance_and_never_connected() {
    let _turn = common::exclusive();
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let port = target.local_addr().unwrap().port();
    let server = Server::start_with_env(&[("RELAY_OUTBOUND_ALLOW_NETWORKS", String::new())]);
    let cookie = common::admin_cookie(&server);
    let headers = [("cookie", cookie.as_str())];
    let post = |path: &str, body: serde_json::Value| {
        http::send("POST", &server.url(path), &headers, Some(&body.to_string()), TIMEOUT).unwrap()
    };
    let hook = post(
        "/api/v1/webhooks",
        serde_json::json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["on_publish"]}),
    );
    assert_eq!(hook.status, 422, "{}", hook.text());
    assert!(hook.text().contains("loopback"), "{}", hook.text());
    for url in [format!("rtsp://127.0.0.1:{port}/cam"), format!("rtsp://localhost:{port}/cam")] {
        let camera =
            post("/api/v1/streams", serde_json::json!({"name": "cam", "kind": "camera", "camera": {"url": url}}));
        assert_eq!(camera.status, 422, "{url}: {}", camera.text());
        assert!(camera.text().contains("loopback"), "{}", camera.text());
    }
    // Long enough for a camera manager round (a third of the 6 s lease).
    std::thread::sleep(Duration::from_secs(3));
    let accepted = target.accept();
    assert!(
        matches!(&accepted, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the target port saw a connection: {accepted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_endpoint_answers_only_with_the_cluster_secret() {
    // An ingest pod on its own SQLite database: enough for its endpoint.
    let ingest = tokio::task::spawn_blocking(|| RoleProcess::start("ingest", "ingest-secret", &[])).await.unwrap();
    let get = |path: &'static str, secret: Option<&'static str>| {
        let url = loadtest::http::Url::parse(&ingest.url(path)).unwrap();
        async move {
            let headers: Vec<(&str, &str)> =
                secret.map(|secret| (cluster::INTERNAL_SECRET_HEADER, secret)).into_iter().collect();
            loadtest::http::get(&url, &headers, TIMEOUT).await.unwrap()
        }
    };
    for path in ["/internal/v1/streams/main/publisher", "/internal/v1/streams/main/status", "/live/main/index.m3u8"] {
        assert_eq!(get(path, None).await.status, 401, "{path} without the secret");
        assert_eq!(get(path, Some("not-the-cluster-secret-but-as-long-as-it")).await.status, 401, "{path}, wrong");
    }
    let answered = get("/internal/v1/streams/main/publisher", Some(INTERNAL_SECRET)).await;
    assert_eq!((answered.status, answered.text().as_str()), (200, "idle"));
    // Kubernetes probes need no secret.
    assert_eq!(get("/healthz", None).await.status, 200);
    assert_eq!(get("/readyz", None).await.status, 200);
    let metrics = loadtest::http::get_str(&ingest.admin_url("/metrics"), TIMEOUT).await.unwrap();
    assert!(metrics.status == 200 && metrics.text().contains("relay_storage"), "{}", metrics.text());
    assert_eq!(get("/metrics", Some(INTERNAL_SECRET)).await.status, 404, "metrics live on the admin port");
}

#[test]
fn a_cluster_role_without_the_secret_refuses_to_start() {
    let data_dir = TempDir::new("relay-no-secret");
    let mut command = Command::new(env!("CARGO_BIN_EXE_relay"));
    command.arg("ingest");
    for (variable, _) in std::env::vars_os() {
        if variable.to_string_lossy().starts_with("RELAY_") {
            command.env_remove(variable);
        }
    }
    command
        .env("RELAY_SERVER_DATA_DIR", data_dir.path())
        .env("RELAY_RTMP_LISTEN", "127.0.0.1:0")
        .env("RELAY_RTSP_LISTEN", "127.0.0.1:0")
        .env("RELAY_CLUSTER_INTERNAL_LISTEN", "127.0.0.1:0")
        .env("RELAY_ADMIN_LISTEN", "127.0.0.1:0");
    let finished = common::run_with_timeout(&mut command, Duration::from_secs(30));
    assert!(
        finished.status.is_some_and(|status| !status.success()),
        "it must exit with an error; stderr: {}",
        finished.stderr
    );
    assert!(finished.stderr.contains("cluster.internal_secret"), "{}", finished.stderr);

    let short = common::run_with_timeout(command.env("RELAY_CLUSTER_INTERNAL_SECRET", "too-short"), TIMEOUT);
    assert!(short.stderr.contains("at least 32"), "{}", short.stderr);
}
