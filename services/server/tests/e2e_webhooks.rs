//! Webhooks through the real publish path: a shop's own service decides who
//! may publish (on_publish) and hears when they stop (on_unpublish); every
//! delivery is signed with the webhook's secret.

#[allow(unused_imports)]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{http, tools, Server};

const TIMEOUT: Duration = Duration::from_secs(10);
const SECRET: &str = "webhook-secret-0123456789";

#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    body: Vec<u8>,
}

impl Delivery {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON delivery")
    }
}

/// A receiver that refuses publishing to `denied-show` and records everything.
fn start_receiver() -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for connection in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(connection);
            let (mut length, mut signature) = (0usize, String::new());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 0) && line != "\r\n" {
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-relay-signature:") {
                    signature = line.split_once(':').map(|(_, value)| value.trim().to_owned()).unwrap_or_default();
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let denied = String::from_utf8_lossy(&body).contains("\"denied-show\"");
            record.lock().unwrap().push(Delivery { signature, body });
            let answer = if denied { r#"{"allow": false}"# } else { r#"{"allow": true}"# };
            let mut socket = reader.into_inner();
            let _ = write!(
                socket,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

fn events(seen: &Mutex<Vec<Delivery>>, stream: &str) -> Vec<String> {
    let seen = seen.lock().unwrap();
    seen.iter()
        .map(Delivery::json)
        .filter(|body| body["stream"] == stream)
        .map(|body| body["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn on_publish_decides_and_on_unpublish_follows_with_signed_deliveries() {
    let _turn = common::exclusive();
    let (hook_url, seen) = start_receiver();
    let server = Server::start();
    let cookie = common::admin_cookie(&server);
    let auth = [("Cookie", cookie.as_str())];
    let hook =
        serde_json::json!({"url": hook_url, "events": ["on_publish", "on_unpublish", "on_play"], "secret": SECRET});
    let created = http::send("POST", &server.url("/api/v1/webhooks"), &auth, Some(&hook.to_string()), TIMEOUT).unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    let mut keys = Vec::new();
    for name in ["open-show", "denied-show"] {
        let body = serde_json::json!({"name": name}).to_string();
        let stream = http::send("POST", &server.url("/api/v1/streams"), &auth, Some(&body), TIMEOUT).unwrap();
        assert_eq!(stream.status, 201, "{}", stream.text());
        let stream: serde_json::Value = serde_json::from_slice(&stream.body).unwrap();
        keys.push(stream["stream_key"].as_str().unwrap().to_owned());
    }

    // Refused by the receiver: ffmpeg gives up and no playlist appears.
    let mut denied = tools::spawn_publisher(&server.publish_url_with_key(&keys[1]), 10);
    assert!(denied.wait_timeout(Duration::from_secs(20)).is_some_and(|status| !status.success()));
    let playlist = http::get(&server.url("/live/denied-show/media.m3u8"), TIMEOUT).unwrap();
    assert_eq!(playlist.status, 404, "a refused publisher creates no stream");

    // Allowed: publishes for a few seconds, then leaves.
    let mut open = tools::spawn_publisher(&server.publish_url_with_key(&keys[0]), 5);
    assert!(open.wait_timeout(Duration::from_secs(30)).is_some_and(|status| status.success()), "publisher failed");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !events(&seen, "open-show").contains(&"on_unpublish".to_owned()) {
        assert!(Instant::now() < deadline, "no on_unpublish: {:?}", seen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(events(&seen, "open-show"), ["on_publish", "on_unpublish"]);
    assert!(events(&seen, "denied-show").iter().all(|event| event == "on_publish"));

    // on_play: asked when a viewer starts (the multivariant playlist), once.
    let watch = http::get(&server.url("/live/open-show/index.m3u8"), TIMEOUT).unwrap();
    assert_eq!(watch.status, 200, "{}", watch.text());
    let again = http::get(&server.url("/live/open-show/index.m3u8"), TIMEOUT).unwrap();
    assert_eq!(again.status, 200);
    let refused = http::get(&server.url("/live/denied-show/index.m3u8"), TIMEOUT).unwrap();
    assert_eq!(refused.status, 403, "the receiver refuses viewers of denied-show");
    assert_eq!(events(&seen, "open-show"), ["on_publish", "on_unpublish", "on_play"], "one on_play per session");

    for delivery in seen.lock().unwrap().iter() {
        let unix_secs: u64 = delivery
            .signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|secs| secs.parse().ok())
            .unwrap_or_else(|| panic!("bad signature header {:?}", delivery.signature));
        assert_eq!(
            delivery.signature,
            catalog::webhook::signature(SECRET, unix_secs, &delivery.body),
            "forged delivery"
        );
        assert_ne!(
            delivery.signature,
            catalog::webhook::signature("another-secret-0123456789", unix_secs, &delivery.body)
        );
    }
}
