//! Checks on media responses: parts, init segments, whole segments, removed parts.

use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use crate::http::{self, Response};
use crate::mp4;
use crate::playlist::Part;

/// Smallest max-age accepted for immutable media (one day).
const LONG_MAX_AGE: u64 = 86_400;
/// Removed parts re-fetched per run; a few are enough to show the behaviour.
const MAX_REMOVAL_CHECKS: usize = 4;

pub fn check_media_headers(ctx: &Ctx, what: &str, response: &Response) {
    let mut rec = ctx.rec();
    let cache = response.header("cache-control").unwrap_or("").to_string();
    rec.check("http.cache-media", response.max_age().is_some_and(|age| age >= LONG_MAX_AGE), || {
        format!("{what}: Cache-Control {cache:?}")
    });
    rec.check("http.cors", response.header("access-control-allow-origin").is_some(), || {
        format!("{what}: no Access-Control-Allow-Origin")
    });
}

/// Fetches an init segment once and remembers its track layout.
pub async fn ensure_init(ctx: &Arc<Ctx>, uri: &str) {
    if ctx.state().inits.contains_key(uri) {
        return;
    }
    let info = match fetch(ctx, uri).await {
        Ok(response) if response.status == 200 => {
            check_media_headers(ctx, uri, &response);
            mp4::parse_init(&response.body)
        }
        Ok(response) => {
            ctx.rec().fail("part.downloadable", format!("init {uri} answered {}", response.status));
            mp4::InitInfo::default()
        }
        Err(error) => {
            ctx.rec().fail("part.downloadable", format!("init {uri}: {error}"));
            mp4::InitInfo::default()
        }
    };
    ctx.state().inits.insert(uri.to_string(), info);
}

async fn fetch(ctx: &Ctx, uri: &str) -> Result<Response, http::HttpError> {
    let url = ctx.media_url.join(uri)?;
    http::get(&url, &ctx.request_headers(), ctx.timeout).await
}

/// Fetches a newly listed part and checks its status, headers, first box and keyframe flag.
pub async fn check_part(ctx: Arc<Ctx>, part: Part, map_uri: Option<String>) {
    let response = match fetch(&ctx, &part.uri).await {
        Ok(response) => response,
        Err(error) => {
            ctx.rec().fail("part.downloadable", format!("{}: {error}", part.uri));
            return;
        }
    };
    let status = response.status;
    ctx.rec().check("part.downloadable", status == 200, || format!("{} answered {status}", part.uri));
    if status != 200 {
        return;
    }
    check_media_headers(&ctx, &part.uri, &response);
    let first_box = mp4::first_box_kind(&response.body);
    let init = map_uri.and_then(|uri| ctx.state().inits.get(&uri).cloned()).unwrap_or_default();
    let keyframe = mp4::starts_with_keyframe(&response.body, &init);
    {
        let mut rec = ctx.rec();
        rec.check("part.starts-with-moof", first_box.as_deref() == Some("moof"), || {
            format!("{} begins with {first_box:?}", part.uri)
        });
        match keyframe {
            Some(true) => rec.check("part.independent-keyframe", part.independent, || {
                format!("{} starts with a sync sample but is not INDEPENDENT=YES", part.uri)
            }),
            Some(false) => rec.check("part.independent-keyframe", !part.independent, || {
                format!("{} is INDEPENDENT=YES but its first video sample is not a sync sample", part.uri)
            }),
            None => rec.note("part.independent-keyframe", format!("{}: no video sample flags found", part.uri)),
        }
    }
    ctx.state().part_bodies.insert((part.msn, part.index), response.body);
}

/// Compares a complete segment with the concatenation of its parts.
pub async fn check_segment(ctx: Arc<Ctx>, msn: u64, uri: String, part_count: u32) {
    // Part fetches run concurrently; give them a moment to land.
    let mut joined = None;
    for _ in 0..40 {
        joined = {
            let state = ctx.state();
            (0..part_count)
                .map(|index| state.part_bodies.get(&(msn, index)).cloned())
                .collect::<Option<Vec<_>>>()
                .map(|bodies| bodies.concat())
        };
        if joined.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(expected) = joined else {
        ctx.rec().note("segment.equals-parts", format!("segment {msn}: not all part bodies fetched"));
        return;
    };
    match fetch(&ctx, &uri).await {
        Ok(response) if response.status == 200 => {
            check_media_headers(&ctx, &uri, &response);
            check_bandwidth(&ctx, msn, &uri, response.body.len());
            let same = response.body == expected;
            ctx.rec().check("segment.equals-parts", same, || {
                format!(
                    "{uri}: {} bytes, its {part_count} parts concatenated are {} bytes{}",
                    response.body.len(),
                    expected.len(),
                    if response.body.len() == expected.len() { " (same length, different bytes)" } else { "" }
                )
            });
        }
        Ok(response) => ctx.rec().fail("segment.equals-parts", format!("{uri} answered {}", response.status)),
        Err(error) => ctx.rec().fail("segment.equals-parts", format!("{uri}: {error}")),
    }
}

/// Re-fetches a part right after it left the playlist.
pub async fn check_removed_part(ctx: Arc<Ctx>, uri: String, key: (u64, u32)) {
    let expected = {
        let mut state = ctx.state();
        if state.removal_checks >= MAX_REMOVAL_CHECKS {
            return;
        }
        state.removal_checks += 1;
        state.part_bodies.get(&key).cloned()
    };
    let id = "part.downloadable-after-removal";
    match fetch(&ctx, &uri).await {
        Ok(response) => {
            let status = response.status;
            let same = expected.is_none_or(|body| body == response.body);
            ctx.rec().check(id, status == 200 && same, || {
                if status == 200 {
                    format!("{uri}: body differs from when it was listed")
                } else {
                    format!("{uri} answered {status} right after leaving the playlist")
                }
            });
        }
        Err(error) => ctx.rec().fail(id, format!("{uri}: {error}")),
    }
}

/// The variant's BANDWIDTH must cover every segment's bit rate.
fn check_bandwidth(ctx: &Ctx, msn: u64, uri: &str, bytes: usize) {
    let (advertised, duration) = {
        let state = ctx.state();
        (state.advertised_bandwidth, state.segment_durations.get(&msn).copied())
    };
    let (Some(advertised), Some(duration)) = (advertised, duration) else {
        return;
    };
    if duration <= 0.0 {
        return;
    }
    let measured = bytes as f64 * 8.0 / duration;
    ctx.rec().check("multivariant.bandwidth", measured <= advertised as f64 * 1.1, || {
        format!("{uri}: {measured:.0} bit/s over {duration} s, BANDWIDTH={advertised}")
    });
}
