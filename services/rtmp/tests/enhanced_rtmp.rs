//! Enhanced RTMP end to end: an HEVC and an AV1 capture (built by
//! services/media/testdata/make-enhanced-fixtures.py, as OBS 30+ sends them)
//! are published over real RTMP into the ingest listener. The multivariant
//! playlist must name the codec, the init segment must carry the record as
//! sent, every part must be a well-formed fragment, and ffmpeg must play the
//! media playlist from the origin without a single error line.

use std::collections::BTreeMap;

use bytes::Bytes;
use loadtest::http::get_str;
use media::flv::{parse_video_tag, FlvFileReader, FlvVideo, TAG_VIDEO};
use testkit::mp4::{check_fragment, children, find_child};
use testkit::stack::{start_servers, Publisher, KEY, TIMEOUT};
use testkit::tools::run_quiet_async;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

const HEVC_FIXTURE: &[u8] = include_bytes!("../../media/testdata/hevc_aac.flv");
const AV1_FIXTURE: &[u8] = include_bytes!("../../media/testdata/av1_aac.flv");
/// Frames in each fixture: 3 s at 30 fps.
const VIDEO_FRAMES: usize = 90;

/// Both tests publish the same stream name into stores under the same
/// directory; one at a time keeps their objects apart.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

struct Expected {
    fixture: &'static [u8],
    codecs: &'static str,
    sample_entry: &'static str,
    config_box: &'static str,
    ffmpeg_codec: &'static str,
}

/// The video sequence start body of a fixture: the record the init segment must carry.
fn fixture_record(fixture: &'static [u8]) -> Bytes {
    for tag in FlvFileReader::new(Bytes::from_static(fixture)).unwrap() {
        let tag = tag.unwrap();
        if tag.tag_type == TAG_VIDEO {
            if let Ok(FlvVideo::Config { record, .. }) = parse_video_tag(tag.body) {
                return record;
            }
        }
    }
    panic!("fixture without a video sequence start");
}

/// Polls the media playlist until the stream has ended.
async fn ended_playlist(base: &str) -> String {
    let deadline = tokio::time::Instant::now() + TIMEOUT * 2;
    loop {
        let response = get_str(&format!("{base}media.m3u8"), TIMEOUT).await.unwrap();
        if response.status == 200 && response.text().contains("#EXT-X-ENDLIST") {
            return response.text();
        }
        assert!(tokio::time::Instant::now() < deadline, "the playlist never ended");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn publish_and_play(expected: Expected) {
    let _serial = ONE_AT_A_TIME.lock().await;
    let servers = start_servers().await;
    let base = format!("http://{}/live/demo/", servers.http);
    let (mut publisher, accepted) = Publisher::publish(servers.rtmp, KEY).await;
    assert!(accepted);
    let fixture = expected.fixture;
    let publishing = tokio::spawn(async move {
        publisher.replay(fixture).await;
        let _ = publisher.socket.shutdown().await;
    });

    let multivariant = get_str(&format!("{base}index.m3u8"), TIMEOUT).await.unwrap();
    assert_eq!(multivariant.status, 200);
    let text = multivariant.text();
    assert!(text.contains(&format!("CODECS=\"{}\"", expected.codecs)), "{text}");
    assert!(text.contains("RESOLUTION=320x240"), "{text}");

    publishing.await.unwrap();
    let playlist = ended_playlist(&base).await;

    // Every part is a fragment, and each segment is its parts joined.
    let mut segments: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for line in playlist.lines() {
        let Some(attributes) = line.strip_prefix("#EXT-X-PART:") else { continue };
        let uri = attributes.split("URI=\"").nth(1).unwrap().split('"').next().unwrap();
        let part = get_str(&format!("{base}{uri}"), TIMEOUT).await.unwrap();
        assert_eq!(part.status, 200, "{uri}");
        check_fragment(&part.body);
        let segment = format!("{}.m4s", uri.split('.').next().unwrap());
        segments.entry(segment).or_default().extend_from_slice(&part.body);
    }
    assert!(segments.len() >= 2, "3 s at a 1 s GOP makes two segments:\n{playlist}");
    for (uri, joined) in &segments {
        let segment = get_str(&format!("{base}{uri}"), TIMEOUT).await.unwrap();
        assert_eq!(segment.status, 200);
        assert!(segment.body == *joined, "{uri} differs from its parts");
    }

    let init = get_str(&format!("{base}init0.mp4"), TIMEOUT).await.unwrap();
    assert_eq!(init.status, 200);
    let moov = find_child(&init.body, &["moov"]).unwrap();
    let stsd = find_child(moov, &["trak", "mdia", "minf", "stbl", "stsd"]).unwrap();
    // stsd's first entry: size, fourcc, 78 bytes of visual sample entry, then its config box.
    assert_eq!(String::from_utf8_lossy(&stsd[4..8]), expected.sample_entry);
    let (config_box, config) = children(&stsd[8 + 78..])[0];
    assert_eq!(String::from_utf8_lossy(&config_box), expected.config_box);
    assert!(*config == fixture_record(expected.fixture)[..], "the record travels unchanged");

    // ffmpeg follows the playlist (EXT-X-MAP, segments) from the origin and
    // decodes every picture without complaint.
    let url = format!("{base}media.m3u8");
    let probe = run_quiet_async(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
            &url,
        ],
        TIMEOUT * 3,
    )
    .await;
    let expected_probe = [
        format!("codec_name={}", expected.ffmpeg_codec),
        "width=320".to_owned(),
        "height=240".to_owned(),
        format!("nb_read_frames={VIDEO_FRAMES}"),
    ];
    // The HLS demuxer lists the stream under its program as well.
    let lines: Vec<String> = probe.lines().map(str::to_owned).collect();
    assert!(!lines.is_empty() && lines.chunks(4).all(|chunk| chunk == expected_probe), "{probe}");
    run_quiet_async("ffmpeg", &["-v", "error", "-i", &url, "-f", "null", "-"], TIMEOUT * 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_over_enhanced_rtmp_plays_from_the_origin() {
    publish_and_play(Expected {
        fixture: HEVC_FIXTURE,
        codecs: "hvc1.1.6.L60.90,mp4a.40.2",
        sample_entry: "hvc1",
        config_box: "hvcC",
        ffmpeg_codec: "hevc",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn av1_over_enhanced_rtmp_plays_from_the_origin() {
    publish_and_play(Expected {
        fixture: AV1_FIXTURE,
        codecs: "av01.0.00M.08,mp4a.40.2",
        sample_entry: "av01",
        config_box: "av1C",
        ffmpeg_codec: "av1",
    })
    .await;
}
