//! A developer's whole path to a private stream: create it through the API,
//! push to it with ffmpeg, fetch a playback token, play the tokenized URL in
//! hls.js in Chromium, and see the same URL without the token refused.

mod common;

use std::time::Duration;

use common::{http, tools, Server};

const TIMEOUT: Duration = Duration::from_secs(10);
const PLAY_SECONDS: u64 = 12;

fn json(response: &http::Response) -> serde_json::Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", response.text()))
}

#[test]
fn private_stream_plays_only_with_an_api_issued_token() {
    let browser = common::browser::require();

    let _turn = common::exclusive();
    let server = Server::start();
    let cookie = common::admin_cookie(&server);
    let auth = [("Cookie", cookie.as_str())];

    let created =
        http::send("POST", &server.url("/api/v1/streams"), &auth, Some(r#"{"name": "private-show"}"#), TIMEOUT)
            .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    let stream = json(&created);
    let id = stream["id"].as_str().expect("stream id").to_owned();
    let key = stream["stream_key"].as_str().expect("stream key shown on creation").to_owned();
    let policy = http::send(
        "PUT",
        &server.url(&format!("/api/v1/streams/{id}/policy")),
        &auth,
        Some(r#"{"kind": "token"}"#),
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(policy.status, 200, "{}", policy.text());

    let _publisher = tools::spawn_publisher(&server.publish_url_with_key(&key), 60);
    let issued = http::send(
        "POST",
        &server.url(&format!("/api/v1/streams/{id}/tokens")),
        &auth,
        Some(r#"{"expires_in_secs": 600}"#),
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(issued.status, 201, "{}", issued.text());
    let token_path = json(&issued)["url_path"].as_str().expect("url_path").to_owned();
    let tokenized = server.url(&token_path);
    let plain = server.url("/live/private-show/index.m3u8");

    // Wait for the stream through the tokenized URL.
    let media = tokenized.replace("index.m3u8", "media.m3u8");
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    loop {
        let answer = http::get(&media, TIMEOUT).unwrap();
        if answer.status == 200 && answer.text().contains("#EXTINF") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "stream never appeared: {} {}", answer.status, answer.text());
        std::thread::sleep(Duration::from_millis(300));
    }
    // The API reports the stream live, with what the publisher sends.
    std::thread::sleep(Duration::from_secs(3));
    let status = http::send("GET", &server.url(&format!("/api/v1/streams/{id}/status")), &auth, None, TIMEOUT).unwrap();
    assert_eq!(status.status, 200, "{}", status.text());
    let status = json(&status);
    assert_eq!(status["state"], "live", "{status}");
    let codecs = status["codecs"].to_string();
    assert!(codecs.contains("avc1.") && codecs.contains("mp4a.40.2"), "{status}");
    assert_eq!(status["resolution"], serde_json::json!({"width": 640, "height": 360}), "{status}");
    assert!(status["bitrate_average_bps"].as_u64().is_some_and(|bps| bps > 50_000), "{status}");
    let gop = status["publisher"]["gop_last_ms"].as_i64().unwrap_or_default();
    assert!((1900..=2100).contains(&gop), "the test source sends a keyframe every 2 s: {status}");
    assert_eq!(status["publisher"]["b_frames"], true, "{status}");
    assert!(status["advice"].is_array(), "{status}");
    let missing = http::send("GET", &server.url("/api/v1/streams/nope/status"), &auth, None, TIMEOUT).unwrap();
    assert_eq!(missing.status, 404);
    let anonymous = http::get(&server.url(&format!("/api/v1/streams/{id}/status")), TIMEOUT).unwrap();
    assert_eq!(anonymous.status, 401);

    for url in [&plain, &plain.replace("index.m3u8", "media.m3u8")] {
        let refused = http::get(url, TIMEOUT).unwrap();
        assert!(matches!(refused.status, 401 | 403), "{url} without a token: {}", refused.status);
    }
    let forged = tokenized.replace("/t/", "/t/x");
    assert!(matches!(http::get(&forged, TIMEOUT).unwrap().status, 401 | 403), "a forged token is refused");

    let seconds = PLAY_SECONDS.to_string();
    let report = browser.run("play.mjs", &[&tokenized, &seconds], Duration::from_secs(PLAY_SECONDS + 45));
    let fatal = &report["fatal_errors"];
    assert!(fatal.as_array().is_some_and(|errors| errors.is_empty()), "hls.js fatal errors: {fatal}; {report}");
    let played = report["played_s"].as_f64().unwrap_or(0.0);
    assert!(played >= (PLAY_SECONDS - 4) as f64, "played only {played} s through the tokenized URL: {report}");
}
