#!/usr/bin/env bash
# Builds the container image with buildah, without a daemon and without a registry, and writes
# it as an OCI archive. `make image` runs it on the release binary; the e2e_image test on the
# debug one. Reuses the archive when nothing that goes into it changed.
#
# usage: scripts/image.sh [--binary PATH] [--out DIR] [--print-reference]
#   --binary           the relay executable (default: target/release/relay)
#   --out              where the archive goes (default: target/image)
#   --print-reference  print NAME:TAG and build nothing (the chart tests compare it)
# Environment: IMAGE_NAME and IMAGE_TAG (default: the chart's image.repository and appVersion),
# IMAGE_SOURCE (repository URL label), IMAGE_REVISION (revision label; default: the commit),
# SOURCE_DATE_EPOCH (file and creation times; default: the last commit's time).
# Prints `archive=PATH`, `reference=NAME:TAG` and sizes on stdout; progress goes to stderr.
# Needs root (buildah writes layers owned by 65532); buildah and umoci come from scripts/ensure-deps.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${CARGO_TARGET_DIR:-$repo/target}/release/relay
out=${CARGO_TARGET_DIR:-$repo/target}/image
print_reference=0
while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --print-reference) print_reference=1; shift ;;
    *) echo "usage: $0 [--binary PATH] [--out DIR] [--print-reference]" >&2; exit 2 ;;
  esac
done

log() { printf 'image: %s\n' "$*" >&2; }

# The first `key: value` under a top-level `section:` of a YAML file (enough for values.yaml).
yaml_value() {
  awk -v section="$2:" -v key="$3:" '
    $0 == section { inside = 1; next }
    inside && /^[^ #]/ { inside = 0 }
    inside && $1 == key { $1 = ""; sub(/^ +/, ""); gsub(/"/, ""); print; exit }
  ' "$1"
}
chart=$repo/charts/relay
name=${IMAGE_NAME:-$(yaml_value "$chart/values.yaml" image repository)}
tag=${IMAGE_TAG:-$(awk '$1 == "appVersion:" { gsub(/"/, "", $2); print $2 }' "$chart/Chart.yaml")}
[ -n "$name" ] && [ -n "$tag" ] || { log "cannot read image.repository / appVersion from $chart"; exit 1; }
if [ "$print_reference" -eq 1 ]; then
  echo "$name:$tag"
  exit 0
fi
revision=${IMAGE_REVISION:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)}
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}
source_url=${IMAGE_SOURCE:-}

[ -x "$binary" ] || { log "no relay binary at $binary (make build, or --binary)"; exit 1; }
# services/origin/build.rs puts this text in place of hls.js when web/node_modules was missing.
if grep -q "This build has no hls.js" "$binary"; then
  log "$binary was built without hls.js: run scripts/ensure-deps.sh --runtime, then rebuild"
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  log "needs root: the layers hold files owned by UID 65532 and buildah runs without a daemon"
  exit 1
fi
for tool in buildah objcopy dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || { log "$tool not found (scripts/ensure-deps.sh installs it)"; exit 1; }
done

mkdir -p "$out"
archive=$out/relay-image.oci.tar
key=$( {
  sha256sum "$binary" "$repo/Containerfile" "$repo/scripts/image-rootfs.sh" "$repo/scripts/image.sh" | cut -d' ' -f1
  bash "$repo/scripts/image-rootfs.sh" --packages
  echo "$name:$tag $revision $epoch $source_url"
} | sha256sum | cut -d' ' -f1)

if [ -f "$archive" ] && [ "$(cat "$out/relay-image.key" 2>/dev/null)" = "$key" ]; then
  log "unchanged, reusing $archive"
else
  rm -f "$archive" "$out/relay-image.key"
  work=$out/work
  rm -rf "$work"
  mkdir -p "$work/context"
  log "staging the root filesystem"
  SOURCE_DATE_EPOCH=$epoch bash "$repo/scripts/image-rootfs.sh" "$binary" "$work/context" "$out/debs"
  # A private vfs store, deleted afterwards: vfs needs no kernel overlay support, and nothing
  # accumulates in the machine's container storage.
  store=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
  log "building $name:$tag"
  buildah "${store[@]}" bud --quiet --isolation chroot --layers --timestamp "$epoch" \
    --build-arg "VERSION=$tag" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url" \
    -f "$repo/Containerfile" -t "$name:$tag" "$work/context" >&2
  buildah "${store[@]}" push --quiet "$name:$tag" "oci-archive:$archive.partial:$tag" >&2
  mv "$archive.partial" "$archive"
  echo "$key" >"$out/relay-image.key"
  du -sb "$work/context" | cut -f1 >"$out/relay-image.unpacked-bytes"
  rm -rf "$work"
fi

# Compressed: the archive is the gzip'd layers plus a few small JSON blobs.
echo "archive=$archive"
echo "reference=$name:$tag"
echo "compressed_bytes=$(stat -c %s "$archive")"
echo "unpacked_bytes=$(cat "$out/relay-image.unpacked-bytes")"
