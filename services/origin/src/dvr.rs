//! dvr.m3u8: the stored part of a stream, from the segment index rather
//! than the live edge, so it reaches back hours. Its segments and init
//! segments are served like any other (memory, owner, then storage).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use media::hls::{ListedSegment, SegmentList};

use crate::request::PlaylistQuery;
use crate::{Origin, OriginError};

/// Most segments one playlist lists: 24 h of 2 s segments.
const MAX_LISTED: usize = 43_200;

pub type IndexFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, cluster::ClusterError>> + Send + 'a>>;

/// The stored-segment index (the cluster registry in the database).
pub trait SegmentIndex: Send + Sync + 'static {
    /// How far back `stream` may be rewound.
    fn window<'a>(&'a self, stream: &'a str) -> IndexFuture<'a, Duration>;
    /// Segments overlapping [from_ms, to_ms), oldest first, at most `limit`,
    /// and whether the stream has ended.
    fn segments<'a>(
        &'a self,
        stream: &'a str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> IndexFuture<'a, (Vec<ListedSegment>, bool)>;
}

pub async fn playlist(origin: &Origin, stream: &str, query: &PlaylistQuery) -> Result<Response, OriginError> {
    let index = origin.index.as_ref().ok_or(OriginError::NotFound)?;
    let range = query.time_range()?;
    let unavailable = |error: cluster::ClusterError| OriginError::Storage(format!("segment index: {error}"));
    let (from_ms, to_ms, vod) = match range {
        Some((start, end)) => (start, end, true),
        None => {
            let window = index.window(stream).await.map_err(unavailable)?;
            let now = origin.registry.config().clock.unix_ms();
            (now - window.as_millis() as i64, now + 60_000, false)
        }
    };
    let (segments, ended) = index.segments(stream, from_ms, to_ms, MAX_LISTED).await.map_err(unavailable)?;
    let body = SegmentList { segments, vod, ended }.render().ok_or(OriginError::NotFound)?;
    // The window slides every segment; a closed range only changes when
    // retention removes it.
    let cache = if vod { "public, max-age=60" } else { "public, max-age=1" };
    Ok(([(header::CONTENT_TYPE, "application/vnd.apple.mpegurl"), (header::CACHE_CONTROL, cache)], body)
        .into_response())
}
