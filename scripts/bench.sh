#!/usr/bin/env bash
# Benchmark: our LL-HLS origin (`relay all`) against nginx with the RTMP module
# (classic HLS, 1 s fragments), in the same run on the same machine.
#
# Measures, for both servers:
#   (a) publish delay: part (ours) / segment (both) complete on the origin vs
#       the encoder emitting its end (loadtest probe), 720p30;
#   (b) hls.js playback: time to first frame and latency (tests/browser/play.mjs);
#   (c) ingest CPU per stream-second with STREAMS concurrent 2.6 Mbps publishers;
#   (d) memory: RSS per idle keep-alive viewer connection and per publisher.
#
# Everything listens on 127.0.0.1 and every process started here is stopped on
# exit. Needs: cargo, ffmpeg, nginx + libnginx-mod-rtmp, jq; node and
# tests/browser/node_modules for (b) (skipped when missing).
#
# Tunables (environment): PROBE_SECONDS PLAY_SECONDS STREAMS LOAD_SECONDS
# IDLE_CONNECTIONS BENCH_KEEP=1 (keep the work directory), CARGO_TARGET_DIR,
# SERVERS (default "relay nginx"; one of them alone to measure just that side).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROBE_SECONDS=${PROBE_SECONDS:-30}
PLAY_SECONDS=${PLAY_SECONDS:-20}
STREAMS=${STREAMS:-20}
LOAD_SECONDS=${LOAD_SECONDS:-60}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}
SERVERS=${SERVERS:-relay nginx}
RTMP_MODULE=${RTMP_MODULE:-/usr/lib/nginx/modules/ngx_rtmp_module.so}
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/relay-bench.XXXXXX)
PIDS=()

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }
want() { [[ " $SERVERS " == *" $1 "* ]]; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a background command, remembering its pid for cleanup; sets LAST_PID.
start_bg() {
    local out=$1
    shift
    "$@" >"$out" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

wait_for() { # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# CPU ticks (utime + stime) of the given pids, summed.
cpu_ticks() {
    local total=0 pid ticks
    for pid in "$@"; do
        ticks=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
        total=$((total + ticks))
    done
    echo "$total"
}

# Resident set size in KiB of the given pids, summed.
rss_kib() {
    local total=0 pid kib
    for pid in "$@"; do
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
        total=$((total + kib))
    done
    echo "$total"
}

nginx_pids() { echo "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID"); }

for tool in cargo ffmpeg nginx jq; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install nginx libnginx-mod-rtmp ffmpeg jq)"
done
[[ -f "$RTMP_MODULE" ]] || die "nginx RTMP module missing: apt-get install libnginx-mod-rtmp"
PLAY_SCRIPT="$ROOT/tests/browser/play.mjs"
PLAY_OK=1
if ! command -v node >/dev/null || [[ ! -f "$PLAY_SCRIPT" ]] || [[ ! -d "$ROOT/tests/browser/node_modules" ]]; then
    PLAY_OK=0
    log "hls.js playback skipped: needs node, $PLAY_SCRIPT and npm ci in tests/browser"
fi

log "building release binaries"
if want relay; then
    (cd "$ROOT" && cargo build --release --quiet -p server -p loadtest)
else
    (cd "$ROOT" && cargo build --release --quiet -p loadtest)
fi
RELAY="$TARGET_DIR/release/relay"
LOADTEST="$TARGET_DIR/release/loadtest"

SOURCE_FLV="$TARGET_DIR/bench-source-720p30.flv"
if [[ ! -s "$SOURCE_FLV" ]]; then
    log "pre-encoding 60 s of 720p30 H.264 2.6 Mbps + AAC"
    ffmpeg -hide_banner -loglevel error -nostdin -y \
        -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 \
        -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p \
        -b:v 2600k -maxrate 2600k -bufsize 2600k -g 30 -keyint_min 30 -sc_threshold 0 \
        -c:a aac -b:a 128k -f flv "$SOURCE_FLV.tmp"
    mv "$SOURCE_FLV.tmp" "$SOURCE_FLV"
fi

read -r NGINX_RTMP NGINX_HTTP < <("$LOADTEST" free-port 2 | paste -sd' ')

# --- our server ---------------------------------------------------------
start_relay() {
    log "starting relay"
    mkdir -p "$WORK/relay"
    RELAY_RTSP_LISTEN=127.0.0.1:0 RELAY_ADMIN_LISTEN=127.0.0.1:0 RELAY_HTTP_MAX_CONNECTIONS=65536 "$RELAY" all --rtmp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --public-host 127.0.0.1 \
        --data-dir "$WORK/relay" >"$WORK/relay.out" 2>"$WORK/relay.err" &
    RELAY_PID=$!
    PIDS+=("$RELAY_PID")
    wait_for 30 grep -q '^Playlist URL:' "$WORK/relay.out" || die "relay did not start: $(tail -5 "$WORK/relay.err")"
    RELAY_RTMP=$(sed -n 's#^OBS server URL: rtmp://[^:]*:\([0-9]*\)/.*#\1#p' "$WORK/relay.out")
    RELAY_HTTP=$(sed -n 's#^Playlist URL: http://[^:]*:\([0-9]*\)/.*#\1#p' "$WORK/relay.out")
    add_stream() { "$RELAY" streams add "$1" --key "$2" --data-dir "$WORK/relay" >/dev/null; }
    add_stream probe bench-key-probe-01
    add_stream play bench-key-play-001
    for i in $(seq -w 1 "$STREAMS"); do add_stream "load$i" "bench-key-load$i"; done
    # The running server picks up streams the CLI added within 5 s.
    sleep 6
}
want relay && start_relay

# --- nginx-rtmp ---------------------------------------------------------
start_nginx() {
    log "starting nginx-rtmp"
    mkdir -p "$WORK/nginx/hls" "$WORK/nginx/tmp" "$WORK/nginx/logs"
    # Workers drop privileges when started as root; they must reach these.
    chmod a+rx "$WORK" "$WORK/nginx"
    chmod a+rwx "$WORK/nginx/hls" "$WORK/nginx/tmp"
    sed -e "s#@PREFIX@#$WORK/nginx#g" -e "s#@RTMP_PORT@#$NGINX_RTMP#g" -e "s#@HTTP_PORT@#$NGINX_HTTP#g" \
        -e "s#@RTMP_MODULE@#$RTMP_MODULE#g" "$ROOT/scripts/nginx-rtmp/nginx.conf.in" >"$WORK/nginx/nginx.conf"
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_for 10 curl -sf "http://127.0.0.1:$NGINX_HTTP/healthz" || die "nginx did not start: $(cat "$WORK/nginx.out")"
}
want nginx && start_nginx

declare -A R # results, keyed "<server>.<metric>"

# (a) publish delay -------------------------------------------------------
probe() { # probe NAME PUBLISH_URL PLAYLIST_URL
    log "publish-delay probe: $1 (${PROBE_SECONDS}s)"
    "$LOADTEST" probe --publish-url "$2" --playlist "$3" --seconds "$PROBE_SECONDS" \
        --input "$SOURCE_FLV" >"$WORK/probe-$1.json"
    cat "$WORK/probe-$1.json" >&2
    R[$1.part_p50]=$(jq -r '.part_delay_s.p50 // "n/a"' "$WORK/probe-$1.json")
    R[$1.part_p99]=$(jq -r '.part_delay_s.p99 // "n/a"' "$WORK/probe-$1.json")
    R[$1.seg_p50]=$(jq -r '.segment_delay_s.p50 // "n/a"' "$WORK/probe-$1.json")
    R[$1.seg_p99]=$(jq -r '.segment_delay_s.p99 // "n/a"' "$WORK/probe-$1.json")
}
want relay && probe relay "rtmp://127.0.0.1:$RELAY_RTMP/live/bench-key-probe-01" "http://127.0.0.1:$RELAY_HTTP/live/probe/media.m3u8"
want nginx && probe nginx "rtmp://127.0.0.1:$NGINX_RTMP/live/probe" "http://127.0.0.1:$NGINX_HTTP/live/probe.m3u8"

# (b) hls.js playback -----------------------------------------------------
play() { # play NAME PUBLISH_URL PLAYLIST_URL
    log "hls.js playback: $1 (${PLAY_SECONDS}s)"
    start_bg "$WORK/play-pub-$1.log" ffmpeg -hide_banner -loglevel error -nostdin -re -i "$SOURCE_FLV" \
        -c copy -f flv "$2"
    local publisher=$LAST_PID
    wait_for 20 curl -sf "$3" || log "$1: playlist not available"
    sleep 3
    node "$PLAY_SCRIPT" "$3" "$PLAY_SECONDS" >"$WORK/play-$1.json" || true
    stop_pid "$publisher"
    tail -1 "$WORK/play-$1.json" >&2
    local json
    json=$(tail -1 "$WORK/play-$1.json")
    R[$1.first_frame_ms]=$(jq -r '.first_frame_ms // "n/a" | if type == "number" then floor else . end' <<<"$json")
    R[$1.latency_s]=$(jq -r '.latency_median_s // "n/a" | if type == "number" then (. * 100 | round / 100) else . end' <<<"$json")
    R[$1.pdt_latency_s]=$(jq -r '.pdt_latency_median_s // "n/a" | if type == "number" then (. * 100 | round / 100) else . end' <<<"$json")
    R[$1.stalls]=$(jq -r '.stalls // "n/a"' <<<"$json")
}
if [[ $PLAY_OK == 1 ]]; then
    want relay && play relay "rtmp://127.0.0.1:$RELAY_RTMP/live/bench-key-play-001" "http://127.0.0.1:$RELAY_HTTP/live/play/index.m3u8"
    want nginx && play nginx "rtmp://127.0.0.1:$NGINX_RTMP/live/play" "http://127.0.0.1:$NGINX_HTTP/live/play.m3u8"
fi

# (d) idle viewer connections -------------------------------------------
idle() { # idle NAME URL PIDS...
    local name=$1 url=$2
    shift 2
    log "idle connections: $name ($IDLE_CONNECTIONS)"
    local before after
    before=$(rss_kib "$@")
    start_bg "$WORK/idle-$name.log" "$LOADTEST" idle --url "$url" --connections "$IDLE_CONNECTIONS" --seconds 6
    local client=$LAST_PID
    wait_for 30 grep -q '^ready' "$WORK/idle-$name.log" || die "idle connections failed: $(cat "$WORK/idle-$name.log")"
    sleep 2
    after=$(rss_kib "$@")
    wait "$client" || true
    R[$name.idle_conn_bytes]=$(((after - before) * 1024 / IDLE_CONNECTIONS))
    log "$name: RSS $before -> $after KiB, $(tail -1 "$WORK/idle-$name.log")"
}
want relay && idle relay "http://127.0.0.1:$RELAY_HTTP/healthz" "$RELAY_PID"
want nginx && idle nginx "http://127.0.0.1:$NGINX_HTTP/healthz" $(nginx_pids)

# (c) ingest CPU and memory per publisher ---------------------------------
load() { # load NAME URL_PREFIX KEY_PREFIX PLAYLIST_PATTERN PIDS...
    local name=$1 prefix=$2 key_prefix=$3 pattern=$4
    shift 4
    log "ingest load: $name, $STREAMS publishers for ${LOAD_SECONDS}s"
    local rss_before publishers=() i
    rss_before=$(rss_kib "$@")
    for i in $(seq -w 1 "$STREAMS"); do
        start_bg "$WORK/load-$name-$i.log" ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
            -i "$SOURCE_FLV" -c copy -f flv "$prefix/$key_prefix$i"
        publishers+=("$LAST_PID")
    done
    sleep 5
    local ticks_before start_ns
    ticks_before=$(cpu_ticks "$@")
    start_ns=$(date +%s%N)
    sleep "$((LOAD_SECONDS / 2))"
    local rss_loaded
    rss_loaded=$(rss_kib "$@")
    sleep "$((LOAD_SECONDS - LOAD_SECONDS / 2))"
    local ticks_after end_ns
    ticks_after=$(cpu_ticks "$@")
    end_ns=$(date +%s%N)
    local live=0
    for i in $(seq -w 1 "$STREAMS"); do
        curl -sf -o /dev/null "${pattern//NN/$i}" && live=$((live + 1))
    done
    for i in "${publishers[@]}"; do stop_pid "$i"; done
    local stream_seconds
    stream_seconds=$(awk -v a="$start_ns" -v b="$end_ns" -v n="$STREAMS" 'BEGIN {printf "%.1f", (b - a) / 1e9 * n}')
    R[$name.cpu_ms_per_stream_s]=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$CLK_TCK" -v s="$stream_seconds" \
        'BEGIN {printf "%.2f", t / hz * 1000 / s}')
    R[$name.publisher_kib]=$(((rss_loaded - rss_before) / STREAMS))
    R[$name.live_streams]="$live/$STREAMS"
    log "$name: $((ticks_after - ticks_before)) ticks over $stream_seconds stream-s; RSS $rss_before -> $rss_loaded KiB; $live/$STREAMS playlists live"
}
want relay && load relay "rtmp://127.0.0.1:$RELAY_RTMP/live" bench-key-load \
    "http://127.0.0.1:$RELAY_HTTP/live/loadNN/media.m3u8" "$RELAY_PID"
want nginx && load nginx "rtmp://127.0.0.1:$NGINX_RTMP/live" load \
    "http://127.0.0.1:$NGINX_HTTP/live/loadNN.m3u8" $(nginx_pids)

# --- report ---------------------------------------------------------------
# Glass latency estimate for both: hls.js distance to the live edge, plus the
# average age of that edge (half a part or fragment, plus its publish delay).
glass_estimate() { # LATENCY UNIT_SECONDS PUBLISH_DELAY
    awk -v l="$1" -v u="$2" -v d="$3" 'BEGIN { if (l + 0 == l && d + 0 == d) printf "%.2f", l + u / 2 + d; else print "n/a" }'
}
R[relay.glass_s]=$(glass_estimate "${R[relay.latency_s]:-x}" "${RELAY_PART_SECONDS:-0.2}" "${R[relay.part_p50]:-x}")
R[nginx.glass_s]=$(glass_estimate "${R[nginx.latency_s]:-x}" "${NGINX_FRAGMENT_SECONDS:-1}" "${R[nginx.seg_p50]:-x}")

ratio() { # ratio OURS NGINX -> "x.xx" or n/a
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 == a && b + 0 == b && b != 0) printf "%.2f", a / b; else print "n/a" }'
}
row() { # row LABEL KEY
    printf '| %s | %s | %s | %s |\n' "$1" "${R[relay.$2]:-n/a}" "${R[nginx.$2]:-n/a}" "$(ratio "${R[relay.$2]:-x}" "${R[nginx.$2]:-x}")"
}
{
    echo "### Results ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
    echo
    echo "| metric | relay (LL-HLS, 2 s segments, 200 ms parts) | nginx-rtmp (HLS, 1 s fragments) | relay / nginx |"
    echo "| --- | --- | --- | --- |"
    printf '| publish delay p50, s (relay: part, nginx: segment) | %s | %s | %s |\n' \
        "${R[relay.part_p50]:-n/a}" "${R[nginx.seg_p50]:-n/a}" "$(ratio "${R[relay.part_p50]:-x}" "${R[nginx.seg_p50]:-x}")"
    printf '| publish delay p99, s (relay: part, nginx: segment) | %s | %s | %s |\n' \
        "${R[relay.part_p99]:-n/a}" "${R[nginx.seg_p99]:-n/a}" "$(ratio "${R[relay.part_p99]:-x}" "${R[nginx.seg_p99]:-x}")"
    row "segment publish delay p50, s" seg_p50
    row "segment publish delay p99, s" seg_p99
    row "hls.js time to first frame, ms" first_frame_ms
    row "hls.js latency to live edge (median), s" latency_s
    row "hls.js PDT latency (median; relay only, nginx has no PDT), s" pdt_latency_s
    row "estimated glass latency (edge latency + edge age), s" glass_s
    row "hls.js stalls" stalls
    row "ingest CPU, ms per stream-second ($STREAMS x 2.6 Mbps)" cpu_ms_per_stream_s
    row "RSS per publisher, KiB" publisher_kib
    row "RSS per idle keep-alive connection, bytes" idle_conn_bytes
    row "streams live at end of load" live_streams
    echo
    echo "Command: \`make bench\` (scripts/bench.sh; PROBE_SECONDS=$PROBE_SECONDS PLAY_SECONDS=$PLAY_SECONDS" \
        "STREAMS=$STREAMS LOAD_SECONDS=$LOAD_SECONDS IDLE_CONNECTIONS=$IDLE_CONNECTIONS)."
}
