//! The RTP path of an RTSP push: a fixed ANNOUNCE (H.264 + AAC, as ffmpeg
//! sends it), then the input split into interleaved packets:
//! [channel, length, bytes...] records.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use media::rtsp::PushSession;

const SDP: &str = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA\r\n\
a=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n\
a=fmtp:97 mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1210\r\na=control:streamid=1\r\n";

fuzz_target!(|data: &[u8]| {
    let Ok(mut session) = PushSession::from_sdp(SDP.as_bytes()) else { return };
    let _ = session.bind_channel(0, 0);
    let _ = session.bind_channel(1, 2);
    let mut out = Vec::new();
    let mut rest = data;
    while let [channel, length, tail @ ..] = rest {
        let take = usize::from(*length).min(tail.len());
        let (packet, next) = tail.split_at(take);
        session.push_interleaved(channel % 4, Bytes::copy_from_slice(packet), &mut out);
        rest = next;
    }
    let _ = session.stats();
});
