// Plays an HLS URL with hls.js (low-latency mode) in headless Chromium and prints
// one JSON line describing what a viewer saw.
//
// usage: node play.mjs URL SECONDS
//
// Output fields:
//   played_s            media time actually played (forward currentTime progress, seeks excluded)
//   first_frame_ms      loadSource() -> first 'playing' event
//   stalls, stall_ms    rebuffering after the first frame ('waiting' or readyState < 3 while playing)
//   seeks               forward/backward jumps of currentTime (hls.js live-sync seeks, gap skips)
//   fatal_errors, errors hls.js ERROR events, "type:details" with counts
//   latency_median_s    median of hls.latency (distance to the live edge) after the first frame
//   pdt_latency_median_s median of Date.now() - hls.playingDate (wall clock, from PROGRAM-DATE-TIME)
//   part_target_s       PART-TARGET seen by hls.js (null: playlist is not low-latency)
//   protocols           the protocols the stream's responses came over (DevTools), e.g. ["h2"]
// Exit code 0 whenever a report was printed; 2 when the harness itself failed.
import http from 'node:http';
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const SAMPLE_MS = 100;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

function usage() {
  console.error('usage: node play.mjs URL SECONDS');
  process.exit(2);
}

const [, , streamUrl, secondsArg] = process.argv;
const seconds = Number(secondsArg);
if (!streamUrl || !Number.isFinite(seconds) || seconds <= 0) usage();

function fail(message) {
  console.log(JSON.stringify({ harness_error: String(message) }));
  process.exit(2);
}

// Hard stop: whatever happens in the browser, this process ends by itself.
const watchdog = setTimeout(() => fail(`no report after ${seconds + 30}s`), (seconds + 30) * 1000);

// Runs inside the page. Everything it measures ends up in window.report().
function pageScript(src, sampleMs) {
  const video = document.getElementById('video');
  const state = {
    startedAt: null,
    firstFrameMs: null,
    playedS: 0,
    lastTime: null,
    lastWall: null,
    seeks: 0,
    stalls: 0,
    stallMs: 0,
    stallStartedAt: null,
    errors: {},
    fatalErrors: [],
    latency: [],
    pdtLatency: [],
    targetLatency: null,
    partTarget: null,
  };

  const stallBegin = () => {
    if (state.firstFrameMs === null || state.stallStartedAt !== null) return;
    state.stallStartedAt = performance.now();
    state.stalls += 1;
  };
  const stallEnd = () => {
    if (state.stallStartedAt === null) return;
    state.stallMs += performance.now() - state.stallStartedAt;
    state.stallStartedAt = null;
  };

  // eslint-disable-next-line no-undef
  const hls = new Hls({ lowLatencyMode: true });
  // eslint-disable-next-line no-undef
  hls.on(Hls.Events.ERROR, (_event, data) => {
    const key = `${data.type}:${data.details}`;
    state.errors[key] = (state.errors[key] || 0) + 1;
    if (data.fatal) state.fatalErrors.push(key);
  });
  video.addEventListener('playing', () => {
    if (state.firstFrameMs === null) state.firstFrameMs = performance.now() - state.startedAt;
    stallEnd();
  });
  video.addEventListener('waiting', stallBegin);

  setInterval(() => {
    if (state.firstFrameMs === null) return;
    const now = performance.now();
    const time = video.currentTime;
    if (state.lastTime !== null) {
      const mediaDelta = time - state.lastTime;
      const wallDelta = (now - state.lastWall) / 1000;
      // Progress faster than 2x real time, or backwards, is a seek, not playback.
      if (mediaDelta > 0 && mediaDelta <= 2 * wallDelta + 0.05) state.playedS += mediaDelta;
      else if (Math.abs(mediaDelta) > 0.001) state.seeks += 1;
    }
    state.lastTime = time;
    state.lastWall = now;

    if (!video.paused && !video.ended) {
      if (video.readyState < 3) stallBegin();
      else stallEnd();
    }
    if (Number.isFinite(hls.latency) && hls.latency > 0) state.latency.push(hls.latency);
    if (hls.playingDate) state.pdtLatency.push((Date.now() - hls.playingDate.getTime()) / 1000);
    if (Number.isFinite(hls.targetLatency)) state.targetLatency = hls.targetLatency;
    const details = hls.levels?.[hls.currentLevel]?.details ?? hls.latestLevelDetails;
    if (details && details.partTarget) state.partTarget = details.partTarget;
  }, sampleMs);

  window.report = () => {
    const median = (values) => {
      if (values.length === 0) return null;
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)];
    };
    const stallMs = state.stallMs + (state.stallStartedAt === null ? 0 : performance.now() - state.stallStartedAt);
    const quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    return {
      played_s: Number(state.playedS.toFixed(3)),
      first_frame_ms: state.firstFrameMs === null ? null : Math.round(state.firstFrameMs),
      stalls: state.stalls,
      stall_ms: Math.round(stallMs),
      seeks: state.seeks,
      fatal_errors: state.fatalErrors,
      errors: state.errors,
      latency_median_s: median(state.latency),
      pdt_latency_median_s: median(state.pdtLatency),
      target_latency_s: state.targetLatency,
      part_target_s: state.partTarget,
      dropped_frames: quality ? quality.droppedVideoFrames : null,
      decoded_frames: quality ? quality.totalVideoFrames : null,
      video_size: video.videoWidth ? `${video.videoWidth}x${video.videoHeight}` : null,
      // eslint-disable-next-line no-undef
      hlsjs_version: Hls.version,
    };
  };

  state.startedAt = performance.now();
  hls.loadSource(src);
  hls.attachMedia(video);
  video.play().catch(() => {});
}

function pageHtml() {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>play</title></head>
<body>
<video id="video" muted autoplay playsinline width="640"></video>
<script src="/hls.min.js"></script>
<script>(${pageScript.toString()})(${JSON.stringify(streamUrl)}, ${SAMPLE_MS});</script>
</body></html>`;
}

function startPageServer(hlsSource) {
  const html = pageHtml();
  const server = http.createServer((req, res) => {
    if (req.url === '/hls.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(hlsSource);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(html);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  let chromium;
  let hlsSource;
  try {
    ({ chromium } = require('playwright-core'));
    hlsSource = fs.readFileSync(require.resolve('hls.js/dist/hls.min.js'));
  } catch (err) {
    fail(`dependencies missing (run npm ci in tests/browser): ${err.message}`);
  }

  const server = await startPageServer(hlsSource);
  const pageErrors = [];
  // launch() gives the browser a fresh temporary profile and removes it on close.
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The protocol of each stream response, as DevTools sees it (h2, http/1.1).
    const protocols = new Set();
    const streamOrigin = new URL(streamUrl).origin;
    const devtools = await page.context().newCDPSession(page);
    await devtools.send('Network.enable');
    devtools.on('Network.responseReceived', (event) => {
      if (event.response.url.startsWith(streamOrigin)) protocols.add(event.response.protocol);
    });
    await page.goto(`http://127.0.0.1:${server.address().port}/`, { timeout: 15000 });
    await page.waitForTimeout(seconds * 1000);
    const report = await page.evaluate(() => window.report());
    report.page_errors = pageErrors;
    report.protocols = [...protocols];
    console.log(JSON.stringify(report));
  } finally {
    await browser.close().catch(() => {});
    server.close();
  }
}

main()
  .then(() => {
    clearTimeout(watchdog);
    process.exit(0);
  })
  .catch((err) => fail(err && err.stack ? err.stack : err));
