#!/usr/bin/env bash
# Installs what building, running and testing the project needs on Debian 12:
# the programs the end-to-end tests drive (ffmpeg, GStreamer, Chromium, nginx
# with RTMP, wrk, PostgreSQL, jq) and the npm packages of web/ and tests/browser/.
#
# Idempotent and quick when everything is present: apt is consulted only when
# a package is missing, npm only when a lockfile changed or node_modules is gone.
#
# usage: scripts/ensure-deps.sh [--runtime]
#   --runtime  only what `make run` needs (npm packages of web/)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runtime_only=0
[ "${1:-}" = "--runtime" ] && runtime_only=1

apt_packages=(
  ffmpeg
  gstreamer1.0-tools
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-libav
  gstreamer1.0-plugins-ugly
  gstreamer1.0-rtsp
  gir1.2-gst-rtsp-server-1.0
  python3-gi
  chromium
  nginx
  libnginx-mod-rtmp
  wrk
  postgresql
  python3
  # Virtual environments for the pinned Python test tools (tests/deploy, tests/api-fuzz)
  python3-venv
  jq
  # TLS tests: HTTP/2 and HTTP/1.1 over TLS, certificate inspection
  curl
  openssl
  # certutil: a test CA in the browser profile's certificate store
  libnss3-tools
  # TLS: Let's Encrypt's test ACME server and its DNS/challenge helper
  pebble
  # The container image: built without a daemon, exported and unpacked
  buildah
  skopeo
  umoci
  # promtool checks the alert rules shipped with the chart
  prometheus
)

log() { printf 'ensure-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root to run: $* (and sudo is not installed)"
    return 1
  fi
}

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

apt_updated=0
apt_install() {
  [ $# -gt 0 ] || return 0
  log "installing with apt: $*"
  if [ "$apt_updated" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends -o Dpkg::Use-Pty=0 "$@" >/dev/null
}

ensure_apt_packages() {
  local missing=()
  for package in "$@"; do
    installed "$package" || missing+=("$package")
  done
  apt_install "${missing[@]}"
}

ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    return 0
  fi
  ensure_apt_packages nodejs npm
}

# npm ci in DIR unless node_modules already matches the lockfile (npm records
# the installed tree in node_modules/.package-lock.json).
ensure_npm_dir() {
  local dir=$1
  local stamp="$dir/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
    return 0
  fi
  log "installing npm packages in ${dir#"$repo_root"/}"
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
}

# Never let an npm package fetch a browser: the tests use Debian's chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_update_notifier=false

if [ "$runtime_only" -eq 0 ]; then
  ensure_apt_packages "${apt_packages[@]}"
fi
ensure_node
ensure_npm_dir "$repo_root/web"
if [ "$runtime_only" -eq 0 ]; then
  ensure_npm_dir "$repo_root/tests/browser"
fi

# --- s3s-fs: the S3-protocol server the storage tests run (checks request signatures) ---
# Installed with cargo into cargo's bin directory, outside the repository; only when missing or
# another version. The tests look for it on PATH, in $CARGO_HOME/bin and in $S3S_FS_BIN.
s3s_fs_version=0.14.1

ensure_s3s_fs() {
  local bin_dir="${CARGO_HOME:-$HOME/.cargo}/bin"
  if [ -x "$bin_dir/s3s-fs" ] && "$bin_dir/s3s-fs" --version 2>/dev/null | grep -qF "$s3s_fs_version"; then
    return 0
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found: cannot install s3s-fs (needed by the storage tests)"
    return 1
  fi
  log "installing s3s-fs $s3s_fs_version with cargo (a few minutes, once)"
  # Its own temporary target dir, so a CARGO_TARGET_DIR of the caller is not filled.
  env -u CARGO_TARGET_DIR cargo install s3s-fs --version "$s3s_fs_version" --features binary --locked --quiet
}

if [ "$runtime_only" -eq 0 ]; then
  ensure_s3s_fs
fi
