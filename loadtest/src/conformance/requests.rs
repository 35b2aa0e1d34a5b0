//! One-off requests that probe the origin's answers to specific situations.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::follower::contains_part;
use super::Ctx;
use crate::http::{self, Response, Url};
use crate::mp4;
use crate::playlist::{self, MediaPlaylist};

/// Runs the probes while the follower keeps the shared state fresh.
pub async fn run(ctx: Arc<Ctx>, deadline: Instant) {
    not_found(&ctx).await;
    bad_requests(&ctx).await;
    playlist_headers(&ctx).await;
    for _ in 0..3 {
        preload_hint(&ctx).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    part_overflow(&ctx, deadline).await;
    // Delta updates need a long window: ask as late as possible.
    let skip_at = deadline.checked_sub(Duration::from_millis(300)).unwrap_or(deadline);
    tokio::time::sleep_until(skip_at.into()).await;
    delta_skip(&ctx).await;
    bandwidth_later(&ctx).await;
    ctx.rec().skip("blocking.timeout-503", "needs a stalled stream: checked by check_hold_timeout");
}

async fn get(ctx: &Ctx, url: &Url, extra: &[(&str, &str)], timeout: Duration) -> Result<Response, http::HttpError> {
    let mut headers = ctx.request_headers();
    headers.extend_from_slice(extra);
    http::get(url, &headers, timeout).await
}

fn latest(ctx: &Ctx) -> Option<MediaPlaylist> {
    ctx.state().latest.clone()
}

async fn not_found(ctx: &Ctx) {
    let id = "http.not-found";
    let next_msn = latest(ctx).map(|p| p.next_msn).unwrap_or(0);
    for uri in ["no-such-file.m4s".to_string(), format!("seg{}.0.m4s", next_msn + 1000)] {
        let Ok(url) = ctx.media_url.join(&uri) else {
            continue;
        };
        match get(ctx, &url, &[], ctx.timeout).await {
            Ok(response) => {
                let cache = response.header("cache-control").unwrap_or("").to_ascii_lowercase();
                let cached_long = response.max_age().is_some_and(|age| age > 1) || cache.contains("immutable");
                ctx.rec().check(id, response.status == 404 && !cached_long, || {
                    format!("{uri} answered {} with Cache-Control {cache:?}", response.status)
                });
            }
            Err(error) => ctx.rec().fail(id, format!("{uri}: {error}")),
        }
    }
}

async fn bad_requests(ctx: &Ctx) {
    let part_only = ctx.media_url.with_query(&[("_HLS_part", "1".into())]);
    expect_status(ctx, "blocking.part-without-msn", &part_only, 400).await;
    // Several past last+2 so the segment closing meanwhile cannot make it valid.
    let last = latest(ctx).and_then(|p| p.last_segment_msn()).unwrap_or(0);
    let too_far = ctx.media_url.with_query(&[("_HLS_msn", (last + 5).to_string())]);
    expect_status(ctx, "blocking.msn-too-far", &too_far, 400).await;
}

async fn expect_status(ctx: &Ctx, id: &str, url: &Url, expected: u16) {
    let sent = Instant::now();
    match get(ctx, url, &[], ctx.hold_timeout).await {
        Ok(response) => ctx.rec().check(id, response.status == expected, || {
            format!(
                "{} answered {} after {:.3} s, expected {expected}",
                url.target,
                response.status,
                sent.elapsed().as_secs_f64()
            )
        }),
        Err(error) => ctx.rec().fail(id, format!("{error}")),
    }
}

async fn playlist_headers(ctx: &Ctx) {
    let part_target = ctx.state().part_target.unwrap_or(0.0);
    match get(ctx, &ctx.media_url, &[], ctx.timeout).await {
        Ok(response) => {
            let cache = response.header("cache-control").unwrap_or("").to_ascii_lowercase();
            let fresh_enough = cache.contains("no-cache")
                || cache.contains("no-store")
                || response.max_age().is_some_and(|age| age as f64 <= part_target);
            let mut rec = ctx.rec();
            rec.check("http.cache-playlist", fresh_enough, || {
                format!("media playlist Cache-Control {cache:?}, PART-TARGET {part_target}")
            });
            rec.check("http.cors", response.header("access-control-allow-origin").is_some(), || {
                "media playlist has no Access-Control-Allow-Origin".into()
            });
        }
        Err(error) => ctx.rec().fail("http.cache-playlist", format!("{error}")),
    }
    check_gzip(ctx, &ctx.media_url).await;
}

pub async fn check_gzip(ctx: &Ctx, url: &Url) {
    let id = "http.gzip";
    let response = match get(ctx, url, &[("Accept-Encoding", "gzip")], ctx.timeout).await {
        Ok(response) => response,
        Err(error) => return ctx.rec().fail(id, format!("{error}")),
    };
    let encoding = response.header("content-encoding").unwrap_or("").to_string();
    if encoding != "gzip" {
        return ctx
            .rec()
            .fail(id, format!("{} with Accept-Encoding: gzip answered Content-Encoding {encoding:?}", url.path()));
    }
    let mut text = String::new();
    let decoded = flate2::read::GzDecoder::new(response.body.as_slice()).read_to_string(&mut text);
    ctx.rec().check(id, decoded.is_ok() && text.starts_with("#EXTM3U"), || {
        format!("{}: gzip body does not decode to a playlist", url.path())
    });
}

async fn preload_hint(ctx: &Ctx) {
    let id = "preload-hint.held";
    let Some(playlist) = latest(ctx) else { return };
    let Some(hint) = playlist.preload_hints.iter().find(|hint| hint.kind == "PART") else {
        return ctx.rec().fail(id, "playlist has no EXT-X-PRELOAD-HINT:TYPE=PART");
    };
    let Ok(url) = ctx.media_url.join(&hint.uri) else {
        return;
    };
    let part_target = playlist.part_target.unwrap_or(0.2);
    let first = match get(ctx, &url, &[], ctx.hold_timeout).await {
        Ok(response) => response,
        Err(error) => return ctx.rec().fail(id, format!("{}: {error}", hint.uri)),
    };
    let held = first.elapsed().as_secs_f64();
    let first_box = mp4::first_box_kind(&first.body);
    if first.status != 200 || first_box.as_deref() != Some("moof") {
        return ctx.rec().fail(
            id,
            format!("{} answered {} after {held:.3} s, body begins with {first_box:?}", hint.uri, first.status),
        );
    }
    tokio::time::sleep(Duration::from_secs_f64(part_target * 2.0)).await;
    let again = get(ctx, &url, &[], ctx.timeout).await;
    let same = again.as_ref().is_ok_and(|r| r.status == 200 && r.body == first.body);
    let mut rec = ctx.rec();
    rec.check(id, same && held <= 3.0 * part_target + 0.5, || {
        format!(
            "{}: held {held:.3} s, {} bytes; later fetch {}",
            hint.uri,
            first.body.len(),
            match &again {
                Ok(r) => format!("answered {} with {} bytes", r.status, r.body.len()),
                Err(e) => e.to_string(),
            }
        )
    });
    rec.note(id, format!("{} held {:.0} ms", hint.uri, held * 1000.0));
}

async fn part_overflow(ctx: &Ctx, deadline: Instant) {
    let id = "blocking.part-overflow";
    while Instant::now() < deadline {
        let Some(playlist) = latest(ctx) else { break };
        let candidate = playlist.segments.iter().rev().find(|segment| {
            !segment.parts.is_empty() && playlist.all_parts().any(|p| p.msn == segment.msn + 1 && p.index == 0)
        });
        let Some(segment) = candidate else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let (msn, index) = (segment.msn, segment.parts.len() as u32);
        let url = ctx.media_url.with_query(&[("_HLS_msn", msn.to_string()), ("_HLS_part", index.to_string())]);
        return match get(ctx, &url, &[], ctx.hold_timeout).await {
            Ok(response) => {
                let answered = playlist::parse_media(&response.text());
                let elapsed = response.elapsed().as_secs_f64();
                let ok = response.status == 200 && contains_part(&answered, msn + 1, 0) && elapsed < 1.0;
                ctx.rec().check(id, ok, || {
                    format!(
                        "_HLS_msn={msn}&_HLS_part={index} (segment {msn} has {index} parts, part 0 of {} exists) answered {} after {elapsed:.3} s",
                        msn + 1,
                        response.status
                    )
                });
            }
            Err(error) => ctx.rec().fail(id, format!("{}: {error}", url.target)),
        };
    }
}

async fn delta_skip(ctx: &Ctx) {
    let id = "delta.skip";
    let full = match get(ctx, &ctx.media_url, &[], ctx.timeout).await {
        Ok(response) => playlist::parse_media(&response.text()),
        Err(error) => return ctx.rec().fail(id, format!("{error}")),
    };
    let skip_until = full.server_control.as_ref().and_then(|control| control.can_skip_until);
    let Some(skip_until) = skip_until else {
        return ctx.rec().skip(id, "no CAN-SKIP-UNTIL advertised");
    };
    let url = ctx.media_url.with_query(&[("_HLS_skip", "YES".into())]);
    let delta = match get(ctx, &url, &[], ctx.timeout).await {
        Ok(response) if response.status == 200 => playlist::parse_media(&response.text()),
        Ok(response) => return ctx.rec().fail(id, format!("_HLS_skip=YES answered {}", response.status)),
        Err(error) => return ctx.rec().fail(id, format!("{error}")),
    };
    let target = full.target_duration.unwrap_or(0) as f64;
    let skippable =
        full.segments_duration() + full.trailing_duration() - full.segments.first().map(|s| s.duration).unwrap_or(0.0);
    let mut rec = ctx.rec();
    if delta.skipped_segments == 0 {
        if skippable >= skip_until + target {
            rec.fail(
                id,
                format!("no EXT-X-SKIP although the playlist spans {skippable:.1} s past its first segment (CAN-SKIP-UNTIL {skip_until})"),
            );
        } else {
            rec.skip(
                id,
                format!("window {:.1} s too short to skip with CAN-SKIP-UNTIL {skip_until}", full.segments_duration()),
            );
        }
        return;
    }
    let version = delta.version.unwrap_or(0);
    rec.check(id, version >= 9, || format!("delta playlist has EXT-X-VERSION {version}"));
    let kept = delta.segments_duration() + delta.trailing_duration();
    rec.check(id, kept + target >= skip_until, || {
        format!("delta playlist keeps only {kept:.1} s, less than CAN-SKIP-UNTIL {skip_until}")
    });
    // The same sequence number must name the same URI in both playlists.
    let mismatch = delta
        .segments
        .iter()
        .find(|segment| full.segments.iter().any(|other| other.msn == segment.msn && other.uri != segment.uri));
    rec.check(id, mismatch.is_none(), || {
        format!("after EXT-X-SKIP, msn {:?} names another URI than in the full playlist", mismatch.map(|s| s.msn))
    });
    rec.note(id, format!("skipped {} segments", delta.skipped_segments));
}

/// Notes the BANDWIDTH a player loading the stream now would see.
async fn bandwidth_later(ctx: &Ctx) {
    if ctx.entry_url == ctx.media_url {
        return;
    }
    if let Ok(response) = get(ctx, &ctx.entry_url, &[], ctx.timeout).await {
        let variants = playlist::parse_multivariant(&response.text());
        if let Some(bandwidth) = variants.first().and_then(|v| v.attribute("BANDWIDTH")) {
            ctx.rec().note("multivariant.bandwidth", format!("BANDWIDTH at the end of the run: {bandwidth}"));
        }
    }
}
