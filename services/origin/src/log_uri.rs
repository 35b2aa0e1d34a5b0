//! A request URI as logs may show it: no playback token (a token in a log
//! is a usable credential) and no unbounded length (a path can be 60 KB).

use std::fmt::Write;

/// Longest path shown; the rest is replaced by its length.
const SHOWN_PATH_CHARS: usize = 256;
/// Query parameters players send that carry no secret.
const PLAIN_PARAMETERS: [&str; 5] = ["_HLS_msn", "_HLS_part", "_HLS_skip", "start", "end"];

/// `/t/<token>/rest` becomes `/t/-/rest`; query parameters other than the
/// LL-HLS and DVR ones become `-`; a long path is cut.
pub fn loggable_uri(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    let mut shown = match path.strip_prefix("/t/").and_then(|rest| rest.split_once('/')) {
        Some((_, rest)) => format!("/t/-/{}", cut(rest)),
        None => cut(path),
    };
    if let Some(query) = uri.query() {
        shown.push('?');
        for (index, pair) in query.split('&').take(8).enumerate() {
            if index > 0 {
                shown.push('&');
            }
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            if PLAIN_PARAMETERS.contains(&name) && pair.len() <= 64 {
                shown.push_str(pair);
            } else {
                shown.push('-');
            }
        }
    }
    shown
}

/// `text` cut to the length logs show, with its full length after it.
pub(crate) fn cut(text: &str) -> String {
    if text.len() <= SHOWN_PATH_CHARS {
        return text.to_owned();
    }
    let mut shown: String = text.chars().take(SHOWN_PATH_CHARS).collect();
    let _ = write!(shown, "... ({} bytes)", text.len());
    shown
}

#[cfg(test)]
mod tests {
    use super::loggable_uri;

    fn shown(uri: &str) -> String {
        loggable_uri(&uri.parse().unwrap())
    }

    #[test]
    fn tokens_and_unknown_parameters_are_hidden() {
        assert_eq!(shown("/t/eyJh.eyJz.sig/live/main/index.m3u8"), "/t/-/live/main/index.m3u8");
        assert_eq!(
            shown("/live/main/media.m3u8?_HLS_msn=5&_HLS_part=2"),
            "/live/main/media.m3u8?_HLS_msn=5&_HLS_part=2"
        );
        assert_eq!(
            shown("/live/main/index.m3u8?token=eyJh.eyJz.sig&_HLS_skip=YES"),
            "/live/main/index.m3u8?-&_HLS_skip=YES"
        );
        assert_eq!(shown("/live/main/index.m3u8?eyJh.eyJz.sig"), "/live/main/index.m3u8?-");
    }

    #[test]
    fn long_paths_are_cut() {
        let long = format!("/live/{}/seg1.m4s", "a".repeat(60_000));
        let text = shown(&long);
        assert!(text.len() < 300, "{}", text.len());
        assert!(text.ends_with("... (60015 bytes)"), "{text}");
    }
}
