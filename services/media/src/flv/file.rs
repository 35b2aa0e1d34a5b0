//! Reader for whole FLV files: a 9+ byte header, then tags, each followed by
//! a 4-byte PreviousTagSize.

use crate::error::MediaError;
use bytes::Bytes;

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

const WHAT: &str = "flv file";
const FILE_HEADER_LEN: usize = 9;
const TAG_HEADER_LEN: usize = 11;
const PREVIOUS_TAG_SIZE_LEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvFileHeader {
    pub has_audio: bool,
    pub has_video: bool,
}

/// One tag of an FLV file. `body` is exactly what an RTMP message of the
/// same type would carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// 8 audio, 9 video, 18 script data.
    pub tag_type: u8,
    /// Milliseconds, with the extension byte applied.
    pub timestamp: u32,
    pub body: Bytes,
}

/// Iterates over the tags of an in-memory FLV file without copying bodies.
pub struct FlvFileReader {
    data: Bytes,
    position: usize,
    header: FlvFileHeader,
    failed: bool,
}

impl FlvFileReader {
    /// Parses the file header; tags are read lazily.
    pub fn new(data: Bytes) -> Result<Self, MediaError> {
        let Some(header) = data.first_chunk::<FILE_HEADER_LEN>() else {
            return Err(MediaError::Truncated { what: WHAT, needed: FILE_HEADER_LEN - data.len() });
        };
        let [f, l, v, _version, flags, o0, o1, o2, o3] = *header;
        if [f, l, v] != *b"FLV" {
            return Err(MediaError::invalid(WHAT, "missing FLV signature"));
        }
        let data_offset = u32::from_be_bytes([o0, o1, o2, o3]) as usize;
        if data_offset < FILE_HEADER_LEN {
            return Err(MediaError::invalid(WHAT, format!("data offset {data_offset}")));
        }
        let first_tag = data_offset + PREVIOUS_TAG_SIZE_LEN;
        if data.len() < first_tag {
            return Err(MediaError::Truncated { what: WHAT, needed: first_tag - data.len() });
        }
        Ok(FlvFileReader {
            data,
            position: first_tag,
            header: FlvFileHeader { has_audio: flags & 0x04 != 0, has_video: flags & 0x01 != 0 },
            failed: false,
        })
    }

    pub fn header(&self) -> FlvFileHeader {
        self.header
    }

    /// The next tag, `None` at a clean end of file, or an error if the file
    /// stops in the middle of a tag or its PreviousTagSize.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, MediaError> {
        let rest = self.data.get(self.position..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(tag_header) = rest.first_chunk::<TAG_HEADER_LEN>() else {
            return Err(MediaError::Truncated { what: WHAT, needed: TAG_HEADER_LEN - rest.len() });
        };
        let [flags, l0, l1, l2, t0, t1, t2, t_ext, _, _, _] = *tag_header;
        let tag_type = flags & 0x1f;
        let body_len = u32::from_be_bytes([0, l0, l1, l2]) as usize;
        let timestamp = u32::from_be_bytes([t_ext, t0, t1, t2]);
        let total = TAG_HEADER_LEN + body_len + PREVIOUS_TAG_SIZE_LEN;
        if rest.len() < total {
            return Err(MediaError::Truncated { what: WHAT, needed: total - rest.len() });
        }
        let body_start = self.position + TAG_HEADER_LEN;
        let body = self.data.slice(body_start..body_start + body_len);
        self.position += total;
        Ok(Some(FlvTag { tag_type, timestamp, body }))
    }
}

impl Iterator for FlvFileReader {
    type Item = Result<FlvTag, MediaError>;

    /// Stops after the first error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_tag().transpose();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}
