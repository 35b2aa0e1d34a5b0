use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use live::{BlockState, LiveStream, PartState};

use crate::request::{LiveFile, PlaylistQuery};
use crate::{Origin, OriginError};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const MEDIA_TYPE: &str = "video/mp4";
/// Media URIs are never reused, so any cache may keep them.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A plain playlist changes every part; no cache may keep it longer.
const LIVE_PLAYLIST: &str = "public, max-age=0";
/// A blocking response names a unique future state; caching it is safe.
const BLOCKING_PLAYLIST: &str = "public, max-age=60";

pub async fn live_file(
    State(origin): State<Arc<Origin>>,
    Path((stream_name, file_name)): Path<(String, String)>,
    Query(query): Query<PlaylistQuery>,
    uri: axum::http::Uri,
) -> Result<Response, OriginError> {
    // The request's URI shares hyper's read buffer; holding it while a
    // blocking reload waits would make hyper allocate a second 8 KiB buffer
    // for every parked viewer, so only an owned copy of the query is kept.
    let raw_query = uri.query().map(str::to_owned);
    drop(uri);
    let file = LiveFile::parse(&file_name).ok_or(OriginError::NotFound)?;
    if file == LiveFile::Dvr {
        // Boxed: the DVR and proxy paths' futures are several times the
        // size of the live-edge ones, and every parked viewer's request
        // future would otherwise be as large as the largest of them.
        return Box::pin(crate::dvr::playlist(&origin, &stream_name, &query)).await;
    }
    let on_demand = crate::demand::starts_on_demand(&origin, &stream_name).await;
    let mut stream = origin.registry.get(&stream_name);
    if let (None, Some(upstream)) = (&stream, &origin.upstream) {
        if matches!(file, LiveFile::Media) {
            // Reject malformed queries here rather than upstream.
            query.blocking()?;
            query.skip()?;
        }
        let request = crate::proxied::ProxiedRequest { stream: &stream_name, name: &file_name, file, on_demand };
        return Box::pin(crate::proxied::live_file(&origin, upstream, request, raw_query.as_deref())).await;
    }
    if stream.is_none() && on_demand && matches!(file, LiveFile::Multivariant | LiveFile::Media) {
        // The first viewer of a stream pulled on demand gets a playlist, not a 404.
        let started = crate::demand::wait_for_local_stream(&origin, &stream_name).await;
        stream = Some(started.ok_or(OriginError::HoldExpired)?);
    }
    match file {
        LiveFile::Dvr => Err(OriginError::NotFound),
        LiveFile::Multivariant => multivariant(&origin, stream.ok_or(OriginError::NotFound)?).await,
        LiveFile::Media => media_playlist(&origin, stream.ok_or(OriginError::NotFound)?, &query).await,
        LiveFile::Part(msn, index) => part(&origin, stream.ok_or(OriginError::NotFound)?, msn, index).await,
        LiveFile::Init(version) => {
            let data = match stream.and_then(|stream| stream.init(version)) {
                Some(data) => data,
                None => stored(&origin, &live::init_key(&stream_name, version)).await?,
            };
            Ok(media_response(data))
        }
        LiveFile::Segment(msn) => {
            let data = match stream.and_then(|stream| stream.segment_data(msn)) {
                Some(data) => data,
                None => stored(&origin, &live::segment_key(&stream_name, msn)).await?,
            };
            Ok(media_response(data))
        }
    }
}

fn hold_time(origin: &Origin, stream: &LiveStream) -> Duration {
    stream.target_duration().map_or(origin.default_hold, |target| Duration::from_secs(3 * u64::from(target)))
}

/// Re-runs `check` after every change of the stream until it decides or
/// the hold time passes. Subscribing before the first check means no
/// change can slip between check and wait. `request` (playlist or part)
/// labels the parked-request metrics.
async fn wait_for<T>(
    stream: &LiveStream,
    hold: Duration,
    request: &'static str,
    mut check: impl FnMut() -> Option<Result<T, OriginError>>,
) -> Result<T, OriginError> {
    let mut changes = stream.subscribe();
    // One timer for the whole hold: every parked viewer wakes on every part,
    // and a timer re-armed per wake-up costs a timer-wheel insert and removal
    // per viewer per part.
    let expired = tokio::time::sleep(hold);
    tokio::pin!(expired);
    let mut parked: Option<Parked> = None;
    loop {
        // A deleted or renamed-away stream answers its held requests at once.
        if stream.is_retired() {
            Parked::end(parked.take(), "gone");
            return Err(OriginError::NotFound);
        }
        if let Some(decided) = check() {
            Parked::end(parked.take(), if decided.is_ok() { "ready" } else { "gone" });
            return decided;
        }
        parked.get_or_insert_with(|| Parked::begin(request));
        tokio::select! {
            biased;
            changed = changes.changed() => {
                if changed.is_err() {
                    Parked::end(parked.take(), "gone");
                    return Err(OriginError::NotFound);
                }
            }
            () = &mut expired => {
                Parked::end(parked.take(), "expired");
                return Err(OriginError::HoldExpired);
            }
        }
    }
}

