//! Parsing of the request path and LL-HLS query parameters.

use media::hls::SkipRequest;

use crate::OriginError;

#[derive(Debug, PartialEq, Eq)]
pub enum LiveFile {
    Multivariant,
    Media,
    /// The stored DVR window, or a time range of it (`start`, `end`).
    Dvr,
    Init(u32),
    Segment(u64),
    Part(u64, u32),
}

impl LiveFile {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "index.m3u8" => return Some(LiveFile::Multivariant),
            "media.m3u8" => return Some(LiveFile::Media),
            "dvr.m3u8" => return Some(LiveFile::Dvr),
            _ => {}
        }
        if let Some(version) = name.strip_prefix("init").and_then(|rest| rest.strip_suffix(".mp4")) {
            return number(version).map(LiveFile::Init);
        }
        let stem = name.strip_prefix("seg")?.strip_suffix(".m4s")?;
        match stem.split_once('.') {
            None => number(stem).map(LiveFile::Segment),
            Some((msn, part)) => Some(LiveFile::Part(number(msn)?, number(part)?)),
        }
    }
}

/// Plain decimal digits only: no sign, no leading '+', bounded length.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct PlaylistQuery {
    #[serde(rename = "_HLS_msn")]
    pub msn: Option<String>,
    #[serde(rename = "_HLS_part")]
    pub part: Option<String>,
    #[serde(rename = "_HLS_skip")]
    pub skip: Option<String>,
    /// dvr.m3u8: first second of a time range (Unix seconds).
    pub start: Option<String>,
    /// dvr.m3u8: end of the time range (Unix seconds).
    pub end: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct BlockingRequest {
    pub msn: u64,
    pub part: Option<u32>,
}

impl PlaylistQuery {
    pub fn blocking(&self) -> Result<Option<BlockingRequest>, OriginError> {
        let msn = match &self.msn {
            None if self.part.is_some() => return Err(OriginError::BadRequest("_HLS_part requires _HLS_msn")),
            None => return Ok(None),
            Some(msn) => number(msn).ok_or(OriginError::BadRequest("invalid _HLS_msn"))?,
        };
        let part = match &self.part {
            None => None,
            Some(part) => Some(number(part).ok_or(OriginError::BadRequest("invalid _HLS_part"))?),
        };
        Ok(Some(BlockingRequest { msn, part }))
    }

    /// `Some((start_ms, end_ms))` for a time-range request; at most 24 h.
    pub fn time_range(&self) -> Result<Option<(i64, i64)>, OriginError> {
        let (start, end) = match (&self.start, &self.end) {
            (None, None) => return Ok(None),
            (Some(start), Some(end)) => (start, end),
            _ => return Err(OriginError::BadRequest("start and end go together")),
        };
        let seconds = |text: &str| number::<i64>(text).ok_or(OriginError::BadRequest("start and end are Unix seconds"));
        let (start, end) = (seconds(start)?, seconds(end)?);
        if end <= start || end - start > 24 * 3600 {
            return Err(OriginError::BadRequest("end must follow start by at most 24 h"));
        }
        Ok(Some((start * 1000, end * 1000)))
    }

    pub fn skip(&self) -> Result<SkipRequest, OriginError> {
        match self.skip.as_deref() {
            None => Ok(SkipRequest::No),
            Some("YES") => Ok(SkipRequest::Yes),
            Some("v2") => Ok(SkipRequest::V2),
            Some(_) => Err(OriginError::BadRequest("invalid _HLS_skip")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_names() {
        assert_eq!(LiveFile::parse("index.m3u8"), Some(LiveFile::Multivariant));
        assert_eq!(LiveFile::parse("init3.mp4"), Some(LiveFile::Init(3)));
        assert_eq!(LiveFile::parse("seg12.m4s"), Some(LiveFile::Segment(12)));
        assert_eq!(LiveFile::parse("seg12.4.m4s"), Some(LiveFile::Part(12, 4)));
        for bad in
            ["seg.m4s", "seg-1.m4s", "seg+1.m4s", "seg1.2.3.m4s", "init.mp4", "x.m3u8", "seg99999999999999999999.m4s"]
        {
            assert_eq!(LiveFile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn part_without_msn_is_rejected() {
        let query = PlaylistQuery { part: Some("1".into()), ..Default::default() };
        assert!(matches!(query.blocking(), Err(OriginError::BadRequest(_))));
        let query = PlaylistQuery { msn: Some("5".into()), part: Some("2".into()), ..Default::default() };
        assert_eq!(query.blocking().ok().flatten(), Some(BlockingRequest { msn: 5, part: Some(2) }));
    }
}
