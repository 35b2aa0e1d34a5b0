//! Attacks on stream identity against the real binary with a real ffmpeg
//! publisher: a private stream renamed, deleted or re-created must not
//! become public, its tokens must not come back to life, its publisher must
//! go when its key or its stream goes, and on_play must gate every request
//! of a session. Each case names the outcome it expects.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{hls, http, tools, Server};

const TIMEOUT: Duration = Duration::from_secs(10);
/// A publisher the server drops must be gone within this.
const PUBLISHER_GONE_WITHIN: Duration = Duration::from_secs(5);

struct Api<'a> {
    server: &'a Server,
    cookie: String,
}

impl Api<'_> {
    fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        let auth = [("Cookie", self.cookie.as_str())];
        let body = body.map(|body| body.to_string());
        let reply = http::send(method, &self.server.url(&format!("/api/v1{path}")), &auth, body.as_deref(), TIMEOUT)
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let json = serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null);
        (reply.status, json)
    }

    /// A token-protected push stream: (id, key).
    fn private_stream(&self, name: &str) -> (String, String) {
        let (status, stream) = self.call("POST", "/streams", Some(serde_json::json!({"name": name})));
        assert_eq!(status, 201, "{stream}");
        let id = stream["id"].as_str().unwrap().to_owned();
        let (status, _) =
            self.call("PUT", &format!("/streams/{id}/policy"), Some(serde_json::json!({"kind": "token"})));
        assert_eq!(status, 200);
        (id, stream["stream_key"].as_str().unwrap().to_owned())
    }

    fn token(&self, id: &str) -> String {
        let (status, issued) =
            self.call("POST", &format!("/streams/{id}/tokens"), Some(serde_json::json!({"expires_in_secs": 600})));
        assert_eq!(status, 201, "{issued}");
        issued["token"].as_str().unwrap().to_owned()
    }
}

fn status(server: &Server, path: &str) -> u16 {
    http::get(&server.url(path), TIMEOUT).unwrap_or_else(|error| panic!("{path}: {error}")).status
}

