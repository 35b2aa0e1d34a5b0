//! Where the server connects on its own (webhooks, cameras), and who may
//! point it somewhere: addresses inside the server's network are refused
//! unless allowed, at the API and again at connect time; only operators
//! change camera sources; viewers see generic camera errors.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use catalog::{
    CatalogOptions, OutboundPolicy, PasswordCost, PublishDecision, RetryPolicy, WebhookEvent, WebhookSender,
};
use common::App;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// The defaults a deployment gets: no non-public network allowed.
async fn strict_app() -> App {
    App::sqlite_with(CatalogOptions { password_cost: PasswordCost::TestOnly, ..CatalogOptions::default() }).await
}

fn one_attempt() -> RetryPolicy {
    RetryPolicy {
        attempts: 1,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    }
}

fn loopback_allowed() -> OutboundPolicy {
    OutboundPolicy::allowing(["127.0.0.0/8".parse().unwrap()])
}

#[tokio::test]
async fn webhook_urls_inside_the_network_are_refused_with_the_reason() {
    let app = strict_app().await;
    for (url, class) in [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://localhost:9/hook", "loopback"),
        ("http://[::1]:9/hook", "loopback"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
        ("http://0.0.0.0:9/hook", "unspecified"),
        ("https://100.64.0.1/hook", "shared"),
        ("http://[fd00::1]/hook", "private"),
    ] {
        let reply =
            app.admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": url, "events": ["on_publish"]}))).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", reply.text);
        let message = reply.text.to_lowercase();
        assert!(message.contains("\"url\"") && message.contains(class), "{url}: {}", reply.text);
        assert!(message.contains("outbound.allow_networks"), "the reason says how to allow it: {}", reply.text);
    }
    // HTTPS receivers and public addresses are fine.
    let created = app
        .admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "https://93.184.216.34/hook", "events": ["on_play"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let path = format!("/api/v1/webhooks/{}", created.body["id"].as_str().unwrap());
    let moved = app.admin(Method::PATCH, &path, Some(json!({"url": "http://192.168.1.1/hook"}))).await;
    assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", moved.text);
    assert_eq!(app.admin(Method::GET, &path, None).await.body["url"], "https://93.184.216.34/hook");
}

/// A receiver that answers 200 `{"allow": true}` and counts requests.
async fn counting_receiver() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { r#"{"allow": true}"# }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    (url, count, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
}

#[tokio::test]
async fn a_webhook_on_loopback_is_refused_at_connect_time_unless_allowed() {
    let app = strict_app().await;
    let (url, count, server) = counting_receiver().await;
    let named = url.replace("127.0.0.1", "localhost");
    // Saved before the policy was this strict (or by another version).
    let database = app.state.database();
    database.create_webhook(&url, &[WebhookEvent::OnPublish], "a-webhook-secret-value", true).await.unwrap();
    database.create_webhook(&named, &[WebhookEvent::OnPlay], "a-webhook-secret-value", true).await.unwrap();

    let strict = WebhookSender::new(database.clone()).with_retry(one_attempt());
    let PublishDecision::Deny(reason) = strict.on_publish("main", None).await else {
        panic!("a refused receiver must deny publishing")
    };
    assert!(reason.contains("loopback"), "{reason}");
    assert!(matches!(strict.on_play("main", None).await, PublishDecision::Deny(_)), "localhost is loopback");
    assert_eq!(count.load(Ordering::SeqCst), 0, "no request reached the receiver");

    let allowed = strict.clone().with_policy(loopback_allowed());
    assert_eq!(allowed.on_publish("main", None).await, PublishDecision::Allow);
    assert_eq!(allowed.on_play("main", None).await, PublishDecision::Allow);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    server.abort();
}

fn openssl(directory: &std::path::Path, arguments: &[&str]) {
    let output = Command::new("openssl").args(arguments).current_dir(directory).output().expect("openssl runs");
    assert!(output.status.success(), "openssl {arguments:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A test CA and a certificate it signed for 127.0.0.1, made by the real
/// openssl: (CA certificate, leaf certificate, leaf key), DER.
fn certificates(directory: &std::path::Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca =
        vec!["req", "-x509", "-days", "1", "-subj", "/CN=relay test CA", "-keyout", "ca.key", "-out", "ca.pem"];
    ca.extend(ec);
    openssl(directory, &ca);
    let mut leaf = vec!["req", "-subj", "/CN=127.0.0.1", "-keyout", "leaf.key", "-out", "leaf.csr"];
    leaf.extend(ec);
    openssl(directory, &leaf);
    std::fs::write(
        directory.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        directory,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ],
    );
    openssl(directory, &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
    openssl(directory, &["x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der"]);
    openssl(directory, &["pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-outform", "DER", "-out", "leaf.key.der"]);
    let read = |name: &str| std::fs::read(directory.join(name)).unwrap();
    (read("ca.der"), read("leaf.der"), read("leaf.key.der"))
}

/// An HTTPS receiver: one request per connection, answered 200; the
/// bodies it got are sent on the channel.
async fn tls_receiver(leaf: Vec<u8>, key: Vec<u8>) -> (u16, tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(leaf)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (bodies, received) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(socket).await else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            let body = loop {
                let read = tls.read(&mut buffer).await.unwrap_or(0);
                if read == 0 {
                    break None;
                }
                request.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&request).to_string();
                let Some(end) = text.find("\r\n\r\n") else { continue };
                let length = text
                    .lines()
                    .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break Some(request[end + 4..end + 4 + length].to_vec());
                }
            };
            let Some(body) = body else { continue };
            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"allow\": true}";
            let _ = tls.write_all(answer.as_bytes()).await;
            let _ = tls.shutdown().await;
            let _ = bodies.send(body).await;
        }
    });
    (port, received)
}

