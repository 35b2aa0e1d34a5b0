//! Camera pulls: a supervised retina RTSP session per camera that turns RTP
//! into [`media::MediaFrame`]s and publishes them to the live edge through
//! the shared [`publisher::Gate`], with a status channel and reconnect
//! backoff; and the [`CameraManager`] that decides which cameras this pod
//! pulls (leases across pods, viewer demand for on-demand cameras). The
//! RTSP push server (encoders publishing to us) is the `rtsp` crate.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod backoff;
mod config;
mod error;
mod leases;
mod local_status;
mod manager;
mod packets;
mod redact;
mod session;
mod status;
mod supervisor;
mod tracks;

pub use config::{CameraConfig, RtpTransport};
pub use error::PullError;
pub use leases::{lease_store, LeaseBackend};
pub use local_status::LocalStatus;
pub use manager::{CameraBoard, CameraManager};
pub use redact::redact_url;
pub use status::{CameraState, CameraStatus};
pub use supervisor::{CameraPull, PullHandle};
