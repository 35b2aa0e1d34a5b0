//! Cameras that cannot be pulled as configured: unreachable, wrong path,
//! wrong credentials, unsupported codecs. Each ends in the right state with
//! a reason, backs off instead of spinning, and never shows credentials.

mod support;

use std::time::Duration;

use cameras::{CameraPull, CameraState};
use support::*;

const ONLINE: Duration = Duration::from_secs(30);

/// In simulated time: the refused connections are immediate, the backoff
/// between them is tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn unreachable_camera_is_offline_and_backs_off() {
    let port = free_port();
    let registry = registry();
    let config = cameras::CameraConfig {
        backoff_min_ms: 100,
        backoff_max_ms: 400,
        ..camera_config("gone", format!("rtsp://admin:s3cret-pw@127.0.0.1:{port}/cam"))
    };
    let pull = CameraPull::spawn(config, publisher::Gate::local(registry.clone())).unwrap();
    let handle = pull.handle();
    let offline = wait_state(&handle, CameraState::Offline, Duration::from_secs(10)).await;
    let reason = offline.reason.clone().unwrap();
    assert!(reason.to_lowercase().contains("connect"), "{reason}");

    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = handle.status();
    // Delays of 50-100, 100-200, then 200-400 ms (half to all of the doubled
    // delay, capped at 400 ms) allow 9 to 16 attempts in 3 s; a busy loop
    // would make thousands.
    assert!((9..=17).contains(&status.failed_attempts), "attempts in 3 s: {status:#?}");
    let shown = format!("{status:?}");
    assert!(!shown.contains("s3cret-pw") && !shown.contains("admin"), "credentials leaked: {shown}");
    assert_eq!(status.url, format!("rtsp://127.0.0.1:{port}/cam"));
    assert!(registry.get("gone").is_none(), "no playlist for a camera that never answered");
    pull.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_path_waits_for_a_new_config() {
    let camera = Camera::start(free_port(), &["--video", "h264", "--audio", "aac"]).await;
    let registry = registry();
    let pull =
        CameraPull::spawn(camera_config("typo", camera.url("no-such-path")), publisher::Gate::local(registry.clone()))
            .unwrap();
    let handle = pull.handle();
    let waiting = wait_state(&handle, CameraState::WaitingForConfig, Duration::from_secs(15)).await;
    assert!(waiting.reason.as_deref().unwrap_or_default().contains("404"), "{waiting:#?}");

    // Parked: no retries while the configuration stays the same.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = handle.status();
    assert_eq!((later.state, later.reconnects), (CameraState::WaitingForConfig, waiting.reconnects));

    // Fixing the path brings it online.
    handle.update_config(camera_config("typo", camera.url("cam"))).unwrap();
    let online = wait_state(&handle, CameraState::Online, ONLINE).await;
    assert_eq!(online.reason, None);
    pull.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_video_codec_waits_for_a_new_config() {
    let camera = Camera::start(free_port(), &["--video", "jpeg", "--audio", "none"]).await;
    let registry = registry();
    let pull =
        CameraPull::spawn(camera_config("mjpeg", camera.url("cam")), publisher::Gate::local(registry.clone())).unwrap();
    let waiting = wait_state(&pull.handle(), CameraState::WaitingForConfig, Duration::from_secs(15)).await;
    assert!(waiting.reason.as_deref().unwrap_or_default().contains("jpeg"), "{waiting:#?}");
    assert!(registry.get("mjpeg").is_none());
    pull.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_audio_is_skipped_with_a_warning_and_video_flows() {
    let camera = Camera::start(free_port(), &["--video", "h264", "--audio", "pcmu"]).await;
    let registry = registry();
    let pull =
        CameraPull::spawn(camera_config("g711", camera.url("cam")), publisher::Gate::local(registry.clone())).unwrap();
    let online = wait_state(&pull.handle(), CameraState::Online, ONLINE).await;
    assert!(online.warnings.iter().any(|warning| warning.contains("PCMU")), "{online:#?}");
    assert_eq!(online.codecs.len(), 1, "video only: {:?}", online.codecs);
    let playlist = wait_playlist(&registry, "g711", ONLINE, |playlist| playlist.segments.len() >= 2).await;
    let init = playlist.segments[0].1;
    let msns: Vec<u64> = playlist.segments.iter().filter(|(_, version, _)| *version == init).map(|s| s.0).collect();
    assert_decodes(&registry.get("g711").unwrap(), "g711", init, &msns, &["h264"]);
    pull.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_retry_without_showing_them() {
    let camera = Camera::start(free_port(), &["--user", "viewer", "--password", "right-pw"]).await;
    let registry = registry();
    let bad_url = format!("rtsp://viewer:wrong-pw@127.0.0.1:{}/cam", camera.port);
    let pull = CameraPull::spawn(camera_config("locked", bad_url), publisher::Gate::local(registry.clone())).unwrap();
    let handle = pull.handle();
    let offline = wait_state(&handle, CameraState::Offline, Duration::from_secs(15)).await;
    assert!(offline.reason.as_deref().unwrap_or_default().contains("401"), "{offline:#?}");
    assert!(!format!("{offline:?}").contains("wrong-pw"));
    // Retried with backoff (credentials may be fixed on the camera side).
    wait_status(&handle, Duration::from_secs(10), |status| status.failed_attempts >= 2).await;

    let mut fixed = camera_config("locked", camera.url("cam"));
    fixed.source.username = Some("viewer".into());
    fixed.source.password = Some("right-pw".into());
    handle.update_config(fixed).unwrap();
    let online = wait_state(&handle, CameraState::Online, ONLINE).await;
    assert!(!format!("{online:?}").contains("right-pw"));
    pull.stop().await;
}

/// A camera URL on loopback without an allowance: the pull parks with the
/// reason and never connects (the listener at the address sees nothing).
/// The same for a name that resolves to loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_on_a_refused_address_is_never_connected() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let registry = registry();
    for (name, url) in
        [("loop", format!("rtsp://127.0.0.1:{port}/cam")), ("named", format!("rtsp://localhost:{port}/cam"))]
    {
        let config =
            cameras::CameraConfig { outbound: catalog::OutboundPolicy::default(), ..camera_config(name, url.clone()) };
        let pull = CameraPull::spawn(config, publisher::Gate::local(registry.clone())).unwrap();
        let parked = wait_state(&pull.handle(), CameraState::WaitingForConfig, Duration::from_secs(10)).await;
        let reason = parked.reason.clone().unwrap();
        assert!(reason.contains("loopback") && reason.contains("outbound.allow_networks"), "{url}: {reason}");
        pull.stop().await;
    }
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the camera port saw a connection: {accepted:?}"
    );
}
