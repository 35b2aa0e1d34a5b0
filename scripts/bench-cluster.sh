#!/usr/bin/env bash
# Cluster benchmark: one ingest pod and two origin pods (`relay ingest`,
# `relay origin`) sharing one SQLite file and an S3-protocol bucket (s3s-fs),
# plus `relay all` and nginx as peers measured in the same run.
#
# Measures:
#   (1) egress: a warmed origin pod serving cached parts and segments vs nginx
#       serving the same files from disk; both on one core, one worker;
#       wrk on the other core, rotating over the same URLs;
#   (2) blocked viewers: SMALL_VIEWERS, then VIEWERS keep-alive viewers parked
#       in blocking playlist reloads on one origin pod, then on `relay all`:
#       server memory per viewer and the release spread after the part
#       appears (loadtest viewers);
#   (3) object storage requests per rendition-hour, counted by s3s-fs;
#   (4) part publish delay through origin pod -> ingest pod vs `relay all`
#       (loadtest probe, same source);
#   (5) blocked viewers by transport: TRANSPORT_VIEWERS viewers parked on a
#       fresh `relay all` with TLS each time, over HTTP/1.1, HTTP/1.1 on TLS
#       and HTTP/2 on TLS (one connection per viewer): memory per viewer.
#
# Everything listens on 127.0.0.1; every process started here is stopped on
# exit. Needs: cargo, ffmpeg, nginx, wrk, jq, taskset, s3s-fs.
#
# Tunables (environment): PROBE_SECONDS VIEWERS SMALL_VIEWERS VIEWER_ROUNDS TRANSPORT_VIEWERS
# EGRESS_SECONDS EGRESS_ROUNDS EGRESS_CONNECTIONS STORAGE_MINUTES BENCH_KEEP=1 CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROBE_SECONDS=${PROBE_SECONDS:-30}
VIEWERS=${VIEWERS:-20000}
SMALL_VIEWERS=${SMALL_VIEWERS:-1000}
TRANSPORT_VIEWERS=${TRANSPORT_VIEWERS:-2000}
VIEWER_ROUNDS=${VIEWER_ROUNDS:-3}
EGRESS_SECONDS=${EGRESS_SECONDS:-10}
EGRESS_ROUNDS=${EGRESS_ROUNDS:-3}
EGRESS_CONNECTIONS=${EGRESS_CONNECTIONS:-50}
STORAGE_MINUTES=${STORAGE_MINUTES:-5}
CLK_TCK=$(getconf CLK_TCK)
BUCKET=relay-bench
S3_KEY=benchaccesskey
S3_SECRET=benchsecretkey0123456789

WORK=$(mktemp -d /tmp/relay-bench-cluster.XXXXXX)
PIDS=()

