//! What the camera pull tests share beyond the test kit: short timeouts
//! and waits on a pull's status.
#![allow(dead_code)]

use std::time::Duration;

use cameras::{CameraConfig, CameraState, CameraStatus, PullHandle};
pub use testkit::camera::Camera;
pub use testkit::edge::*;
pub use testkit::free_port;

/// A config with short backoff and timeouts so failures show quickly, for
/// a test camera on loopback.
pub fn camera_config(name: &str, url: String) -> CameraConfig {
    CameraConfig {
        backoff_min_ms: 200,
        backoff_max_ms: 1_000,
        connect_timeout_ms: 5_000,
        stall_timeout_ms: 3_000,
        outbound: catalog::OutboundPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
        ..CameraConfig::new(name, catalog::CameraSource::new(url))
    }
}

/// Waits until the status satisfies `check`, or panics with the last one.
pub async fn wait_status(pull: &PullHandle, timeout: Duration, check: impl Fn(&CameraStatus) -> bool) -> CameraStatus {
    let mut receiver = pull.subscribe();
    let waited = tokio::time::timeout(timeout, receiver.wait_for(|status| check(status))).await;
    match waited {
        Ok(Ok(status)) => status.clone(),
        _ => panic!("status condition not met within {timeout:?}; last status: {:#?}", pull.status()),
    }
}

pub async fn wait_state(pull: &PullHandle, state: CameraState, timeout: Duration) -> CameraStatus {
    wait_status(pull, timeout, |status| status.state == state).await
}
