#!/usr/bin/env bash
# Camera pulls, measured against a peer that does the same job:
#   - CPU per camera stream-second of `relay all` pulling RTSP cameras into
#     LL-HLS, against ffmpeg remuxing the same cameras to HLS (`-c copy`);
#   - the time from a camera restart to new parts on the playlist.
# The cameras are GStreamer RTSP servers (services/testkit/scripts/rtsp_camera.py);
# their own encoding runs in separate processes and is not counted.
#
# usage: scripts/bench-camera.sh   (CAMERAS=2 MEASURE_SECONDS=30 WIDTH=640 HEIGHT=360)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
RELAY=${RELAY:-$target/release/relay}
CAMERAS=${CAMERAS:-2}
MEASURE_SECONDS=${MEASURE_SECONDS:-30}
WIDTH=${WIDTH:-640}
HEIGHT=${HEIGHT:-360}
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench-camera.XXXXXX")
PIDS=()
log() { printf '[bench-camera %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[ -x "$RELAY" ] || { log "build it first: cargo build --release -p server ($RELAY missing)"; exit 1; }
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

start_camera() { # port
  "$PYTHON" "$repo/services/testkit/scripts/rtsp_camera.py" --port "$1" --width "$WIDTH" --height "$HEIGHT" \
    >"$WORK/camera-$1.log" 2>&1 &
  PIDS+=($!)
  CAMERA_PID=$!
  for _ in $(seq 100); do grep -q ready "$WORK/camera-$1.log" && return 0; sleep 0.1; done
  log "camera on $1 did not start"; exit 1
}

ports=()
for i in $(seq "$CAMERAS"); do
  port=$(free_port); ports+=("$port"); start_camera "$port"
  camera_pids[$i]=$CAMERA_PID
done

http=$(free_port); rtmp=$(free_port)
RELAY_RTSP_LISTEN=127.0.0.1:0 "$RELAY" all --rtmp-listen "127.0.0.1:$rtmp" --http-listen "127.0.0.1:$http" \
  --public-host 127.0.0.1 --data-dir "$WORK/relay" >"$WORK/relay.out" 2>"$WORK/relay.err" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
for _ in $(seq 300); do grep -q '^Playlist URL:' "$WORK/relay.out" 2>/dev/null && break; sleep 0.1; done
password=$(sed -n 's#^Console login: admin / \([0-9a-f]*\).*#\1#p' "$WORK/relay.out")
base="http://127.0.0.1:$http"
curl -sf -c "$WORK/cookies" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/auth/login" >/dev/null
for i in $(seq "$CAMERAS"); do
  curl -sf -b "$WORK/cookies" -H 'Content-Type: application/json' \
    -d "{\"name\":\"cam$i\",\"kind\":\"camera\",\"camera\":{\"url\":\"rtsp://127.0.0.1:${ports[$((i - 1))]}/cam\"}}" \
    "$base/api/v1/streams" >/dev/null
done
for i in $(seq "$CAMERAS"); do
  for _ in $(seq 300); do curl -sf "$base/live/cam$i/media.m3u8" 2>/dev/null | grep -q EXTINF && break; sleep 0.1; done
  curl -sf "$base/live/cam$i/media.m3u8" | grep -q EXTINF || { log "cam$i never played"; exit 1; }
done
log "relay pulls $CAMERAS cameras (${WIDTH}x${HEIGHT}); measuring ${MEASURE_SECONDS} s"
sleep 3
before=$(cpu_ticks "$RELAY_PID")
sleep "$MEASURE_SECONDS"
after=$(cpu_ticks "$RELAY_PID")
relay_ms=$(( (after - before) * 1000 / ticks_per_second ))

# Camera restart: kill camera 1, start it again on its port, time new parts.
newest_msn() { curl -sf "$base/live/cam1/media.m3u8" | sed -n 's#.*URI="seg\([0-9]*\)\.[0-9]*\.m4s".*#\1#p' | tail -1; }
last_msn=$(newest_msn)
kill "${camera_pids[1]}"; wait "${camera_pids[1]}" 2>/dev/null || true
sleep 2
restart_start=$(date +%s%N)
start_camera "${ports[0]}"
restart_ms=
for _ in $(seq 600); do
  msn=$(newest_msn || true)
  if [ -n "$msn" ] && [ "$msn" -gt "$((last_msn + 1))" ]; then
    restart_ms=$(( ($(date +%s%N) - restart_start) / 1000000 )); break
  fi
  sleep 0.05
done
[ -n "$restart_ms" ] || { log "cam1 never came back after its restart"; exit 1; }
kill "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null || true

# The peer: one ffmpeg per camera, remuxing to HLS.
ffmpeg_pids=()
for i in $(seq "$CAMERAS"); do
  mkdir -p "$WORK/ffmpeg-$i"
  ffmpeg -hide_banner -loglevel error -nostdin -rtsp_transport tcp -i "rtsp://127.0.0.1:${ports[$((i - 1))]}/cam" \
    -c copy -f hls -hls_time 2 -hls_list_size 10 -hls_flags delete_segments "$WORK/ffmpeg-$i/index.m3u8" &
  ffmpeg_pids+=($!); PIDS+=($!)
done
sleep 8
before=0; for pid in "${ffmpeg_pids[@]}"; do before=$((before + $(cpu_ticks "$pid"))); done
sleep "$MEASURE_SECONDS"
after=0; for pid in "${ffmpeg_pids[@]}"; do after=$((after + $(cpu_ticks "$pid"))); done
ffmpeg_ms=$(( (after - before) * 1000 / ticks_per_second ))

stream_seconds=$((CAMERAS * MEASURE_SECONDS))
awk -v r="$relay_ms" -v f="$ffmpeg_ms" -v s="$stream_seconds" -v restart="${restart_ms:-none}" 'BEGIN {
  printf "{\"relay_cpu_ms_per_stream_second\":%.2f,\"ffmpeg_cpu_ms_per_stream_second\":%.2f,\"ratio_relay_to_ffmpeg\":%.2f,\"camera_restart_to_new_parts_ms\":\"%s\"}\n",
    r / s, f / s, (f > 0 ? r / f : 0), restart }'