#[tokio::test]
async fn webhooks_are_delivered_over_https_to_a_trusted_receiver_only() {
    let scratch = testkit::TempDir::new("https-webhook");
    let (ca, leaf, key) = certificates(scratch.path());
    let (port, mut bodies) = tls_receiver(leaf, key).await;
    let app = App::sqlite().await;
    let url = format!("https://127.0.0.1:{port}/hook");
    let created =
        app.admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": url, "events": ["on_publish"]}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca)).unwrap();
    let trusting = WebhookSender::new(app.state.database().clone())
        .with_retry(one_attempt())
        .with_policy(loopback_allowed())
        .with_tls_roots(roots);
    assert_eq!(trusting.on_publish("main", None).await, PublishDecision::Allow);
    let body = tokio::time::timeout(Duration::from_secs(5), bodies.recv()).await.unwrap().unwrap();
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["event"], "on_publish");

    // The system's roots do not know the test CA: the TLS handshake fails
    // and publishing fails closed.
    let system =
        WebhookSender::new(app.state.database().clone()).with_retry(one_attempt()).with_policy(loopback_allowed());
    let PublishDecision::Deny(reason) = system.on_publish("main", None).await else {
        panic!("an untrusted certificate must not be accepted")
    };
    assert!(reason.contains("TLS"), "{reason}");
}

