//! A publisher whose clock runs 5% fast (ffmpeg stamps 1.05 s of media per
//! real second): PROGRAM-DATE-TIME stays strictly increasing and near the
//! wall clock, and the stream status reports the drift and the corrections.

mod common;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::process::ChildGuard;
use common::{admin_cookie, hls, http, require_tool, Server};

const TIMEOUT: Duration = Duration::from_secs(10);
const RUN_SECS: u64 = 40;
const DAY_MS: i64 = 86_400_000;

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|since| since.as_millis() as i64).unwrap_or_default()
}

/// Milliseconds of the day of an `#EXT-X-PROGRAM-DATE-TIME` value
/// (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
fn ms_of_day(value: &str) -> i64 {
    let time = value.split('T').nth(1).expect("a date and a time").trim_end_matches('Z');
    let mut fields = time.split(':');
    let hours: i64 = fields.next().and_then(|h| h.parse().ok()).expect("hours");
    let minutes: i64 = fields.next().and_then(|m| m.parse().ok()).expect("minutes");
    let seconds: f64 = fields.next().and_then(|s| s.parse().ok()).expect("seconds");
    (hours * 3600 + minutes * 60) * 1000 + (seconds * 1000.0).round() as i64
}

/// `a - b` for two times of day, across midnight.
fn day_difference(a: i64, b: i64) -> i64 {
    (a - b + DAY_MS / 2).rem_euclid(DAY_MS) - DAY_MS / 2
}

/// (media sequence number, PDT ms of day) of every segment in a playlist.
fn segment_pdts(playlist: &str) -> Vec<(u64, i64)> {
    let mut msn = playlist
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|value| value.trim().parse::<u64>().ok())
        .expect("a media sequence");
    let mut pdts = Vec::new();
    for line in playlist.lines() {
        if let Some(value) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdts.push((msn, ms_of_day(value)));
            msn += 1;
        }
    }
    pdts
}

#[test]
fn a_fast_publisher_clock_is_reported_and_pdt_follows_the_wall_clock() {
    let ffmpeg = require_tool("ffmpeg");
    let server = Server::start();
    let cookie = admin_cookie(&server);
    let auth = [("Cookie", cookie.as_str())];

    #[rustfmt::skip]
    let mut publisher = ChildGuard::spawn("ffmpeg", Command::new(&ffmpeg).args([
        "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
        "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
        "-t", &RUN_SECS.to_string(),
        "-vf", "setpts=1.05*PTS",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
        "-f", "flv", &server.publish_url(),
    ]));
    let started = Instant::now();

    let media_playlist = loop {
        let answer = http::get(&server.playlist_url, TIMEOUT).expect("multivariant playlist");
        if answer.status == 200 {
            break hls::media_playlist_url(&server.playlist_url, &answer.text()).expect("a variant");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the stream never went live: {}", server.stderr_tail());
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut first_seen: Vec<(u64, i64, i64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(RUN_SECS - 3) {
        if let Ok(answer) = http::get(&media_playlist, TIMEOUT) {
            if answer.status == 200 {
                let now = wall_ms().rem_euclid(DAY_MS);
                let pdts = segment_pdts(&answer.text());
                for pair in pdts.windows(2) {
                    assert!(day_difference(pair[1].1, pair[0].1) > 0, "PROGRAM-DATE-TIME went backwards: {pdts:?}");
                }
                for (msn, pdt) in pdts {
                    if first_seen.iter().all(|(seen, _, _)| *seen != msn) {
                        first_seen.push((msn, pdt, now));
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(publisher.try_wait().is_none(), "ffmpeg stopped early: {}", publisher.stderr_tail());

    // A segment's PDT is when its first frame arrived; it shows up in the
    // playlist with its first part a few hundred ms later. Uncorrected, a 5%
    // fast clock would put PDT 1.5 s ahead of the wall clock after 30 s.
    let newest = first_seen.iter().map(|(msn, _, _)| *msn).max().expect("segments appeared");
    let late: Vec<i64> = first_seen
        .iter()
        .filter(|(msn, _, _)| *msn + 4 >= newest)
        .map(|(_, pdt, seen)| day_difference(*pdt, *seen))
        .collect();
    assert!(late.len() >= 3, "too few segments seen late in the run: {first_seen:?}");
    for ahead in &late {
        assert!((-1500..=700).contains(ahead), "PDT minus the time the segment appeared: {late:?}");
    }

    let streams = http::send("GET", &server.url("/api/v1/streams"), &auth, None, TIMEOUT).expect("stream list");
    let streams: serde_json::Value = serde_json::from_str(&streams.text()).expect("JSON");
    let id = streams
        .as_array()
        .and_then(|list| list.first())
        .and_then(|stream| stream["id"].as_str())
        .expect("the default stream")
        .to_owned();
    let status = http::send("GET", &server.url(&format!("/api/v1/streams/{id}/status")), &auth, None, TIMEOUT)
        .expect("status request");
    let status: serde_json::Value = serde_json::from_str(&status.text()).expect("JSON");
    let clock = &status["clock"];
    println!("clock status: {clock}; PDT minus first sight of the last segments, ms: {late:?}");
    let ppm = clock["rate_ppm"].as_f64().unwrap_or_default();
    assert!((35_000.0..=65_000.0).contains(&ppm), "a 5% fast clock is about 50000 ppm: {status}");
    assert!(clock["pdt_corrections"].as_u64().is_some_and(|count| count >= 1), "{status}");
    let advice = status["advice"].to_string();
    assert!(advice.contains("runs 5.") || advice.contains("runs 4."), "{status}");
    assert!(advice.contains("fast") && advice.contains("NTP"), "{status}");
}
