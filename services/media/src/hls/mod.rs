//! HLS playlist models rendered to text. m3u8-rs cannot write LL-HLS (it
//! drops trailing parts, preload hints and rendition reports), so playlists
//! are rendered here from plain model types and tested against golden text.

mod media_playlist;
mod multivariant;
mod segment_list;

pub use media_playlist::{MediaPlaylist, PlaylistPart, PlaylistSegment, RenditionReport, ServerControl, SkipRequest};
pub use multivariant::{MultivariantPlaylist, Variant};
pub use segment_list::{ListedSegment, SegmentList};

/// Decimal seconds with five fractional digits, trimmed of trailing zeros
/// but keeping at least one (players parse either; stable text keeps
/// golden tests and CDN caches deterministic).
pub(crate) fn seconds(value: f64) -> String {
    let mut text = format!("{value:.5}");
    while text.ends_with('0') && !text.ends_with(".0") {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_are_trimmed() {
        assert_eq!(super::seconds(2.0), "2.0");
        assert_eq!(super::seconds(0.2), "0.2");
        assert_eq!(super::seconds(1.96667), "1.96667");
        assert_eq!(super::seconds(0.200_004), "0.2");
    }
}