#[tokio::test]
async fn camera_urls_inside_the_network_are_refused_with_the_reason() {
    let app = strict_app().await;
    for (url, class) in [
        ("rtsp://127.0.0.1:8554/cam", "loopback"),
        ("rtsp://localhost/cam", "loopback"),
        ("rtsp://169.254.169.254/", "link-local"),
        ("rtsp://[fe80::1]/cam", "link-local"),
        ("rtsp://10.1.2.3/cam", "private"),
    ] {
        let body = json!({"name": "cam", "kind": "camera", "camera": {"url": url}});
        let reply = app.admin(Method::POST, "/api/v1/streams", Some(body)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", reply.text);
        assert!(reply.text.contains("camera.url") && reply.text.contains(class), "{url}: {}", reply.text);
    }
    let body = json!({"name": "cam", "kind": "camera", "camera": {"url": "rtsp://93.184.216.34/cam"}});
    let created = app.admin(Method::POST, "/api/v1/streams", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let path = format!("/api/v1/streams/{}", created.body["id"].as_str().unwrap());
    let moved = app.admin(Method::PATCH, &path, Some(json!({"camera": {"url": "rtsp://192.168.0.10/cam"}}))).await;
    assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", moved.text);

    // With the network allowed, the same URL is taken.
    let allowing = App::sqlite_with(CatalogOptions {
        password_cost: PasswordCost::TestOnly,
        outbound: OutboundPolicy::allowing(["192.168.0.0/16".parse().unwrap()]),
        ..CatalogOptions::default()
    })
    .await;
    let body = json!({"name": "cam", "kind": "camera", "camera": {"url": "rtsp://192.168.0.10/cam"}});
    assert_eq!(allowing.admin(Method::POST, "/api/v1/streams", Some(body)).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_viewer_with_manage_cannot_change_a_camera_source() {
    let app = App::sqlite().await;
    let body = json!({"name": "gate", "kind": "camera", "camera": {"url": "rtsp://192.0.2.70/main"}});
    let id = app.admin(Method::POST, "/api/v1/streams", Some(body)).await.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/streams/{id}");
    let (viewer_id, viewer) = app.user("vera", "viewer").await;
    let rights = json!({"rights": ["view_live", "manage"]});
    let granted = app.admin(Method::PUT, &format!("{path}/rights/{viewer_id}"), Some(rights)).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.text);

    let source = json!({"camera": {"url": "rtsp://192.0.2.71/main", "username": "u", "password": "p"}});
    let refused = app.call(Method::PATCH, &path, Some(&viewer), Some(source.clone())).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let stored = app.state.database().camera_source(&id).await.unwrap().unwrap();
    assert_eq!((stored.url.as_str(), stored.username), ("rtsp://192.0.2.70/main", None), "unchanged");

    let (_, operator) = app.user("otto", "operator").await;
    let changed = app.call(Method::PATCH, &path, Some(&operator), Some(source)).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(app.state.database().camera_source(&id).await.unwrap().unwrap().url, "rtsp://192.0.2.71/main");
}

/// A camera status as the ingest pod reports it.
struct CameraAnswer;

impl catalog::StreamStatusSource for CameraAnswer {
    fn status<'a>(&'a self, _stream_name: &'a str) -> catalog::StatusFuture<'a> {
        let camera = json!({
            "name": "gate", "state": "offline", "url": "rtsp://192.0.2.70:8554/main",
            "reason": "Connection refused (os error 111)", "warnings": [], "failed_attempts": 3,
        });
        Box::pin(async move { Ok(Some(json!({"state": "offline", "camera": camera}))) })
    }
}

#[tokio::test]
async fn viewers_see_a_generic_camera_error_and_operators_the_detail() {
    let app = App::sqlite().await;
    let body = json!({"name": "gate", "kind": "camera", "camera": {"url": "rtsp://192.0.2.70:8554/main"}});
    let id = app.admin(Method::POST, "/api/v1/streams", Some(body)).await.body["id"].as_str().unwrap().to_owned();
    app.state.set_status_source(Arc::new(CameraAnswer));
    let status_path = format!("/api/v1/streams/{id}/status");
    let (viewer_id, viewer) = app.user("vera", "viewer").await;
    let rights = json!({"rights": ["view_live", "manage"]});
    app.admin(Method::PUT, &format!("/api/v1/streams/{id}/rights/{viewer_id}"), Some(rights)).await;

    let seen = app.call(Method::GET, &status_path, Some(&viewer), None).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.body["camera"]["reason"], "camera unreachable");
    assert_eq!(seen.body["camera"]["state"], "offline");
    assert!(seen.body["camera"].get("url").is_none(), "{}", seen.text);
    assert!(!seen.text.contains("refused") && !seen.text.contains("8554"), "{}", seen.text);

    let detail = app.admin(Method::GET, &status_path, None).await;
    assert_eq!(detail.body["camera"]["reason"], "Connection refused (os error 111)");
    assert_eq!(detail.body["camera"]["url"], "rtsp://192.0.2.70:8554/main");
}
