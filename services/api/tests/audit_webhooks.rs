//! The audit log, webhook configuration and webhook delivery against a real
//! HTTP receiver, on SQLite and PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use catalog::webhook::{signature, SIGNATURE_HEADER};
use catalog::{PublishDecision, RetryPolicy, WebhookEvent, WebhookSender};
use common::App;
use serde_json::{json, Value};

async fn changes_are_audited_and_searchable(app: App) {
    let before = db::unix_millis();
    let stream = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "dock"}))).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.admin(Method::PATCH, &format!("/api/v1/streams/{stream}"), Some(json!({"name": "dock-2"}))).await;
    app.admin(Method::POST, "/api/v1/areas", Some(json!({"name": "Harbour"}))).await;
    let (_, operator) = app.user("otto", "operator").await;
    app.call(Method::POST, "/api/v1/areas", Some(&operator), Some(json!({"name": "Quay"}))).await;

    let all = app.call(Method::GET, "/api/v1/audit", Some(&operator), None).await;
    assert_eq!(all.status, StatusCode::OK);
    let actions: Vec<&str> =
        all.body.as_array().unwrap().iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..5], ["area.create", "user.create", "area.create", "stream.update", "stream.create"]);

    let by_stream = app.admin(Method::GET, &format!("/api/v1/audit?object=stream:{stream}"), None).await;
    let entries = by_stream.body.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["actor_name"], "admin");
    assert_eq!(entries[1]["address"], "192.0.2.10");
    assert_eq!(entries[1]["object_type"], "stream");
    assert!(entries[1]["at"].as_i64().unwrap() >= before);

    let by_operator = app.admin(Method::GET, "/api/v1/audit?user=otto&object=area", None).await;
    assert_eq!(by_operator.body.as_array().unwrap().len(), 1);
    let future = db::unix_millis() + 60_000;
    let empty = app.admin(Method::GET, &format!("/api/v1/audit?from={future}"), None).await;
    assert_eq!(empty.body, json!([]));
    let window = app.admin(Method::GET, &format!("/api/v1/audit?from={before}&to={future}&limit=2"), None).await;
    assert_eq!(window.body.as_array().unwrap().len(), 2);

    let bad = app.admin(Method::GET, "/api/v1/audit?from=yesterday", None).await;
    assert_eq!((bad.status, bad.body["fields"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("from")));
    let unknown = app.admin(Method::GET, "/api/v1/audit?colour=red", None).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, viewer) = app.user("vera", "viewer").await;
    assert_eq!(app.call(Method::GET, "/api/v1/audit", Some(&viewer), None).await.status, StatusCode::FORBIDDEN);
}

async fn webhooks_are_configured_with_a_secret_shown_once(app: App) {
    let created = app
        .admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["on_publish", "on_play"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    let listed = app.admin(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(listed.body[0]["events"], json!(["on_publish", "on_play"]));
    assert!(!listed.text.contains(&secret));
    let path = format!("/api/v1/webhooks/{id}");
    assert!(!app.admin(Method::GET, &path, None).await.text.contains(&secret));

    let duplicate = app
        .admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["on_play"]})))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    for (body, field) in [
        (json!({"url": "ftp://example/", "events": ["on_play"]}), "url"),
        (json!({"url": "http://h/", "events": []}), "events"),
        (json!({"url": "http://h/", "events": ["on_fire"]}), "events[0]"),
        (json!({"url": "http://h/", "events": ["on_play"], "secret": "short"}), "secret"),
    ] {
        let reply = app.admin(Method::POST, "/api/v1/webhooks", Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["fields"][0]["field"].as_str(), Some(field), "{body}: {}", reply.text);
    }
    let disabled = app.admin(Method::PATCH, &path, Some(json!({"enabled": false, "events": ["on_unpublish"]}))).await;
    assert_eq!((disabled.body["enabled"].as_bool(), &disabled.body["events"]), (Some(false), &json!(["on_unpublish"])));
    let (_, operator) = app.user("oscar", "operator").await;
    assert_eq!(app.call(Method::GET, "/api/v1/webhooks", Some(&operator), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.admin(Method::DELETE, &path, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.admin(Method::GET, &path, None).await.status, StatusCode::NOT_FOUND);
}

/// Headers and body of one request the receiver got.
type Delivery = (HeaderMap, Vec<u8>);

/// A receiver that answers from a script of (status, body) and records
/// what it was sent.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<(u16, &'static str)>>>,
    received: Arc<Mutex<Vec<Delivery>>>,
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    receiver.received.lock().unwrap().push((headers, body.to_vec()));
    let mut script = receiver.script.lock().unwrap();
    let (status, answer) = if script.len() > 1 { script.remove(0) } else { script[0] };
    (StatusCode::from_u16(status).unwrap(), answer.to_owned())
}

