//! Conformance checker: observes a live origin from outside and asserts the
//! LL-HLS origin rules (playlist tags, blocking reload, delta updates,
//! preload hints, HTTP caching headers).

mod follower;
mod media;
pub mod report;
mod requests;
mod snapshot;
mod stalled;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use report::Recorder;
pub use report::{Outcome, Report, RuleResult, RULES};
use snapshot::State;
pub use stalled::check_hold_timeout;

use crate::http::{self, Url};
use crate::playlist;
use crate::stats::Summary;

/// How long to wait for the stream's playlists to appear before giving up.
const STARTUP_WAIT: Duration = Duration::from_secs(30);
/// Sent on every request so CORS headers are expected.
const ORIGIN: &str = "http://conformance.invalid";

pub(crate) struct Ctx {
    /// The URL given to the checker (multivariant or media playlist).
    entry_url: Url,
    media_url: Url,
    timeout: Duration,
    /// For requests the origin may hold (blocking reload, preload hints).
    hold_timeout: Duration,
    recorder: Mutex<Recorder>,
    state: Mutex<State>,
}

impl Ctx {
    fn rec(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn request_headers(&self) -> Vec<(&'static str, &'static str)> {
        vec![("Origin", ORIGIN)]
    }
}

/// Watches the stream behind `url` (multivariant or media playlist) for `duration`
/// and reports every rule as passed, failed or skipped.
pub async fn check_stream(url: &str, duration: Duration) -> Report {
    let mut recorder = Recorder::default();
    let url = match Url::parse(url) {
        Ok(url) => url,
        Err(error) => {
            recorder.fail("multivariant.attributes", error.to_string());
            return recorder.finish(url.to_string());
        }
    };
    let (media_url, bandwidth) = match resolve_media_playlist(&url, &mut recorder).await {
        Ok(resolved) => resolved,
        Err(message) => {
            recorder.fail("multivariant.attributes", message);
            return recorder.finish(url.to_string());
        }
    };
    let target_duration = match wait_for_media(&media_url).await {
        Ok(target) => target,
        Err(message) => {
            recorder.fail("part-inf.present", message);
            return recorder.finish(media_url.to_string());
        }
    };
    let mut state = State::default();
    state.advertised_bandwidth = bandwidth;
    let ctx = Arc::new(Ctx {
        entry_url: url.clone(),
        media_url: media_url.clone(),
        timeout: Duration::from_secs(10),
        hold_timeout: Duration::from_secs_f64(3.0 * target_duration + 3.0),
        recorder: Mutex::new(recorder),
        state: Mutex::new(state),
    });
    if url != media_url {
        requests::check_gzip(&ctx, &url).await;
    }
    let deadline = Instant::now() + duration;
    let follower = tokio::spawn(follower::follow(ctx.clone(), deadline));
    // Probes need a first snapshot to aim at.
    while ctx.state().latest.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    requests::run(ctx.clone(), deadline).await;
    let _ = follower.await;
    summarize(&ctx);
    let recorder = std::mem::take(&mut *ctx.rec());
    recorder.finish(media_url.to_string())
}

/// Follows a multivariant playlist to its first variant and checks its attributes.
/// Returns the media playlist URL and the variant's BANDWIDTH.
async fn resolve_media_playlist(url: &Url, recorder: &mut Recorder) -> Result<(Url, Option<u64>), String> {
    let started = Instant::now();
    let response = loop {
        let last = http::get(url, &[("Origin", ORIGIN)], Duration::from_secs(10)).await;
        match last {
            Ok(response) if response.status == 200 => break response,
            other if started.elapsed() > STARTUP_WAIT => {
                return Err(format!("{url} not available after {STARTUP_WAIT:?}: {other:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let variants = playlist::parse_multivariant(&response.text());
    let Some(variant) = variants.first() else {
        recorder.skip("multivariant.attributes", "given URL is a media playlist");
        recorder.skip("rendition-report.present", "given URL is a media playlist");
        recorder.skip("multivariant.bandwidth", "given URL is a media playlist");
        return Ok((url.clone(), None));
    };
    recorder.check("http.cors", response.header("access-control-allow-origin").is_some(), || {
        "multivariant playlist has no Access-Control-Allow-Origin".into()
    });
    for variant in &variants {
        let missing: Vec<&str> = ["CODECS", "RESOLUTION", "FRAME-RATE", "BANDWIDTH"]
            .into_iter()
            .filter(|name| variant.attribute(name).is_none())
            .collect();
        recorder.check("multivariant.attributes", missing.is_empty(), || {
            format!("variant {} lacks {missing:?}", variant.uri)
        });
        recorder.note("multivariant.attributes", format!("{}: {:?}", variant.uri, variant.attributes));
    }
    if variants.len() == 1 {
        recorder.skip("rendition-report.present", "single rendition");
    }
    let bandwidth = variant.attribute("BANDWIDTH").and_then(|value| value.parse().ok());
    let media_url = url.join(&variant.uri).map_err(|error| error.to_string())?;
    Ok((media_url, bandwidth))
}

/// Waits until the media playlist lists media; returns its TARGETDURATION in seconds.
async fn wait_for_media(media_url: &Url) -> Result<f64, String> {
    let started = Instant::now();
    loop {
        let result = http::get(media_url, &[], Duration::from_secs(10)).await;
        if let Ok(response) = &result {
            if response.status == 200 {
                let playlist = playlist::parse_media(&response.text());
                if playlist.last_part().is_some() || !playlist.segments.is_empty() {
                    return Ok(playlist.target_duration.unwrap_or(2) as f64);
                }
            }
        }
        if started.elapsed() > STARTUP_WAIT {
            return Err(format!("{media_url} lists no media after {STARTUP_WAIT:?}: {result:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Turns the collected timings into the arrival-interval rules and metrics.
fn summarize(ctx: &Ctx) {
    let state = ctx.state();
    let mut rec = ctx.rec();
    rec.skip("window.min-length", "no segment left the playlist during the run");
    let part_target = state.part_target.unwrap_or(0.0);
    let target = state.target_duration.unwrap_or(0) as f64;
    if let Some(parts) = Summary::of(&state.part_intervals) {
        let limit = part_target + 0.1;
        rec.check("part.arrival-interval", parts.p99 <= limit, || {
            format!("part arrival interval {parts}, p99 above PART-TARGET + 100 ms = {:.0} ms", limit * 1000.0)
        });
        rec.note("part.arrival-interval", format!("{parts}"));
        rec.metric("part_arrival_interval", parts.to_string());
    }
    if let Some(segments) = Summary::of(&state.segment_intervals) {
        let limit = 1.5 * target;
        rec.check("segment.arrival-interval", segments.max <= limit, || {
            format!("segment arrival interval {segments}, max above 1.5 x TARGETDURATION = {limit:.1} s")
        });
        rec.note("segment.arrival-interval", format!("{segments}"));
        rec.metric("segment_arrival_interval", segments.to_string());
    }
    if let Some(holds) = Summary::of(&state.holds) {
        rec.note("blocking.next-part", format!("held {holds}"));
        rec.metric("blocking_reload_hold", holds.to_string());
    }
    rec.metric("playlists_received", state.snapshots.to_string());
    rec.metric("parts_fetched", state.part_bodies.len().to_string());
}