/// Polls `path` until it answers 200 with a complete segment; the body.
fn wait_for_segments(server: &Server, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let answer = http::get(&server.url(path), TIMEOUT).unwrap();
        if answer.status == 200 && hls::segment_count(&answer.text()) > 0 {
            return answer.text();
        }
        assert!(Instant::now() < deadline, "{path} never had a segment: {} {}", answer.status, answer.text());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every kind of file of a live stream, as named by its media playlist.
fn stream_files(media_playlist: &str) -> Vec<String> {
    let segment = hls::uri_lines(media_playlist).first().expect("a segment").to_string();
    let init = hls::map_uri(media_playlist).expect("an init segment").to_owned();
    let part = media_playlist
        .lines()
        .filter_map(|line| line.strip_prefix("#EXT-X-PART:"))
        .find_map(|attributes| attributes.split("URI=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("a part")
        .to_owned();
    vec!["index.m3u8".into(), "media.m3u8".into(), "dvr.m3u8".into(), segment, part, init]
}

/// Waits until the API reports a publisher on the stream.
fn wait_for_live(api: &Api<'_>, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = api.call("GET", &format!("/streams/{id}/status"), None);
        if status["state"] == "live" {
            return;
        }
        assert!(Instant::now() < deadline, "never live: {status}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn assert_publisher_dropped(publisher: &mut common::process::ChildGuard, why: &str) {
    let started = Instant::now();
    let exited = publisher.wait_timeout(PUBLISHER_GONE_WITHIN);
    assert!(exited.is_some(), "{why}: ffmpeg still publishing after {PUBLISHER_GONE_WITHIN:?}");
    eprintln!("{why}: ffmpeg gone after {:?}", started.elapsed());
}

#[test]
fn rename_and_delete_of_a_private_live_stream_leave_nothing_reachable() {
    let _turn = common::exclusive();
    let server = Server::start();
    let api = Api { server: &server, cookie: common::admin_cookie(&server) };
    let (id, key) = api.private_stream("secret-show");
    let mut publisher = tools::spawn_publisher(&server.publish_url_with_key(&key), 300);
    let old_token = api.token(&id);
    let media = wait_for_segments(&server, &format!("/t/{old_token}/live/secret-show/media.m3u8"));
    let files = stream_files(&media);
    wait_for_segments(&server, &format!("/t/{old_token}/live/secret-show/dvr.m3u8"));
    for file in &files {
        assert_eq!(status(&server, &format!("/t/{old_token}/live/secret-show/{file}")), 200, "{file} with its token");
        assert_eq!(status(&server, &format!("/live/secret-show/{file}")), 401, "{file} without a token");
    }

    // Renamed: the old name is gone at once, token or not; the new one still needs a token.
    let (renamed, body) =
        api.call("PATCH", &format!("/streams/{id}"), Some(serde_json::json!({"name": "renamed-show"})));
    assert_eq!(renamed, 200, "{body}");
    for file in &files {
        assert_eq!(status(&server, &format!("/live/secret-show/{file}")), 404, "old name, {file}, no token");
        assert_eq!(
            status(&server, &format!("/t/{old_token}/live/secret-show/{file}")),
            404,
            "old name, {file}, old token"
        );
    }
    for file in ["index.m3u8", "media.m3u8", "dvr.m3u8"] {
        assert_eq!(status(&server, &format!("/live/renamed-show/{file}")), 401, "new name, {file}, no token");
    }
    // The publisher of the old name is dropped; with the same key it comes back under the new name.
    assert_publisher_dropped(&mut publisher, "rename");
    let mut publisher = tools::spawn_publisher(&server.publish_url_with_key(&key), 300);
    let token = api.token(&id);
    let media = wait_for_segments(&server, &format!("/t/{token}/live/renamed-show/media.m3u8"));
    let files = stream_files(&media);

    // A viewer parks on a blocking reload of the next-but-one segment.
    let next = hls::media_sequence(&media) + hls::segment_count(&media) as u64 + 1;
    let held_url = server.url(&format!("/t/{token}/live/renamed-show/media.m3u8?_HLS_msn={next}"));
    let held = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = http::get(&held_url, TIMEOUT).map(|answer| answer.status);
        (answer, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));

    // Deleted: the publisher goes, the held request is answered, every URL is gone.
    let deleted_at = Instant::now();
    assert_eq!(api.call("DELETE", &format!("/streams/{id}"), None).0, 204);
    for file in &files {
        assert_eq!(status(&server, &format!("/live/renamed-show/{file}")), 404, "deleted, {file}, no token");
        assert_eq!(status(&server, &format!("/t/{token}/live/renamed-show/{file}")), 404, "deleted, {file}, token");
    }
    let (answer, waited) = held.join().unwrap();
    assert_eq!(answer, Ok(404), "the held blocking reload is answered");
    assert!(waited < Duration::from_secs(3), "held {waited:?}: answered at the delete, not at its hold time");
    assert_publisher_dropped(&mut publisher, "delete");
    eprintln!("delete: everything refused within {:?}", deleted_at.elapsed());

    // Re-created under the same name: the deleted stream's token is refused.
    let (again, again_key) = api.private_stream("renamed-show");
    let _publisher = tools::spawn_publisher(&server.publish_url_with_key(&again_key), 300);
    let fresh = api.token(&again);
    wait_for_segments(&server, &format!("/t/{fresh}/live/renamed-show/media.m3u8"));
    for file in ["index.m3u8", "media.m3u8"] {
        assert_eq!(status(&server, &format!("/t/{token}/live/renamed-show/{file}")), 403, "old token, {file}");
    }
}

#[test]
fn key_rotation_and_the_disconnect_call_drop_the_publisher() {
    let _turn = common::exclusive();
    let server = Server::start();
    let api = Api { server: &server, cookie: common::admin_cookie(&server) };
    let (status_code, stream) = api.call("POST", "/streams", Some(serde_json::json!({"name": "kicked-show"})));
    assert_eq!(status_code, 201);
    let id = stream["id"].as_str().unwrap().to_owned();
    let key = stream["stream_key"].as_str().unwrap().to_owned();

    let mut publisher = tools::spawn_publisher(&server.publish_url_with_key(&key), 300);
    wait_for_live(&api, &id);
    assert_eq!(api.call("POST", &format!("/streams/{id}/disconnect"), None).0, 204);
    assert_publisher_dropped(&mut publisher, "disconnect");
    let (_, audit) = api.call("GET", &format!("/audit?object=stream:{id}"), None);
    assert!(audit.to_string().contains("stream.disconnect"), "the disconnect is audited: {audit}");

    // The same key may come back; a rotation drops it and keeps it out.
    let mut publisher = tools::spawn_publisher(&server.publish_url_with_key(&key), 300);
    wait_for_live(&api, &id);
    let (rotated, _) = api.call("POST", &format!("/streams/{id}/rotate-key"), None);
    assert_eq!(rotated, 200);
    assert_publisher_dropped(&mut publisher, "key rotation");
    let mut refused = tools::spawn_publisher(&server.publish_url_with_key(&key), 30);
    let exited = refused.wait_timeout(Duration::from_secs(15));
    assert!(exited.is_some_and(|status| !status.success()), "the old key is refused");
}

/// An on_play receiver that refuses every viewer and counts the questions.
fn start_refusing_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/on_play", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let record = asked.clone();
    std::thread::spawn(move || {
        for connection in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(connection);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 0) && line != "\r\n" {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            record.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            let answer = r#"{"allow": false}"#;
            let mut socket = reader.into_inner();
            let _ = write!(
                socket,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, asked)
}

#[test]
fn on_play_refusal_guards_every_request_and_invented_names_cost_no_call() {
    let _turn = common::exclusive();
    let server = Server::start();
    let api = Api { server: &server, cookie: common::admin_cookie(&server) };
    let (_, stream) = api.call("POST", "/streams", Some(serde_json::json!({"name": "guarded-show"})));
    let key = stream["stream_key"].as_str().unwrap().to_owned();
    let _publisher = tools::spawn_publisher(&server.publish_url_with_key(&key), 300);
    let media = wait_for_segments(&server, "/live/guarded-show/media.m3u8");
    wait_for_segments(&server, "/live/guarded-show/dvr.m3u8");
    let files = stream_files(&media);
    for file in &files {
        assert_eq!(status(&server, &format!("/live/guarded-show/{file}")), 200, "{file} before on_play exists");
    }

    let (hook_url, asked) = start_refusing_receiver();
    let hook = serde_json::json!({"url": hook_url, "events": ["on_play"], "secret": "on-play-secret-0123456789"});
    assert_eq!(api.call("POST", "/webhooks", Some(hook)).0, 201);
    // The origin notices a new receiver within its refresh period (2 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&server, "/live/guarded-show/index.m3u8") != 403 {
        assert!(Instant::now() < deadline, "on_play never refused the session");
        std::thread::sleep(Duration::from_millis(200));
    }
    for file in &files {
        let expected = if file == "index.m3u8" { 403 } else { 401 };
        assert_eq!(status(&server, &format!("/live/guarded-show/{file}")), expected, "{file} after on_play said no");
    }

    let before = asked.lock().unwrap().len();
    let started = Instant::now();
    for invented in 0..30 {
        assert_eq!(status(&server, &format!("/live/invented-{invented}/index.m3u8")), 404);
    }
    let calls = asked.lock().unwrap().len() - before;
    assert_eq!(calls, 0, "30 invented names in {:?} cost {calls} webhook calls", started.elapsed());
}
