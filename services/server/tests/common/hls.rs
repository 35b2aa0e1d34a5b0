//! Just enough playlist handling for the e2e tests: follow the multivariant
//! playlist to the media playlist, wait until the stream has complete
//! segments, and list the init and segment URIs.

use std::thread;
use std::time::{Duration, Instant};

use super::http;

/// Resolves a URI found in a playlist against the playlist's own URL.
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return reference.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    if reference.starts_with('/') {
        let authority_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
        return format!("{}{reference}", &base[..authority_end]);
    }
    let without_query = base.split('?').next().unwrap_or(base);
    let dir_end = without_query.rfind('/').map_or(without_query.len(), |i| i + 1);
    format!("{}{reference}", &without_query[..dir_end])
}

/// URI lines (not tags, not blank) in playlist order.
pub fn uri_lines(playlist: &str) -> Vec<&str> {
    playlist.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')).collect()
}

/// The URI attribute of the last EXT-X-MAP tag, if any.
pub fn map_uri(playlist: &str) -> Option<&str> {
    playlist
        .lines()
        .rev()
        .filter_map(|line| line.strip_prefix("#EXT-X-MAP:"))
        .find_map(|attributes| attributes.split("URI=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
}

/// Number of complete segments (EXTINF entries) in a media playlist.
pub fn segment_count(playlist: &str) -> usize {
    playlist.lines().filter(|line| line.starts_with("#EXTINF:")).count()
}

/// Value of `#EXT-X-MEDIA-SEQUENCE`, 0 when absent.
pub fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Media playlist URL: the URL itself if it is a media playlist, else the
/// first variant of the multivariant playlist.
pub fn media_playlist_url(playlist_url: &str, body: &str) -> Option<String> {
    if !body.contains("#EXT-X-STREAM-INF") {
        return Some(playlist_url.to_string());
    }
    let mut lines = body.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-STREAM-INF") {
            return lines.find(|l| !l.is_empty() && !l.starts_with('#')).map(|uri| resolve(playlist_url, uri));
        }
    }
    None
}

/// A snapshot of a live stream's media playlist.
pub struct MediaPlaylist {
    pub url: String,
    pub body: String,
}

impl MediaPlaylist {
    pub fn segment_urls(&self) -> Vec<String> {
        uri_lines(&self.body).into_iter().map(|uri| resolve(&self.url, uri)).collect()
    }

    pub fn init_url(&self) -> Option<String> {
        map_uri(&self.body).map(|uri| resolve(&self.url, uri))
    }
}

/// Fetches the playlist behind `playlist_url` (following a multivariant
/// playlist) once; `Err` describes what is not there yet.
pub fn fetch_media_playlist(playlist_url: &str) -> Result<MediaPlaylist, String> {
    let timeout = Duration::from_secs(10);
    let top = http::get(playlist_url, timeout)?;
    if top.status != 200 {
        return Err(format!("{playlist_url}: HTTP {}", top.status));
    }
    let top_body = top.text();
    let url = media_playlist_url(playlist_url, &top_body)
        .ok_or_else(|| format!("no variant in {playlist_url}:\n{top_body}"))?;
    if url == playlist_url {
        return Ok(MediaPlaylist { url, body: top_body });
    }
    let media = http::get(&url, timeout)?;
    if media.status != 200 {
        return Err(format!("{url}: HTTP {}", media.status));
    }
    Ok(MediaPlaylist { url, body: media.text() })
}

/// Polls until the stream's media playlist lists at least `segments`
/// complete segments, or panics with the last thing seen after `timeout`.
pub fn wait_for_segments(playlist_url: &str, segments: usize, timeout: Duration) -> MediaPlaylist {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match fetch_media_playlist(playlist_url) {
            Ok(playlist) if segment_count(&playlist.body) >= segments => return playlist,
            Ok(playlist) => format!("only {} segments:\n{}", segment_count(&playlist.body), playlist.body),
            Err(err) => err,
        };
        if Instant::now() >= deadline {
            panic!("stream at {playlist_url} did not reach {segments} segments within {timeout:?}; last: {last}");
        }
        thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_absolute_references() {
        let base = "http://127.0.0.1:8080/live/main/index.m3u8?token=x";
        assert_eq!(resolve(base, "media.m3u8"), "http://127.0.0.1:8080/live/main/media.m3u8");
        assert_eq!(resolve(base, "/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(resolve(base, "http://h/x"), "http://h/x");
    }

    #[test]
    fn reads_playlist_fields() {
        let body = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"init0.mp4\"\n#EXTINF:2.0,\nseg7.m4s\n#EXT-X-PART:DURATION=0.2,URI=\"seg8.0.m4s\"\n";
        assert_eq!(media_sequence(body), 7);
        assert_eq!(map_uri(body), Some("init0.mp4"));
        assert_eq!(segment_count(body), 1);
        assert_eq!(uri_lines(body), vec!["seg7.m4s"]);
    }
}