async fn start_receiver(script: Vec<(u16, &'static str)>) -> (String, Receiver, tokio::task::JoinHandle<()>) {
    let receiver = Receiver { script: Arc::new(Mutex::new(script)), ..Receiver::default() };
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, receiver, server)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        timeout: Duration::from_secs(5),
    }
}

async fn on_publish_asks_receivers_with_signed_retried_requests(app: App) {
    let sender = WebhookSender::new(app.state.database().clone())
        .with_retry(fast_retry())
        .with_policy(app.state.outbound().clone());
    assert_eq!(sender.on_publish("main", None).await, PublishDecision::Allow, "no receiver: allowed");

    let (url, receiver, server) = start_receiver(vec![(503, ""), (502, ""), (200, r#"{"allow": true}"#)]).await;
    let created =
        app.admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": url, "events": ["on_publish"]}))).await;
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let hook_id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(sender.on_publish("main", Some("192.0.2.77".parse().unwrap())).await, PublishDecision::Allow);
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "two failures were retried");
    let (headers, body) = &received[2];
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!((payload["event"].as_str(), payload["stream"].as_str()), (Some("on_publish"), Some("main")));
    assert_eq!(payload["client_ip"], "192.0.2.77");
    let header = headers.get(SIGNATURE_HEADER).unwrap().to_str().unwrap();
    let sent_at: u64 = header.strip_prefix("t=").unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(header, signature(&secret, sent_at, body), "HMAC-SHA256 over t.body with the webhook secret");
    assert_ne!(header, signature("some-other-secret-value", sent_at, body));

    *receiver.script.lock().unwrap() = vec![(200, r#"{"allow": false}"#)];
    assert!(matches!(sender.on_publish("main", None).await, PublishDecision::Deny(_)));
    receiver.received.lock().unwrap().clear();
    *receiver.script.lock().unwrap() = vec![(403, "")];
    assert!(matches!(sender.on_publish("main", None).await, PublishDecision::Deny(_)));
    assert_eq!(receiver.received.lock().unwrap().len(), 1, "a refusal is not retried");
    server.abort();
    let unreachable = sender.on_publish("main", None).await;
    assert!(matches!(unreachable, PublishDecision::Deny(_)), "publishing fails closed");

    // Other events are delivered to their own receivers only.
    let (play_url, play_receiver, play_server) = start_receiver(vec![(200, "")]).await;
    app.admin(Method::PATCH, &format!("/api/v1/webhooks/{hook_id}"), Some(json!({"enabled": false}))).await;
    app.admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": play_url, "events": ["on_play", "on_unpublish"]})))
        .await;
    assert_eq!(sender.on_publish("main", None).await, PublishDecision::Allow, "disabled receivers are skipped");
    assert_eq!(sender.deliver_all(WebhookEvent::OnPlay, "main", None).await, 1);
    assert_eq!(sender.deliver_all(WebhookEvent::OnUnpublish, "main", None).await, 1);
    let events: Vec<String> = play_receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| serde_json::from_slice::<Value>(body).unwrap()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["on_play", "on_unpublish"]);
    play_server.abort();
}

async fn publishing_needs_the_key_and_the_webhooks_consent(app: App) {
    let created = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "stage"}))).await;
    let key = created.body["stream_key"].as_str().unwrap().to_owned();
    let peer = "192.0.2.99".parse().unwrap();
    assert_eq!(app.state.authorize_publish(&key, peer).await.unwrap().map(|stream| stream.name), Some("stage".into()));
    assert!(app.state.authorize_publish("wrong-key-wrong-key", peer).await.unwrap().is_none());

    let (url, receiver, server) = start_receiver(vec![(200, r#"{"allow": false}"#)]).await;
    app.admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": url, "events": ["on_publish"]}))).await;
    assert!(app.state.authorize_publish(&key, peer).await.unwrap().is_none(), "the webhook said no");
    let asked: Value = serde_json::from_slice(&receiver.received.lock().unwrap()[0].1).unwrap();
    assert_eq!((asked["stream"].as_str(), asked["client_ip"].as_str()), (Some("stage"), Some("192.0.2.99")));
    *receiver.script.lock().unwrap() = vec![(204, "")];
    assert!(app.state.authorize_publish(&key, peer).await.unwrap().is_some());
    server.abort();
}

on_both_databases!(
    publishing_needs_the_key_and_the_webhooks_consent,
    changes_are_audited_and_searchable,
    webhooks_are_configured_with_a_secret_shown_once,
    on_publish_asks_receivers_with_signed_retried_requests,
);