log() { echo "[bench-cluster $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_bg() { # start_bg LOG COMMAND... ; sets LAST_PID
    local out=$1
    shift
    "$@" >"$out" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_for() { # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 == a && b + 0 == b && b != 0) printf "%.2f", a / b; else print "n/a" }'; }

for tool in cargo ffmpeg nginx wrk jq taskset curl openssl; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done
S3S_FS=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
[[ -x "$S3S_FS" ]] || die "s3s-fs not found (make deps)"
(($(nproc) >= 2)) || die "needs two cores: servers on one, wrk on the other"
# Each viewer is one open file in the server and one in the client. Without
# the right to raise the hard limit, the crowd shrinks to fit under it.
CROWD=$((VIEWERS > TRANSPORT_VIEWERS ? VIEWERS : TRANSPORT_VIEWERS))
if ! ulimit -n $((CROWD + 1024)) 2>/dev/null; then
    hard=$(ulimit -Hn)
    ulimit -n "$hard"
    if ((hard < VIEWERS + 200)); then
        log "open-file limit is $hard and cannot be raised: VIEWERS $VIEWERS -> $((hard - 200))"
        VIEWERS=$((hard - 200))
    fi
fi

log "building release binaries"
(cd "$ROOT" && cargo build --release --quiet -p server -p loadtest)
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

read -r S3_PORT INGEST_RTMP INGEST_HTTP ORIGIN_HTTP EGRESS_HTTP < <("$LOADTEST" free-port 5 | paste -sd' ')

# --- object storage: s3s-fs logs every request at debug level ------------
mkdir -p "$WORK/s3/$BUCKET"
RUST_LOG=s3s=debug start_bg "$WORK/s3.log" "$S3S_FS" --host 127.0.0.1 --port "$S3_PORT" \
    --access-key "$S3_KEY" --secret-key "$S3_SECRET" "$WORK/s3"
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" || die "s3s-fs did not start"

# --- the cluster -------------------------------------------------------------
CLUSTER_ENV=(
    "RELAY_DATABASE_URL=sqlite://$WORK/relay.db?mode=rwc"
    RELAY_STORAGE_KIND=s3 "RELAY_S3_BUCKET=$BUCKET" "RELAY_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
    RELAY_S3_REGION=us-east-1 RELAY_S3_FORCE_PATH_STYLE=true
    "RELAY_S3_ACCESS_KEY_ID=$S3_KEY" "RELAY_S3_SECRET_ACCESS_KEY=$S3_SECRET"
    RELAY_RTSP_LISTEN=127.0.0.1:0 RELAY_HTTP_MAX_CONNECTIONS=65536 NO_COLOR=1
    RELAY_CLUSTER_INTERNAL_SECRET=bench-cluster-internal-secret-0123456789 RELAY_ADMIN_LISTEN=127.0.0.1:0
)
start_pod() { # start_pod ROLE NAME HTTP_PORT [PREFIX...]; sets LAST_PID
    local role=$1 name=$2 http=$3
    shift 3
    mkdir -p "$WORK/$name"
    start_bg "$WORK/$name.log" env "${CLUSTER_ENV[@]}" "RELAY_SERVER_DATA_DIR=$WORK/$name" "RELAY_CLUSTER_POD_NAME=$name" \
        "RELAY_RTMP_LISTEN=127.0.0.1:$INGEST_RTMP" "RELAY_HTTP_LISTEN=127.0.0.1:$http" \
        "RELAY_CLUSTER_INTERNAL_LISTEN=127.0.0.1:$http" "RELAY_CLUSTER_ADVERTISE_ADDRESS=127.0.0.1:$http" \
        "$@" "$RELAY" "$role"
    wait_for 60 curl -sf "http://127.0.0.1:$http/readyz" || die "$name did not start: $(tail -5 "$WORK/$name.log")"
}
# The schema exists before the pods share it.
env "${CLUSTER_ENV[@]}" "RELAY_SERVER_DATA_DIR=$WORK/admin" "$RELAY" streams add probe --key bench-key-probe-01 >/dev/null
env "${CLUSTER_ENV[@]}" "RELAY_SERVER_DATA_DIR=$WORK/admin" "$RELAY" streams add store --key bench-key-store-01 >/dev/null
log "starting ingest pod and two origin pods"
start_pod ingest ingest-1 "$INGEST_HTTP"
INGEST_PID=$LAST_PID
start_pod origin origin-viewers "$ORIGIN_HTTP"
ORIGIN_PID=$LAST_PID
# The egress pod: one tokio worker (tokio's own TOKIO_WORKER_THREADS), pinned to core 0.
start_pod origin origin-egress "$EGRESS_HTTP" TOKIO_WORKER_THREADS=1 taskset -c 0
EGRESS_PID=$LAST_PID

# --- relay all, the single-process peer ----------------------------------
log "starting relay all"
mkdir -p "$WORK/all"
start_bg "$WORK/all.log" env RELAY_RTSP_LISTEN=127.0.0.1:0 RELAY_HTTP_MAX_CONNECTIONS=65536 NO_COLOR=1 "$RELAY" all --rtmp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    --public-host 127.0.0.1 --data-dir "$WORK/all"
ALL_PID=$LAST_PID
wait_for 30 grep -q '^Playlist URL:' "$WORK/all.log" || die "relay all did not start: $(tail -5 "$WORK/all.log")"
ALL_RTMP=$(sed -n 's#^OBS server URL: rtmp://[^:]*:\([0-9]*\)/.*#\1#p' "$WORK/all.log")
ALL_HTTP=$(sed -n 's#^Playlist URL: http://[^:]*:\([0-9]*\)/.*#\1#p' "$WORK/all.log")
"$RELAY" streams add probe --key bench-key-probe-01 --data-dir "$WORK/all" >/dev/null
"$RELAY" streams add store --key bench-key-store-01 --data-dir "$WORK/all" >/dev/null
# relay all picks up streams the CLI added within 5 s.
sleep 6

declare -A R

# (4) part publish delay: relay all vs origin pod -> ingest pod -------------
probe() { # probe NAME RTMP_PORT HTTP_PORT
    log "publish-delay probe: $1 (${PROBE_SECONDS}s)"
    "$LOADTEST" probe --publish-url "rtmp://127.0.0.1:$2/live/bench-key-probe-01" \
        --playlist "http://127.0.0.1:$3/live/probe/media.m3u8" --seconds "$PROBE_SECONDS" \
        --input "$SOURCE_FLV" >"$WORK/probe-$1.json"
    cat "$WORK/probe-$1.json" >&2
    local key
    for key in p50 p99; do
        R[$1.part_$key]=$(jq -r ".part_delay_s.$key // \"n/a\"" "$WORK/probe-$1.json")
    done
}
probe all "$ALL_RTMP" "$ALL_HTTP"
probe cluster "$INGEST_RTMP" "$ORIGIN_HTTP"

# (3) storage requests: one looping publisher for the rest of the run -------
log "publishing 'store' to the ingest pod for at least $STORAGE_MINUTES min"
start_bg "$WORK/store-publisher.log" ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
    -i "$SOURCE_FLV" -c copy -f flv "rtmp://127.0.0.1:$INGEST_RTMP/live/bench-key-store-01"
STORE_PUBLISHER=$LAST_PID
STORE_STARTED=$(date +%s%N)
STORE_PLAYLIST="http://127.0.0.1:$ORIGIN_HTTP/live/store/media.m3u8"
# The same stream into relay all, whose viewers wait on the live edge in-process.
start_bg "$WORK/all-publisher.log" ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
    -i "$SOURCE_FLV" -c copy -f flv "rtmp://127.0.0.1:$ALL_RTMP/live/bench-key-store-01"
ALL_PUBLISHER=$LAST_PID
ALL_PLAYLIST="http://127.0.0.1:$ALL_HTTP/live/store/media.m3u8"
wait_for 30 curl -sf "$STORE_PLAYLIST" || die "store stream did not start"
wait_for 30 curl -sf "$ALL_PLAYLIST" || die "store stream did not start on relay all"
sleep 6 # a few complete segments in the window

# (2) blocked viewers: on the (unpinned) viewers origin pod, and on relay all
viewers() { # viewers NAME PLAYLIST PID COUNT
    local name=$1 playlist=$2 pid=$3 count=$4 out="$WORK/viewers-$1-$4.json"
    log "blocked viewers: $count on $name, $VIEWER_ROUNDS rounds"
    "$LOADTEST" viewers --playlist "$playlist" --viewers "$count" --rounds "$VIEWER_ROUNDS" --server-pid "$pid" >"$out"
    cat "$out" >&2
    local key=$name.$count
    R[$key.bytes]=$(jq -r '.bytes_per_blocked_viewer // "n/a"' "$out")
    R[$key.p50]=$(jq -r '.release_after_first_ms.p50 // "n/a"' "$out")
    R[$key.p99]=$(jq -r '.release_after_first_ms.p99 // "n/a"' "$out")
    R[$key.max]=$(jq -r '.release_after_first_ms.max // "n/a"' "$out")
    R[$key.failures]=$(jq -r '.failures' "$out")
    R[$key.early]=$(jq -r '.early_rounds' "$out")
}
# The small crowd first, on a heap no crowd has used: the large one after it
# reuses at most SMALL_VIEWERS viewers' freed memory, which is in its baseline.
viewers origin-pod "$STORE_PLAYLIST" "$ORIGIN_PID" "$SMALL_VIEWERS"
viewers origin-pod "$STORE_PLAYLIST" "$ORIGIN_PID" "$VIEWERS"
viewers relay-all "$ALL_PLAYLIST" "$ALL_PID" "$SMALL_VIEWERS"
viewers relay-all "$ALL_PLAYLIST" "$ALL_PID" "$VIEWERS"
stop_pid "$ALL_PUBLISHER"
stop_pid "$ALL_PID"

# (5) blocked viewers by transport, each on a fresh relay all with TLS --------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n') -out "$WORK/tls.crt" 2>/dev/null
transport_viewers() { # transport_viewers TRANSPORT (http1, http1-tls, h2)
    local transport=$1 dir="$WORK/all-$1" out="$WORK/viewers-transport-$1.json"
    mkdir -p "$dir"
    start_bg "$dir.log" env RELAY_RTSP_LISTEN=127.0.0.1:0 RELAY_ADMIN_LISTEN=127.0.0.1:0 RELAY_HTTP_MAX_CONNECTIONS=65536 \
        RELAY_HTTP_TLS_LISTEN=127.0.0.1:0 "RELAY_TLS_CERTIFICATE_FILE=$WORK/tls.crt" "RELAY_TLS_PRIVATE_KEY_FILE=$WORK/tls.key" \
        NO_COLOR=1 "$RELAY" all --rtmp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --public-host 127.0.0.1 --data-dir "$dir"
    local pid=$LAST_PID
    wait_for 30 grep -q '^Playlist URL (HTTPS):' "$dir.log" || die "relay all with TLS did not start: $(tail -5 "$dir.log")"
    local rtmp http https
    rtmp=$(sed -n 's#^OBS server URL: rtmp://[^:]*:\([0-9]*\)/.*#\1#p' "$dir.log")
    http=$(sed -n 's#^Playlist URL: http://[^:]*:\([0-9]*\)/.*#\1#p' "$dir.log")
    https=$(sed -n 's#^Playlist URL (HTTPS): https://[^:]*:\([0-9]*\)/.*#\1#p' "$dir.log")
    "$RELAY" streams add store --key bench-key-store-01 --data-dir "$dir" >/dev/null
    sleep 6
    start_bg "$dir-publisher.log" ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
        -i "$SOURCE_FLV" -c copy -f flv "rtmp://127.0.0.1:$rtmp/live/bench-key-store-01"
    local publisher=$LAST_PID
    wait_for 30 curl -sf "http://127.0.0.1:$http/live/store/media.m3u8" || die "store stream did not start ($transport)"
    sleep 6
    local playlist="https://127.0.0.1:$https/live/store/media.m3u8"
    [[ $transport == http1 ]] && playlist="http://127.0.0.1:$http/live/store/media.m3u8"
    log "blocked viewers by transport: $TRANSPORT_VIEWERS over $transport, $VIEWER_ROUNDS rounds"
    "$LOADTEST" viewers --playlist "$playlist" --viewers "$TRANSPORT_VIEWERS" --rounds "$VIEWER_ROUNDS" \
        --server-pid "$pid" --transport "$transport" --ca-file "$WORK/ca.crt" >"$out"
    cat "$out" >&2
    R[transport.$transport.bytes]=$(jq -r '.bytes_per_blocked_viewer // "n/a"' "$out")
    R[transport.$transport.p99]=$(jq -r '.release_after_first_ms.p99 // "n/a"' "$out")
    R[transport.$transport.failures]=$(jq -r '.failures' "$out")
    stop_pid "$publisher"
    stop_pid "$pid"
}
for transport in http1 http1-tls h2; do transport_viewers "$transport"; done

# (1) egress: warm the egress pod, copy the same files for nginx ------------
log "warming origin-egress with the window of 'store'"
EGRESS_ROOT="$WORK/egress-root"
mkdir -p "$EGRESS_ROOT/live/store"
curl -sf "http://127.0.0.1:$EGRESS_HTTP/live/store/media.m3u8" >"$WORK/egress-playlist.m3u8"
# Parts, segments and the init segment listed (not the preload hint: it does not exist yet).
{
    sed -n 's/^#EXT-X-\(PART\|MAP\):.*URI="\([^"]*\)".*/\2/p' "$WORK/egress-playlist.m3u8"
    grep -v '^#' "$WORK/egress-playlist.m3u8" | grep -v '^$'
} | sort -u >"$WORK/egress-files"
: >"$WORK/egress.lua.paths"
while read -r file; do
    curl -sf -o "$EGRESS_ROOT/live/store/$file" "http://127.0.0.1:$EGRESS_HTTP/live/store/$file" ||
        die "warming $file failed"
    echo "  \"/live/store/$file\"," >>"$WORK/egress.lua.paths"
done <"$WORK/egress-files"
EGRESS_FILES=$(wc -l <"$WORK/egress-files")
EGRESS_BYTES=$(du -sb "$EGRESS_ROOT" | cut -f1)
log "$EGRESS_FILES files, $EGRESS_BYTES bytes"
{
    echo "local paths = {"
    cat "$WORK/egress.lua.paths"
    echo "}"
    cat <<'LUA'
local counter = 0
request = function()
    counter = counter + 1
    return wrk.format("GET", paths[(counter % #paths) + 1])
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT bytes=%d duration_us=%d requests=%d errors=%d\n", summary.bytes,
        summary.duration, summary.requests, e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
} >"$WORK/egress.lua"

# Picked now: the viewer crowds have cycled through the ephemeral ports.
NGINX_HTTP=$("$LOADTEST" free-port 1)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
chmod -R a+rX "$WORK"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/tmp;
    fastcgi_temp_path $WORK/nginx/tmp;
    uwsgi_temp_path $WORK/nginx/tmp;
    scgi_temp_path $WORK/nginx/tmp;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=1000 inactive=60s;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    types { video/mp4 m4s mp4; application/vnd.apple.mpegurl m3u8; }
    server {
        listen 127.0.0.1:$NGINX_HTTP;
        root $EGRESS_ROOT;
        location /healthz { return 200 "ok"; }
        location /live/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
    }
}
EOF
start_bg "$WORK/nginx.out" taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;'
NGINX_PID=$LAST_PID
wait_for 10 curl -sf "http://127.0.0.1:$NGINX_HTTP/healthz" || die "nginx did not start: $(cat "$WORK/nginx.out")"
NGINX_WORKER=$(ps -o pid= --ppid "$NGINX_PID" | head -1 | tr -d ' ')
# The same bytes from both before any timing.
first=$(head -1 "$WORK/egress-files")
cmp <(curl -sf "http://127.0.0.1:$EGRESS_HTTP/live/store/$first") \
    <(curl -sf "http://127.0.0.1:$NGINX_HTTP/live/store/$first") || die "origin and nginx differ on $first"

egress() { # egress NAME PORT SERVER_PID ROUND
    log "egress: $1 round $4, wrk -t1 -c$EGRESS_CONNECTIONS -d${EGRESS_SECONDS}s on core 1"
    local before after out="$WORK/wrk-$1-$4.txt"
    before=$(cpu_ticks "$3")
    taskset -c 1 wrk -t1 -c"$EGRESS_CONNECTIONS" -d"${EGRESS_SECONDS}s" -s "$WORK/egress.lua" \
        "http://127.0.0.1:$2" >"$out" 2>&1
    after=$(cpu_ticks "$3")
    cat "$out" >&2
    local result
    result=$(grep '^RESULT' "$out") || die "wrk printed no result for $1"
    # bytes / microseconds = MB/s
    echo "$result" | awk -v t=$((after - before)) -v hz="$CLK_TCK" -v s="$EGRESS_SECONDS" '{
        split($0, f, /[ =]/); printf "%.0f %.0f %d %.0f\n", f[3] / f[5], f[7] / (f[5] / 1e6), f[9], t / hz / s * 100 }' \
        >>"$WORK/egress-$1.rounds"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
EGRESS_THREADS=$(ls "/proc/$EGRESS_PID/task" | wc -l)
# Alternating rounds, so drift on the shared machine hits both alike.
for round in $(seq 1 "$EGRESS_ROUNDS"); do
    egress origin "$EGRESS_HTTP" "$EGRESS_PID" "$round"
    egress nginx "$NGINX_HTTP" "$NGINX_WORKER" "$round"
done
for name in origin nginx; do
    R[$name.mbps]=$(cut -d' ' -f1 "$WORK/egress-$name.rounds" | median)
    R[$name.rps]=$(cut -d' ' -f2 "$WORK/egress-$name.rounds" | median)
    R[$name.errors]=$(awk '{ n += $3 } END { print n }' "$WORK/egress-$name.rounds")
    R[$name.cpu]=$(cut -d' ' -f4 "$WORK/egress-$name.rounds" | median)
    R[$name.all]=$(cut -d' ' -f1 "$WORK/egress-$name.rounds" | paste -sd/)
done

# (3) storage, continued: finish the publishing window, then count ---------
remaining=$((STORAGE_MINUTES * 60 - ($(date +%s%N) - STORE_STARTED) / 1000000000))
if ((remaining > 0)); then
    log "publishing 'store' for $remaining s more"
    sleep "$remaining"
fi
STORE_SECONDS=$(awk -v a="$STORE_STARTED" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
stop_pid "$STORE_PUBLISHER"
sleep 5 # the last segment is uploaded when the stream ends
count_requests() { # count_requests METHOD
    grep -c "req: Request { method: $1, uri: /$BUCKET/[^ ]*store/" "$WORK/s3.log" || true
}
R[s3.put]=$(count_requests PUT)
R[s3.post]=$(count_requests POST)
R[s3.get]=$(count_requests GET)
R[s3.delete]=$(count_requests DELETE)
R[s3.put_per_hour]=$(awk -v n="$((R[s3.put] + R[s3.post]))" -v s="$STORE_SECONDS" 'BEGIN {printf "%.0f", n * 3600 / s}')
log "s3 requests for 'store' over $STORE_SECONDS s: PUT ${R[s3.put]} POST ${R[s3.post]} GET ${R[s3.get]} DELETE ${R[s3.delete]}"
grep -o "req: Request { method: PUT, uri: /$BUCKET/[^ ]*store/[^ ,]*" "$WORK/s3.log" | sed 's/.*uri: //' |
    sed 's/[0-9]\+/N/g' | sort | uniq -c >&2 || true

# --- report ------------------------------------------------------------
delta_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 == a && b + 0 == b) printf "%.1f", (a - b) * 1000; else print "n/a" }'; }
{
    echo "### Cluster results ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
    echo
    echo "| figure | target | relay | peer | relay / peer |"
    echo "| --- | --- | --- | --- | --- |"
    printf '| egress, MB/s, median of %s rounds (wrk, %s connections, %s files, one core each) | >= 1.5 x nginx | %s (origin pod, %s%% CPU; rounds %s) | %s (nginx, %s%% CPU; rounds %s) | %s |\n' \
        "$EGRESS_ROUNDS" "$EGRESS_CONNECTIONS" "$EGRESS_FILES" "${R[origin.mbps]}" "${R[origin.cpu]}" "${R[origin.all]}" \
        "${R[nginx.mbps]}" "${R[nginx.cpu]}" "${R[nginx.all]}" "$(ratio "${R[origin.mbps]}" "${R[nginx.mbps]}")"
    printf '| egress, requests/s (median; errors %s / %s) | - | %s | %s | %s |\n' "${R[origin.errors]}" "${R[nginx.errors]}" \
        "${R[origin.rps]}" "${R[nginx.rps]}" "$(ratio "${R[origin.rps]}" "${R[nginx.rps]}")"
    for name in origin-pod relay-all; do
        for count in "$SMALL_VIEWERS" "$VIEWERS"; do
            key=$name.$count
            printf '| %s, %s blocked viewers: server memory per viewer, bytes | <= 16384 | %s | - | - |\n' \
                "$name" "$count" "${R[$key.bytes]}"
            printf '| %s, %s blocked viewers: release after the first response p50 / p99 / max, ms | p99 <= 5 | %s / %s / %s (failures %s, early rounds %s) | - | - |\n' \
                "$name" "$count" "${R[$key.p50]}" "${R[$key.p99]}" "${R[$key.max]}" "${R[$key.failures]}" "${R[$key.early]}"
        done
    done
    for transport in http1 http1-tls h2; do
        printf '| relay all, %s blocked viewers over %s: server memory per viewer, bytes | - | %s | %s (HTTP/1.1) | %s |\n' \
            "$TRANSPORT_VIEWERS" "$transport" "${R[transport.$transport.bytes]}" "${R[transport.http1.bytes]}" \
            "$(ratio "${R[transport.$transport.bytes]}" "${R[transport.http1.bytes]}")"
        printf '| relay all, %s blocked viewers over %s: release p99, ms (failures %s) | p99 <= 5 | %s | - | - |\n' \
            "$TRANSPORT_VIEWERS" "$transport" "${R[transport.$transport.failures]}" "${R[transport.$transport.p99]}"
    done
    printf '| object storage PUTs per rendition-hour (%s PUT + %s POST in %s s) | <= 4000 | %s | - | - |\n' \
        "${R[s3.put]}" "${R[s3.post]}" "$STORE_SECONDS" "${R[s3.put_per_hour]}"
    printf '| part publish delay p50, ms | cluster - all <= 10 | %s (origin -> ingest) | %s (relay all) | +%s ms |\n' \
        "$(delta_ms "${R[cluster.part_p50]}" 0)" "$(delta_ms "${R[all.part_p50]}" 0)" \
        "$(delta_ms "${R[cluster.part_p50]}" "${R[all.part_p50]}")"
    printf '| part publish delay p99, ms | cluster - all <= 10 | %s (origin -> ingest) | %s (relay all) | +%s ms |\n' \
        "$(delta_ms "${R[cluster.part_p99]}" 0)" "$(delta_ms "${R[all.part_p99]}" 0)" \
        "$(delta_ms "${R[cluster.part_p99]}" "${R[all.part_p99]}")"
    echo
    echo "Egress origin pod threads: $EGRESS_THREADS (TOKIO_WORKER_THREADS=1; taskset -c 0 for the pod and nginx, wrk on core 1)."
    echo "Command: \`make bench-cluster\` (PROBE_SECONDS=$PROBE_SECONDS VIEWERS=$VIEWERS SMALL_VIEWERS=$SMALL_VIEWERS" \
        "VIEWER_ROUNDS=$VIEWER_ROUNDS EGRESS_SECONDS=$EGRESS_SECONDS EGRESS_ROUNDS=$EGRESS_ROUNDS" \
        "EGRESS_CONNECTIONS=$EGRESS_CONNECTIONS" \
        "STORAGE_MINUTES=$STORAGE_MINUTES)."
}
