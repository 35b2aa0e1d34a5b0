//! The web console in Chromium against `relay all`: an operator logs in
//! with the printed admin password, sees the live stream's status, creates a
//! push stream, reads its key, switches it to token playback and issues a
//! token, all through the UI.
//! The test then checks through the REST API, the origin and RTMP that what
//! the page did and showed is real.

mod common;

use std::time::{Duration, Instant};

use common::{http, tools, Server};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(10);
const STREAM: &str = "console-show";

fn json(response: &http::Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", response.text()))
}

fn text<'a>(report: &'a Value, field: &str) -> &'a str {
    report[field].as_str().unwrap_or_else(|| panic!("report has no {field}: {report}"))
}

/// Waits until a media playlist lists segments.
fn wait_for_media(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let answer = http::get(url, TIMEOUT).unwrap();
        if answer.status == 200 && answer.text().contains("#EXTINF") {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never listed segments: {} {}", answer.status, answer.text());
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn console_creates_a_token_protected_stream_whose_key_and_token_work() {
    let browser = common::browser::require();

    let _turn = common::exclusive();
    let server = Server::start();
    let password = server.admin_password.clone().expect("first start prints the admin login");
    // The default stream is live while the console lists the streams.
    let main_publisher = tools::spawn_publisher(&server.publish_url(), 60);
    wait_for_media(&server.url("/live/main/media.m3u8"));

    let report = browser.run("console.mjs", &[&server.http_base, &password, STREAM], Duration::from_secs(120));
    drop(main_publisher);
    assert!(report.get("step_error").is_none(), "the walk through the console stopped: {report}");
    assert_eq!(report["page_errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["csp_violations"], serde_json::json!([]), "{report}");

    // What the page showed.
    assert_eq!(text(&report, "signed_in_as"), "admin (admin)");
    let main = &report["statuses"]["main"];
    assert_eq!(main["state"], "live", "{report}");
    assert!(main["text"].as_str().is_some_and(|text| text.starts_with("live · ")), "{report}");
    let key = text(&report, "stream_key");
    assert!(
        (16..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "not a stream key: {key:?}"
    );
    assert!(text(&report, "key_label").contains(STREAM), "{report}");
    assert!(text(&report, "policy_state").starts_with("Now: token"), "{report}");
    assert!(text(&report, "token_field_error").starts_with("expires_in_secs:"), "{report}");
    assert_eq!(report["token_form_errors_hidden"], true, "the 422 stays shown after a good token: {report}");
    assert!(text(&report, "duplicate_error").contains("(409)"), "{report}");
    assert_eq!(report["browser_storage_items"], 0, "{report}");
    assert_eq!(report["session_cookie_visible_to_script"], false, "{report}");
    assert_eq!(report["logged_out"], true, "{report}");

    let playlist = text(&report, "playlist_url").to_owned();
    let token_path = playlist.strip_prefix(&server.http_base).unwrap_or_else(|| panic!("foreign URL {playlist}"));
    let token = token_path
        .strip_prefix("/t/")
        .and_then(|rest| rest.strip_suffix(&format!("/live/{STREAM}/index.m3u8")))
        .unwrap_or_else(|| panic!("not a tokenized playlist path: {token_path}"));
    assert_eq!(text(&report, "player_link"), format!("/player.html?stream={STREAM}&token={token}"));

    // The REST API agrees: the stream exists with the token policy, and the audit log has the create.
    let cookie = common::admin_cookie(&server);
    let auth = [("Cookie", cookie.as_str())];
    let streams = json(&http::send("GET", &server.url("/api/v1/streams"), &auth, None, TIMEOUT).unwrap());
    let created: Vec<&Value> = streams.as_array().unwrap().iter().filter(|stream| stream["name"] == STREAM).collect();
    assert_eq!(created.len(), 1, "the duplicate must not exist: {streams}");
    assert_eq!(created[0]["kind"], "push");
    let id = created[0]["id"].as_str().unwrap();
    let policy = http::send("GET", &server.url(&format!("/api/v1/streams/{id}/policy")), &auth, None, TIMEOUT).unwrap();
    assert_eq!(policy.status, 200, "{}", policy.text());
    assert_eq!(json(&policy)["policy"]["kind"], "token", "{}", policy.text());
    assert_eq!(json(&policy)["default"], false);
    let audit =
        http::send("GET", &server.url(&format!("/api/v1/audit?object=stream:{id}")), &auth, None, TIMEOUT).unwrap();
    assert_eq!(audit.status, 200, "{}", audit.text());
    let actions: Vec<(String, String)> = json(&audit)
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["action"].as_str().unwrap().to_owned(), entry["actor_name"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(report["disconnected"], true, "the console's disconnect button: {report}");
    for action in ["stream.create", "policy.set", "token.issue", "stream.disconnect"] {
        assert!(actions.contains(&(action.to_owned(), "admin".to_owned())), "no {action} by admin in {actions:?}");
    }
    let shown: Vec<&str> =
        report["audit"].as_array().unwrap().iter().filter_map(|row| row["action"].as_str()).collect();
    assert!(shown.contains(&"stream.create") && shown.contains(&"policy.set"), "audit screen showed {shown:?}");

    // The key the page showed publishes, and the token it issued plays; without it the stream is refused.
    let _publisher = tools::spawn_publisher(&server.publish_url_with_key(key), 60);
    wait_for_media(&playlist.replace("index.m3u8", "media.m3u8"));
    let plain = http::get(&server.url(&format!("/live/{STREAM}/index.m3u8")), TIMEOUT).unwrap();
    assert!(matches!(plain.status, 401 | 403), "the token policy is not enforced: {}", plain.status);
}
