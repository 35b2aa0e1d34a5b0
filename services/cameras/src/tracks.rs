//! How retina's codec parameters become the decoder configuration frames
//! of the live edge. Which streams are pulled is `media::rtsp::tracks`.

use bytes::Bytes;
use media::{AudioCodec, MediaFrame, VideoCodec};
use retina::codec::{AudioParameters, VideoParameters, VideoParametersCodec};

use crate::PullError;

/// The configuration frame for video parameters, with the codec string and
/// display size for status.
pub(crate) fn video_config(params: &VideoParameters) -> Result<(MediaFrame, String, (u32, u32)), PullError> {
    let codec = match params.codec_params() {
        VideoParametersCodec::H264 { .. } => VideoCodec::H264,
        VideoParametersCodec::H265 { .. } => VideoCodec::H265,
        _ => return Err(PullError::UnsupportedVideo(params.rfc6381_codec().to_owned())),
    };
    let record = Bytes::copy_from_slice(params.extra_data());
    let frame = MediaFrame::VideoConfig { codec, record };
    Ok((frame, params.rfc6381_codec().to_owned(), params.pixel_dimensions()))
}

/// The configuration frame for AAC parameters (an AudioSpecificConfig).
pub(crate) fn audio_config(params: &AudioParameters) -> Option<(MediaFrame, String)> {
    let codec_string = params.rfc6381_codec()?.to_owned();
    let record = Bytes::copy_from_slice(params.extra_data());
    (!record.is_empty()).then(|| (MediaFrame::AudioConfig { codec: AudioCodec::Aac, record }, codec_string))
}
