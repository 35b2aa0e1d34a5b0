//! Follows the media playlist the way an LL-HLS player does (blocking reloads
//! for the next part), feeding every response to the snapshot rules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{media, snapshot, Ctx};
use crate::http;
use crate::playlist::{self, MediaPlaylist};

/// Whether `playlist` satisfies a blocking request for part `index` of `msn`.
pub fn contains_part(playlist: &MediaPlaylist, msn: u64, index: u32) -> bool {
    if playlist.all_parts().any(|part| part.msn == msn && part.index == index) {
        return true;
    }
    if let Some(segment) = playlist.segments.iter().find(|segment| segment.msn == msn) {
        // A part index past the end of segment msn means part 0 of msn + 1.
        let past_end = index as usize >= segment.parts.len() && !segment.parts.is_empty();
        let next_exists = playlist.all_parts().any(|part| part.msn == msn + 1)
            || playlist.segments.iter().any(|segment| segment.msn == msn + 1);
        return past_end && next_exists || segment.parts.is_empty();
    }
    false
}

pub async fn follow(ctx: Arc<Ctx>, deadline: Instant) {
    let mut tasks = JoinSet::new();
    let mut request: Option<(u64, u32)> = None;
    while Instant::now() < deadline {
        let url = match request {
            Some((msn, part)) => {
                ctx.media_url.with_query(&[("_HLS_msn", msn.to_string()), ("_HLS_part", part.to_string())])
            }
            None => ctx.media_url.clone(),
        };
        let sent = Instant::now();
        let result = http::get(&url, &ctx.request_headers(), ctx.hold_timeout).await;
        let now = Instant::now();
        let response = match result {
            Ok(response) if response.status == 200 => response,
            Ok(response) => {
                ctx.rec().fail(
                    "blocking.next-part",
                    format!("{} answered {} after {:?}", url.target, response.status, now - sent),
                );
                request = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(error) => {
                ctx.rec().fail("blocking.next-part", format!("{error}"));
                request = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let playlist = playlist::parse_media(&response.text());
        if let Some((msn, part)) = request {
            let held = now.duration_since(sent).as_secs_f64();
            ctx.state().holds.push(held);
            let last = playlist.last_part().map(|p| (p.msn, p.index));
            ctx.rec().check("blocking.next-part", contains_part(&playlist, msn, part), || {
                format!("asked _HLS_msn={msn}&_HLS_part={part}, answered after {held:.3} s with last part {last:?}")
            });
        }
        let actions = {
            let mut rec = ctx.rec();
            let mut state = ctx.state();
            snapshot::check_snapshot(&mut rec, &mut state, &playlist, now)
        };
        if let Some(map_uri) = &playlist.map_uri {
            media::ensure_init(&ctx, map_uri).await;
        }
        for part in actions.new_parts {
            tasks.spawn(media::check_part(ctx.clone(), part, playlist.map_uri.clone()));
        }
        for (msn, uri, count) in actions.complete_segments {
            tasks.spawn(media::check_segment(ctx.clone(), msn, uri, count));
        }
        for (uri, key) in actions.removed_parts {
            tasks.spawn(media::check_removed_part(ctx.clone(), uri, key));
        }
        while tasks.try_join_next().is_some() {}
        if playlist.endlist {
            break;
        }
        let blocking = playlist.server_control.as_ref().is_some_and(|control| control.can_block_reload);
        if blocking && playlist.part_target.is_some() {
            request = Some(playlist.next_part_request());
        } else {
            request = None;
            let pause = playlist.part_target.unwrap_or(0.2).max(0.05);
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_past_segment_end_is_next_segment_start() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:4\n\
            #EXT-X-PART:DURATION=0.2,URI=\"a.0\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.2,URI=\"a.1\"\n\
            #EXTINF:0.4,\na\n#EXT-X-PART:DURATION=0.2,URI=\"b.0\",INDEPENDENT=YES\n";
        let playlist = playlist::parse_media(text);
        assert!(contains_part(&playlist, 4, 1));
        assert!(contains_part(&playlist, 4, 2));
        assert!(contains_part(&playlist, 5, 0));
        assert!(!contains_part(&playlist, 5, 1));
    }
}
