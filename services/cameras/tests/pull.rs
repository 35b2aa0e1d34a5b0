//! A real RTSP server (GStreamer) pulled into the live edge over TCP and UDP:
//! the LL-HLS stream appears and decodes, survives the camera going away and
//! coming back, and on demand runs only while viewers ask.

mod support;

use std::time::Duration;

use cameras::{CameraPull, CameraState, RtpTransport};
use support::*;

const ONLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pull_becomes_ll_hls_and_survives_a_camera_restart() {
    pull_and_restart("tcp-cam", RtpTransport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_pull_becomes_ll_hls_and_survives_a_camera_restart() {
    pull_and_restart("udp-cam", RtpTransport::Udp).await;
}

async fn pull_and_restart(name: &str, transport: RtpTransport) {
    let port = free_port();
    let camera = Camera::start(port, &["--video", "h264", "--audio", "aac"]).await;
    let registry = registry();
    let config = cameras::CameraConfig { transport, ..camera_config(name, camera.url("cam")) };
    let pull = CameraPull::spawn(config, publisher::Gate::local(registry.clone())).unwrap();
    let handle = pull.handle();

    let online = wait_state(&handle, CameraState::Online, ONLINE).await;
    assert_eq!(online.resolution, Some((320, 240)));
    assert!(online.codecs.iter().any(|codec| codec.starts_with("avc1")), "{:?}", online.codecs);
    assert!(online.codecs.iter().any(|codec| codec.starts_with("mp4a")), "{:?}", online.codecs);
    assert!(online.warnings.is_empty(), "{:?}", online.warnings);

    let first = wait_playlist(&registry, name, ONLINE, |playlist| playlist.segments.len() >= 2).await;
    assert!(first.parts > 0, "the live edge has parts:\n{}", first.text);
    assert!(first.text.contains("#EXT-X-PART-INF:PART-TARGET="), "{}", first.text);
    assert!(first.text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART"), "{}", first.text);
    let stream = registry.get(name).unwrap();
    let (init, msns) = segments_of_first_init(&first);
    assert_decodes(&stream, &format!("{name}-before"), init, &msns, &["h264", "aac"]);

    // The camera loses power: the pull goes offline with a reason.
    camera.kill().await;
    let offline = wait_state(&handle, CameraState::Offline, Duration::from_secs(15)).await;
    let reason = offline.reason.clone().unwrap_or_default();
    assert!(!reason.is_empty(), "offline comes with a reason: {offline:#?}");
    let before_restart = playlist(&registry, name).map(|text| Playlist::parse(&text)).unwrap();

    // It comes back on the same port: the stream continues after a discontinuity.
    let _camera = Camera::start(port, &["--video", "h264", "--audio", "aac"]).await;
    let resumed = wait_state(&handle, CameraState::Online, ONLINE).await;
    assert!(resumed.reconnects >= 1, "{resumed:#?}");
    let mut last_sequence = before_restart.media_sequence;
    let after = wait_playlist(&registry, name, ONLINE, |playlist| {
        assert!(playlist.media_sequence >= last_sequence, "media sequence went back:\n{}", playlist.text);
        let resumed_segments = playlist.segments.iter().skip_while(|(_, _, discontinuity)| !discontinuity).count();
        resumed_segments >= 2
    })
    .await;
    last_sequence = last_sequence.max(after.media_sequence);
    assert!(after.media_sequence >= last_sequence);
    let newest_before = before_restart.segments.last().map_or(0, |(msn, _, _)| *msn);
    let resumed: Vec<(u64, u32, bool)> =
        after.segments.iter().copied().skip_while(|(_, _, discontinuity)| !discontinuity).collect();
    assert!(resumed[0].0 > newest_before, "segment numbers continue: {}", after.text);
    assert!(resumed[0].1 > init, "a new init segment after the break: {}", after.text);
    let resumed_msns: Vec<u64> =
        resumed.iter().take_while(|(_, version, _)| *version == resumed[0].1).map(|s| s.0).collect();
    assert_decodes(&stream, &format!("{name}-after"), resumed[0].1, &resumed_msns, &["h264", "aac"]);
    assert!(!after.text.contains("#EXT-X-ENDLIST"), "the playlist never ended: {}", after.text);
    eprintln!("{name}: offline reason {reason:?}; playlist after the restart:\n{}", after.text);
    pull.stop().await;
}

/// The init version of the first segment and every segment that uses it.
fn segments_of_first_init(playlist: &Playlist) -> (u32, Vec<u64>) {
    let init = playlist.segments[0].1;
    let msns = playlist.segments.iter().take_while(|(_, version, _)| *version == init).map(|s| s.0).collect();
    (init, msns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_camera_is_packaged_as_hevc() {
    let camera = Camera::start(free_port(), &["--video", "h265", "--audio", "aac"]).await;
    let registry = registry();
    let pull =
        CameraPull::spawn(camera_config("hevc-cam", camera.url("cam")), publisher::Gate::local(registry.clone()))
            .unwrap();
    let online = wait_state(&pull.handle(), CameraState::Online, ONLINE).await;
    assert!(online.codecs.iter().any(|codec| codec.starts_with("hvc1") || codec.starts_with("hev1")), "{online:#?}");
    let playlist = wait_playlist(&registry, "hevc-cam", ONLINE, |playlist| playlist.segments.len() >= 2).await;
    let (init, msns) = segments_of_first_init(&playlist);
    assert_decodes(&registry.get("hevc-cam").unwrap(), "hevc", init, &msns, &["hevc", "aac"]);
    pull.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_parameters_mid_stream_start_a_new_init_segment() {
    let camera = Camera::start(free_port(), &["--resize-after", "4", "--resize-to", "640x360"]).await;
    let registry = registry();
    let pull = CameraPull::spawn(camera_config("resized", camera.url("cam")), publisher::Gate::local(registry.clone()))
        .unwrap();
    let handle = pull.handle();
    let online = wait_state(&handle, CameraState::Online, ONLINE).await;
    assert_eq!(online.resolution, Some((320, 240)));
    let resized = wait_status(&handle, ONLINE, |status| status.resolution == Some((640, 360))).await;
    assert_eq!(resized.state, CameraState::Online, "new parameters are not a reconnect: {resized:#?}");
    assert_eq!(resized.reconnects, 0);

    let playlist = wait_playlist(&registry, "resized", ONLINE, |playlist| {
        playlist.segments.iter().filter(|(_, _, discontinuity)| *discontinuity).any(|(msn, version, _)| {
            playlist.segments.iter().filter(|(later, same, _)| later >= msn && same == version).count() >= 2
        })
    })
    .await;
    let stream = registry.get("resized").unwrap();
    let (first_init, first_msns) = segments_of_first_init(&playlist);
    let resumed: Vec<(u64, u32, bool)> =
        playlist.segments.iter().copied().skip_while(|(_, _, discontinuity)| !discontinuity).collect();
    let second_init = resumed[0].1;
    assert!(second_init > first_init, "{}", playlist.text);
    let second_msns: Vec<u64> = resumed.iter().filter(|(_, version, _)| *version == second_init).map(|s| s.0).collect();
    assert_decodes(&stream, "resize-before", first_init, &first_msns, &["h264", "aac"]);
    assert_decodes(&stream, "resize-after", second_init, &second_msns, &["h264", "aac"]);
    let dimensions = |version: u32| {
        let path = write_temp(&format!("resize-init{version}.mp4"), &stream.init(version).unwrap());
        let output = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(path);
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    assert_eq!(dimensions(first_init), "320,240");
    assert_eq!(dimensions(second_init), "640,360");
    pull.stop().await;
}

/// retina cannot depacketize Opus: these pulls run every track through our
/// own RTP depacketizers, over both transports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_camera_is_packaged_as_opus_over_tcp_and_udp() {
    for (video, transport, expected) in [("h264", RtpTransport::Tcp, "h264"), ("h265", RtpTransport::Udp, "hevc")] {
        let camera = Camera::start(free_port(), &["--video", video, "--audio", "opus"]).await;
        let registry = registry();
        let name = format!("opus-{video}");
        let mut config = camera_config(&name, camera.url("cam"));
        config.transport = transport;
        let pull = CameraPull::spawn(config, publisher::Gate::local(registry.clone())).unwrap();
        let online = wait_state(&pull.handle(), CameraState::Online, ONLINE).await;
        assert_eq!(online.codecs.get(1).map(String::as_str), Some("opus"), "{online:#?}");
        assert!(online.warnings.is_empty(), "{online:#?}");
        let playlist = wait_playlist(&registry, &name, ONLINE, |playlist| playlist.segments.len() >= 3).await;
        let (init, msns) = segments_of_first_init(&playlist);
        assert_decodes(&registry.get(&name).unwrap(), &name, init, &msns, &[expected, "opus"]);
        pull.stop().await;
        camera.kill().await;
    }
}
