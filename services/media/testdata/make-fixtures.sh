#!/bin/sh
# Regenerates the FLV fixtures used by the RTMP/FLV tests. Needs ffmpeg with libx264.
set -eu
cd "$(dirname "$0")"

# H.264 high profile with B-frames (non-zero composition times), AAC 48 kHz stereo.
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i testsrc2=size=320x240:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 \
  -t 3 -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -b:v 300k -bf 2 -g 30 -pix_fmt yuv420p \
  -c:a aac -b:a 64k -ar 48000 -ac 2 \
  -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  bframes.flv

# H.264 baseline (no B-frames), AAC 44.1 kHz mono.
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i testsrc2=size=320x240:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=44100 \
  -t 3 -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v baseline -b:v 300k -g 30 -pix_fmt yuv420p \
  -c:a aac -b:a 48k -ar 44100 -ac 1 \
  -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  baseline.flv
