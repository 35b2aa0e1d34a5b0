//! RTSP camera pull: a supervised retina session per camera that turns RTP
//! into [`media::MediaFrame`]s and publishes them to the live edge exactly as
//! an RTMP publisher would, with a status channel, reconnect backoff and
//! on-demand start and stop. [`push`] is the other direction: an RTSP
//! server that encoders publish to with ANNOUNCE/RECORD.

mod backoff;
mod config;
mod error;
mod packets;
pub mod push;
mod redact;
mod session;
mod status;
mod supervisor;
mod timing;
mod tracks;

pub use config::{CameraConfig, PullMode, RtpTransport};
pub use error::PullError;
pub use push::PushConfig;
pub use redact::redact_url;
pub use status::{CameraState, CameraStatus};
pub use supervisor::{CameraPull, PullHandle};
