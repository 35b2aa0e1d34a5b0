//! A small page that plays a stream with hls.js in low-latency mode. The
//! stream name and an optional playback token come from the query string
//! and are read by the page's own script, so nothing from the request is
//! echoed into HTML.

use axum::http::header;
use axum::response::IntoResponse;

const HLS_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hls.min.js"));

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live</title>
<style>
  body { margin: 0; background: #111; color: #ddd; font: 14px system-ui, sans-serif; }
  video { width: 100%; max-height: 90vh; background: #000; display: block; }
  #status { padding: 8px 12px; }
</style>
</head>
<body>
<video id="video" controls muted autoplay playsinline></video>
<div id="status">Connecting…</div>
<script src="/hls.min.js"></script>
<script>
  const params = new URLSearchParams(location.search);
  const stream = params.get('stream') || 'main';
  const token = params.get('token');
  const prefix = token ? '/t/' + encodeURIComponent(token) : '';
  const source = prefix + '/live/' + encodeURIComponent(stream) + '/index.m3u8';
  const video = document.getElementById('video');
  const status = document.getElementById('status');
  function show(text) { status.textContent = text; }
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) show('Error: ' + data.details + ' (retrying)'); });
    hls.loadSource(source);
    hls.attachMedia(video);
    setInterval(() => {
      if (hls.playingDate) {
        const latency = (Date.now() - hls.playingDate.getTime()) / 1000;
        show('Live · ' + stream + ' · latency ' + latency.toFixed(2) + ' s');
      }
    }, 1000);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = source;
    show('Live · ' + stream);
  } else {
    show('This browser cannot play HLS.');
  }
</script>
</body>
</html>
"#;

pub async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], PAGE)
}

pub async fn hls_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript"), (header::CACHE_CONTROL, "public, max-age=86400")], HLS_JS)
}