/// A request waiting on the live edge: counted in
/// `relay_origin_parked_requests` while it waits (also when its client goes
/// away and the future is dropped), timed when it ends.
struct Parked {
    request: &'static str,
    since: std::time::Instant,
}

impl Parked {
    fn begin(request: &'static str) -> Self {
        metrics::gauge!("relay_origin_parked_requests", "request" => request).increment(1.0);
        Self { request, since: std::time::Instant::now() }
    }

    /// Times `parked`, if the request did wait.
    fn end(parked: Option<Self>, outcome: &'static str) {
        let Some(parked) = parked else { return };
        metrics::histogram!("relay_origin_parked_duration_seconds", "request" => parked.request, "outcome" => outcome)
            .record(parked.since.elapsed().as_secs_f64());
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        metrics::gauge!("relay_origin_parked_requests", "request" => self.request).decrement(1.0);
    }
}

async fn multivariant(origin: &Origin, stream: Arc<LiveStream>) -> Result<Response, OriginError> {
    let hold = hold_time(origin, &stream);
    let body = wait_for(&stream, hold, "playlist", || stream.multivariant_playlist().map(Ok)).await?;
    Ok(([(header::CONTENT_TYPE, PLAYLIST_TYPE), (header::CACHE_CONTROL, LIVE_PLAYLIST)], body).into_response())
}

async fn media_playlist(
    origin: &Origin,
    stream: Arc<LiveStream>,
    query: &PlaylistQuery,
) -> Result<Response, OriginError> {
    let blocking = query.blocking()?;
    let skip = query.skip()?;
    let hold = hold_time(origin, &stream);
    let cache = match &blocking {
        Some(request) => {
            wait_for(&stream, hold, "playlist", || match stream.block_state(request.msn, request.part) {
                BlockState::Ready => Some(Ok(())),
                BlockState::Wait => None,
                BlockState::BadRequest => Some(Err(OriginError::BadRequest("_HLS_msn is too far ahead"))),
            })
            .await?;
            BLOCKING_PLAYLIST
        }
        None => {
            // A player that arrives before the first part waits for it.
            wait_for(&stream, hold, "playlist", || stream.has_media().then_some(Ok(()))).await?;
            LIVE_PLAYLIST
        }
    };
    let body = stream.media_playlist(skip).ok_or(OriginError::NotFound)?;
    let cache = if stream.is_ended() { LIVE_PLAYLIST } else { cache };
    Ok(([(header::CONTENT_TYPE, PLAYLIST_TYPE), (header::CACHE_CONTROL, cache)], body).into_response())
}

async fn part(origin: &Origin, stream: Arc<LiveStream>, msn: u64, index: u32) -> Result<Response, OriginError> {
    let hold = hold_time(origin, &stream);
    let data = wait_for(&stream, hold, "part", || match stream.part(msn, index) {
        PartState::Ready(data) => Some(Ok(data)),
        PartState::Wait => None,
        PartState::NotFound => Some(Err(OriginError::NotFound)),
    })
    .await?;
    Ok(media_response(data))
}

pub(crate) async fn stored(origin: &Origin, key: &str) -> Result<Bytes, OriginError> {
    match origin.storage.get(key).await {
        Ok(Some(data)) => Ok(data),
        Ok(None) => Err(OriginError::NotFound),
        // A name storage cannot hold names nothing: a quiet 404, not an outage.
        Err(storage::StorageError::InvalidKey(_)) => Err(OriginError::NotFound),
        Err(error) => Err(OriginError::Storage(error.to_string())),
    }
}

pub(crate) fn media_response(data: Bytes) -> Response {
    ([(header::CONTENT_TYPE, MEDIA_TYPE), (header::CACHE_CONTROL, IMMUTABLE)], data).into_response()
}

/// Asked by an ingest pod about to take a stream over: 200 "active" while a
/// publisher here still sends, else 200 "idle". Only on the internal port
/// in a cluster; harmless elsewhere (it reveals liveness, which playlists
/// reveal anyway).
pub async fn publisher_state(State(origin): State<Arc<Origin>>, Path(stream_name): Path<String>) -> &'static str {
    let takeover_after = origin.registry.config().takeover_after;
    let active = origin
        .registry
        .get(&stream_name)
        .and_then(|stream| stream.publisher_silence())
        .is_some_and(|silence| silence < takeover_after);
    if active {
        "active"
    } else {
        "idle"
    }
}

/// The status of a stream this pod holds, as the api role asks for it.
pub async fn stream_status(
    State(source): State<Arc<dyn catalog::StreamStatusSource>>,
    Path(stream_name): Path<String>,
) -> Response {
    match source.status(&stream_name).await {
        Ok(Some(status)) => axum::Json(status).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::warn!(stream = %stream_name, %error, "cannot tell the stream's status");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
