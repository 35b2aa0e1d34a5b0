#!/usr/bin/env bash
# Stages the root filesystem of the container image (Containerfile COPYs it onto scratch):
# the C library, libgcc_s, CA certificates and time zones from this machine's Debian packages,
# an /etc for UID 65532, and the relay binary without its debug info.
# docs/design/container-image.md says why Debian packages and not a base image.
#
# usage: scripts/image-rootfs.sh BINARY CONTEXT_DIR DEB_CACHE_DIR
#   Writes CONTEXT_DIR/base (everything but the binary), CONTEXT_DIR/data (the empty data
#   directory) and CONTEXT_DIR/app (the binary), one image layer each, so a new binary leaves
#   the base layer's digest alone.
#   Packages are downloaded into DEB_CACHE_DIR once per version; later runs need no network.
# usage: scripts/image-rootfs.sh --packages
#   Prints the .deb file names apt would use (part of the image's cache key); no download.
set -euo pipefail

# Only what `ldd relay` lists (libc.so.6, libm.so.6, libgcc_s.so.1, the loader), plus the
# trust store rustls-native-certs reads and the zone files.
packages=(libc6 libgcc-s1 ca-certificates tzdata)

log() { printf 'image-rootfs: %s\n' "$*" >&2; }

# "URI FILE SIZE SHA256:HEX" per package, from the local package lists (no network).
package_uris() {
  (cd "${TMPDIR:-/tmp}" && apt-get download --print-uris "${packages[@]}")
}

if [ "${1:-}" = "--packages" ]; then
  package_uris | awk '{print $2}' | sort
  exit 0
fi

[ $# -eq 3 ] || { echo "usage: $0 BINARY CONTEXT_DIR DEB_CACHE_DIR | $0 --packages" >&2; exit 2; }
binary=$1 context=$2 debs=$3
[ -x "$binary" ] || { log "no executable at $binary"; exit 1; }

mkdir -p "$debs"
uris=$(package_uris)
[ -n "$uris" ] || { log "apt knows none of: ${packages[*]} (run apt-get update)"; exit 1; }
files=()
while read -r _uri file _size sum; do
  files+=("$file")
  if [ -f "$debs/$file" ] && [ "$(sha256sum "$debs/$file" | cut -d' ' -f1)" = "${sum#SHA256:}" ]; then
    continue
  fi
  log "downloading ${file}"
  # apt checks the hash from the signed lists; root needs no sandbox user to write here.
  (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${file%%_*}" >/dev/null)
done <<<"$uris"

base="$context/base"
app="$context/app"
data="$context/data"
rm -rf "$base" "$app" "$data"
mkdir -p "$base" "$app/usr/bin" "$data"

for file in "${files[@]}"; do
  dpkg-deb -x "$debs/$file" "$base"
  # What image scanners (Trivy, Grype, Syft) read to know the packages, as distroless does.
  name=${file%%_*}
  mkdir -p "$base/var/lib/dpkg/status.d"
  { dpkg-deb -f "$debs/$file"; echo "Status: install ok installed"; } >"$base/var/lib/dpkg/status.d/$name"
done

# Nothing in the image reads these: iconv modules, manuals, translations, update tools. The
# copyright files stay (licences of what is shipped).
rm -rf "$base/usr/lib/x86_64-linux-gnu/gconv" "$base/usr/share/man" "$base/usr/share/lintian" \
  "$base/usr/share/locale" "$base/usr/sbin" "$base/usr/share/zoneinfo/right" "$base/usr/share/zoneinfo/posix"
find "$base/usr/share/doc" -type f ! -name copyright -delete
find "$base/usr/share/doc" -type d -empty -delete

# ca-certificates builds the bundle in its postinst, which never runs here: the same
# concatenation update-ca-certificates makes, at the path rustls-native-certs looks first.
mkdir -p "$base/etc/ssl/certs"
find "$base/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat >"$base/etc/ssl/certs/ca-certificates.crt"
[ -s "$base/etc/ssl/certs/ca-certificates.crt" ] || { log "empty CA bundle"; exit 1; }

# tzdata's postinst would write these.
ln -sf /usr/share/zoneinfo/Etc/UTC "$base/etc/localtime"
echo "Etc/UTC" >"$base/etc/timezone"

# The user the chart runs as (podSecurityContext.runAsUser), so logs and `id` show a name.
cat >"$base/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
relay:x:65532:65532:relay:/var/lib/relay:/sbin/nologin
EOF
cat >"$base/etc/group" <<'EOF'
root:x:0:
relay:x:65532:
EOF
# Host names from /etc/hosts first, then DNS (glibc's default without this file is the reverse).
echo "hosts: files dns" >"$base/etc/nsswitch.conf"
mkdir -p "$base/tmp"
chmod 1777 "$base/tmp"

# Debug info is most of the release binary (debug = 1); backtraces keep their symbol names.
objcopy --strip-debug "$binary" "$app/usr/bin/relay"
chmod 0755 "$app/usr/bin/relay"

# Every file dated to a fixed time, so an unchanged input gives an unchanged layer digest.
find "$base" "$app" "$data" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
