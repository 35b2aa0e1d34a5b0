//! In-process live path: an RTMP client (rml_rtmp's client session) replays
//! a committed ffmpeg capture into the ingest listener; a viewer follows the
//! LL-HLS playlist with blocking reloads and checks every part it fetches.

use bytes::Bytes;
use loadtest::http::get_str;
use testkit::mp4::{check_fragment, children, find_child, kinds};
use testkit::stack::{start_servers, Publisher, KEY, TIMEOUT};
use tokio::io::AsyncWriteExt;

const FIXTURE: &[u8] = include_bytes!("../../media/testdata/bframes.flv");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_publish_becomes_ll_hls() {
    let servers = start_servers().await;
    let base = format!("http://{}/live/demo/", servers.http);

    let (mut bad, accepted) = Publisher::publish(servers.rtmp, "wrong-key-0123456789").await;
    assert!(!accepted, "a wrong key must be refused");
    assert_eq!(bad.rejection_code().as_deref(), Some("NetStream.Publish.BadName"));
    assert!(!bad.read_until(|_| false).await, "the refused connection is closed");

    let (mut publisher, accepted) = Publisher::publish(servers.rtmp, KEY).await;
    assert!(accepted);
    let (mut second, accepted) = Publisher::publish(servers.rtmp, KEY).await;
    assert!(!accepted, "a second publisher on a live key is refused");
    assert_eq!(second.rejection_code().as_deref(), Some("NetStream.Publish.BadName"));
    let _ = second.socket.shutdown().await;
    let publishing = tokio::spawn(async move {
        publisher.replay(FIXTURE).await;
        let _ = publisher.socket.shutdown().await;
    });

    let multivariant = get_str(&format!("{base}index.m3u8"), TIMEOUT).await.unwrap();
    assert_eq!(multivariant.status, 200);
    let text = multivariant.text();
    assert!(
        text.contains("CODECS=\"avc1.") && text.contains("mp4a.40.2") && text.contains("RESOLUTION=320x240"),
        "{text}"
    );

    // Follow the live edge with blocking reloads, fetching each part once.
    let mut fetched: Vec<((u64, u32), Bytes)> = Vec::new();
    let mut next: Option<(u64, u32)> = None;
    let mut ended = false;
    for _ in 0..200 {
        let url = match next {
            None => format!("{base}media.m3u8"),
            Some((msn, part)) => format!("{base}media.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
        };
        let response = get_str(&url, TIMEOUT).await.unwrap();
        assert_eq!(response.status, 200, "{url}");
        let playlist = response.text();
        ended = playlist.contains("#EXT-X-ENDLIST");
        let mut msn = playlist
            .lines()
            .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .unwrap()
            .parse::<u64>()
            .unwrap();
        let mut index = 0u32;
        for line in playlist.lines() {
            if let Some(attributes) = line.strip_prefix("#EXT-X-PART:") {
                let uri = attributes.split("URI=\"").nth(1).unwrap().split('"').next().unwrap();
                assert_eq!(uri, format!("seg{msn}.{index}.m4s"));
                if !fetched.iter().any(|(position, _)| *position == (msn, index)) {
                    let part = get_str(&format!("{base}{uri}"), TIMEOUT).await.unwrap();
                    assert_eq!(part.status, 200);
                    assert!(part.header("cache-control").unwrap().contains("immutable"));
                    check_fragment(&part.body);
                    fetched.push(((msn, index), Bytes::from(part.body)));
                }
                index += 1;
            } else if line.starts_with("seg") {
                msn += 1;
                index = 0;
            }
        }
        if ended {
            break;
        }
        let (last_msn, last_part) = fetched.last().map(|(position, _)| *position).unwrap_or((0, 0));
        next = Some(if next.is_none() && fetched.is_empty() { (0, 0) } else { (last_msn, last_part + 1) });
    }
    publishing.await.unwrap();
    assert!(ended, "the playlist ends after the grace period");
    assert!(fetched.len() >= 14, "about 3 s of 0.2 s parts, got {}", fetched.len());

    let init = get_str(&format!("{base}init0.mp4"), TIMEOUT).await.unwrap();
    assert_eq!(kinds(&init.body), ["ftyp", "moov"]);
    let moov = find_child(&init.body, &["moov"]).unwrap();
    assert!(find_child(moov, &["mvex", "trex"]).is_some());
    let traks: Vec<&[u8]> =
        children(moov).into_iter().filter(|(kind, _)| kind == b"trak").map(|(_, trak)| trak).collect();
    assert_eq!(traks.len(), 2);
    let sample_entries: Vec<String> = traks
        .iter()
        .map(|trak| {
            let stsd = find_child(trak, &["mdia", "minf", "stbl", "stsd"]).unwrap();
            String::from_utf8_lossy(&stsd[4..8]).into_owned()
        })
        .collect();
    assert_eq!(sample_entries, ["avc1", "mp4a"]);

    // Each segment is exactly its parts joined.
    let segments: std::collections::BTreeSet<u64> = fetched.iter().map(|((msn, _), _)| *msn).collect();
    for msn in segments {
        let segment = get_str(&format!("{base}seg{msn}.m4s"), TIMEOUT).await.unwrap();
        assert_eq!(segment.status, 200);
        let joined: Vec<u8> =
            fetched.iter().filter(|((of, _), _)| *of == msn).flat_map(|(_, data)| data.to_vec()).collect();
        assert_eq!(segment.body, joined, "segment {msn} differs from its parts");
    }
    let missing = get_str(&format!("{base}seg999.m4s"), TIMEOUT).await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), Some("no-store"));
}
