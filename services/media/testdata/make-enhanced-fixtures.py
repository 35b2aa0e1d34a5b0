#!/usr/bin/env python3
"""Regenerates the Enhanced RTMP fixtures hevc_aac.flv and av1_aac.flv.

Debian's ffmpeg cannot write Enhanced RTMP FLV, so this script encodes
elementary streams with ffmpeg (libx265, libaom-av1, aac), reads their
packets back through ffprobe, builds the HEVCDecoderConfigurationRecord and
AV1CodecConfigurationRecord from the parameter sets / sequence header, and
writes the FLV tags the way OBS 30+ sends them:

- video: Enhanced RTMP v1 (IsExHeader, FourCC hvc1/av01), SequenceStart with
  the record, CodedFrames (HEVC with a composition time, AV1 without) or
  CodedFramesX when the HEVC composition time is zero, SequenceEnd last;
- audio: legacy AAC tags (sequence header with the AudioSpecificConfig, then
  raw frames).

HEVC samples are length-prefixed NAL units without AUD/VPS/SPS/PPS (those live
in the record). AV1 samples are temporal units exactly as the encoder wrote
them, temporal delimiter included, as OBS forwards them.

Usage: python3 make-enhanced-fixtures.py  (needs ffmpeg/ffprobe with libx265
and libaom-av1). The committed fixtures are what the tests use; rerunning this
changes their bytes, so refresh the golden digests afterwards with
UPDATE_GOLDEN=1.
"""

import os
import struct
import subprocess
import sys
import tempfile

WIDTH, HEIGHT, RATE, SECONDS = 320, 240, 30, 3
AUDIO_RATE = 48000
MAX_FIXTURE_BYTES = 300 * 1024


def run(args):
    subprocess.run(args, check=True)


def probe_packets(path):
    """(pts_ms, dts_ms, keyframe, data) of every packet, in file order."""
    text = subprocess.run(
        ["ffprobe", "-v", "error", "-show_packets", "-show_data", path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    packets, fields, data, in_data = [], {}, bytearray(), False
    for line in text.splitlines():
        if line == "[PACKET]":
            fields, data, in_data = {}, bytearray(), False
        elif line == "[/PACKET]":
            keyframe = fields["flags"].startswith("K")
            pts, dts = (round(float(fields[key]) * 1000) for key in ("pts_time", "dts_time"))
            packets.append((pts, dts, keyframe, bytes(data)))
        elif line == "data=":
            in_data = True
        elif in_data and len(line) > 10 and line[8:10] == ": ":
            # "00000010: 0000 0001 ...  ascii": 8 groups of 4 hex digits.
            data += bytes.fromhex(line[10:49].replace(" ", ""))
        elif "=" in line:
            in_data = False
            key, value = line.split("=", 1)
            fields[key] = value
    return packets


# ------------------------------------------------------------ bit reading


class Bits:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def bit(self):
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, count):
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self):
        zeros = 0
        while self.bit() == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def uvlc(self):
        zeros = 0
        while self.bit() == 0:
            zeros += 1
        if zeros >= 32:
            return (1 << 32) - 1
        return self.bits(zeros) + (1 << zeros) - 1


# ------------------------------------------------------------------ HEVC


def split_annex_b(data):
    """NAL units of an Annex B byte stream, start codes removed."""
    units, start, at = [], None, 0
    while at + 3 <= len(data):
        if data[at] == 0 and data[at + 1] == 0 and data[at + 2] == 1:
            if start is not None:
                units.append(data[start:at].rstrip(b"\x00"))
            at += 3
            start = at
        else:
            at += 1
    if start is not None:
        units.append(data[start:])
    return [unit for unit in units if unit]


def nal_type(unit):
    return (unit[0] >> 1) & 0x3F


def unescape(unit):
    out, zeros = bytearray(), 0
    for byte in unit:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        zeros = zeros + 1 if byte == 0 else 0
        out.append(byte)
    return bytes(out)


def hvcc_record(vps, sps, pps):
    rbsp = unescape(sps)
    bits = Bits(rbsp[2:])
    bits.bits(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = bits.bits(3)
    temporal_id_nested = bits.bit()
    general = rbsp[3:15]  # profile_space .. general_level_idc, 12 bytes
    bits.pos += 96
    present = [(bits.bit(), bits.bit()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        bits.pos += 2 * (8 - max_sub_layers_minus1)
    for profile_present, level_present in present:
        bits.pos += 88 * profile_present + 8 * level_present
    bits.ue()  # sps_seq_parameter_set_id
    chroma_format_idc = bits.ue()
    if chroma_format_idc == 3:
        bits.bit()
    bits.ue(), bits.ue()  # pic width/height
    if bits.bit():
        for _ in range(4):
            bits.ue()
    bit_depth_luma_minus8 = bits.ue()
    bit_depth_chroma_minus8 = bits.ue()

    record = bytearray([1]) + general
    record += bytes([0xF0, 0x00])  # min_spatial_segmentation_idc 0: no claim
    record += bytes([0xFC])  # parallelismType 0: unknown
    record += bytes([0xFC | chroma_format_idc, 0xF8 | bit_depth_luma_minus8, 0xF8 | bit_depth_chroma_minus8])
    record += bytes([0, 0])  # avgFrameRate unspecified
    record += bytes([((max_sub_layers_minus1 + 1) << 3) | (temporal_id_nested << 2) | 3])
    arrays = [(32, vps), (33, sps), (34, pps)]
    record.append(len(arrays))
    for kind, unit in arrays:
        record.append(0x80 | kind)  # array_completeness = 1, as hvc1 requires
        record += struct.pack(">HH", 1, len(unit)) + unit
    return bytes(record)


def hevc_frames(packets):
    """(record, frames) where frames are (dts_ms, cts_ms, keyframe, sample)."""
    params, frames = {}, []
    first_dts = packets[0][1]
    for pts, dts, keyframe, data in packets:
        units = split_annex_b(data)
        kinds = [nal_type(unit) for unit in units]
        assert keyframe == any(kind in (19, 20) for kind in kinds), "keyframes must be IDR pictures"
        for unit in units:
            if nal_type(unit) in (32, 33, 34):
                params.setdefault(nal_type(unit), unit)
        # Parameter sets travel in the record; AUDs carry nothing for MP4.
        sample = b"".join(struct.pack(">I", len(unit)) + unit for unit in units if nal_type(unit) not in (32, 33, 34, 35))
        frames.append((dts - first_dts, pts - dts, keyframe, sample))
    return hvcc_record(params[32], params[33], params[34]), frames


# ------------------------------------------------------------------- AV1


def leb128(data, at):
    value = 0
    for index in range(8):
        byte = data[at + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, at + index + 1
    raise ValueError("leb128 too long")


def obus(data):
    """(type, whole OBU bytes, payload bytes) of a low-overhead sequence."""
    at, out = 0, []
    while at < len(data):
        header = data[at]
        kind, extension, has_size = (header >> 3) & 0xF, (header >> 2) & 1, (header >> 1) & 1
        payload_at = at + 1 + extension
        assert has_size, "low-overhead format carries OBU sizes"
        size, payload_at = leb128(data, payload_at)
        out.append((kind, data[at : payload_at + size], data[payload_at : payload_at + size]))
        at = payload_at + size
    return out


def av1c_record(sequence_header_obu, payload):
    bits = Bits(payload)
    profile = bits.bits(3)
    bits.bit()  # still_picture
    reduced = bits.bit()
    level0, tier0 = 0, 0
    if reduced:
        level0 = bits.bits(5)
    else:
        decoder_model = False
        buffer_delay_length = 0
        if bits.bit():  # timing_info_present_flag
            bits.bits(64)
            if bits.bit():  # equal_picture_interval
                bits.uvlc()
            decoder_model = bits.bit() == 1
            if decoder_model:
                buffer_delay_length = bits.bits(5) + 1
                bits.bits(32 + 5 + 5)
        display_delay = bits.bit() == 1
        for index in range(bits.bits(5) + 1):
            bits.bits(12)  # operating_point_idc
            level = bits.bits(5)
            tier = bits.bit() if level > 7 else 0
            if index == 0:
                level0, tier0 = level, tier
            if decoder_model and bits.bit():
                bits.bits(2 * buffer_delay_length + 1)
            if display_delay and bits.bit():
                bits.bits(4)
    width_bits, height_bits = bits.bits(4) + 1, bits.bits(4) + 1
    bits.bits(width_bits + height_bits)
    if not reduced and bits.bit():  # frame_id_numbers_present_flag
        bits.bits(7)
    bits.bits(3)  # 128x128 superblocks, filter intra, intra edge filter
    if not reduced:
        bits.bits(4)  # interintra, masked compound, warped motion, dual filter
        order_hint = bits.bit()
        if order_hint:
            bits.bits(2)  # jnt_comp, ref_frame_mvs
        force_screen_content = 2 if bits.bit() else bits.bit()
        if force_screen_content > 0 and not bits.bit():
            bits.bit()  # seq_force_integer_mv
        if order_hint:
            bits.bits(3)
    bits.bits(3)  # superres, cdef, restoration
    high_bitdepth = bits.bit()
    twelve_bit = bits.bit() if profile == 2 and high_bitdepth else 0
    mono = 0 if profile == 1 else bits.bit()
    primaries, transfer, matrix = 2, 2, 2
    if bits.bit():
        primaries, transfer, matrix = bits.bits(8), bits.bits(8), bits.bits(8)
    sub_x, sub_y, position = 1, 1, 0
    if mono:
        bits.bit()
    elif (primaries, transfer, matrix) == (1, 13, 0):
        sub_x, sub_y = 0, 0
    else:
        bits.bit()  # color_range
        if profile == 0:
            sub_x, sub_y = 1, 1
        elif profile == 1:
            sub_x, sub_y = 0, 0
        elif twelve_bit:
            sub_x = bits.bit()
            sub_y = bits.bit() if sub_x else 0
        else:
            sub_x, sub_y = 1, 0
        if sub_x and sub_y:
            position = bits.bits(2)
    first = 0x80 | 1
    second = (profile << 5) | level0
    third = (tier0 << 7) | (high_bitdepth << 6) | (twelve_bit << 5) | (mono << 4)
    third |= (sub_x << 3) | (sub_y << 2) | position
    return bytes([first, second, third, 0]) + sequence_header_obu


def av1_frames(packets):
    record, frames = None, []
    for pts, dts, keyframe, data in packets:
        assert pts == dts, "AV1 temporal units are not reordered"
        units = obus(data)
        if record is None:
            header = next(unit for unit in units if unit[0] == 1)
            record = av1c_record(header[1], header[2])
        frame = next(unit for unit in units if unit[0] in (3, 6))
        # show_existing_frame = 0 and frame_type = KEY_FRAME.
        assert keyframe == (frame[2][0] >> 5 == 0), "keyframe flag must match the frame header"
        frames.append((dts, 0, keyframe, data))
    return record, frames


# ------------------------------------------------------------------- AAC


def aac_frames(path):
    data = open(path, "rb").read()
    at, asc, frames = 0, None, []
    while at + 7 <= len(data):
        assert data[at] == 0xFF and data[at + 1] & 0xF0 == 0xF0, "ADTS sync"
        protection_absent = data[at + 1] & 1
        profile = data[at + 2] >> 6
        rate_index = (data[at + 2] >> 2) & 0xF
        channels = ((data[at + 2] & 1) << 2) | (data[at + 3] >> 6)
        length = ((data[at + 3] & 3) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        header = 7 if protection_absent else 9
        asc = struct.pack(">H", ((profile + 1) << 11) | (rate_index << 7) | (channels << 3))
        frames.append(data[at + header : at + length])
        at += length
    timed = [(round(index * 1024 * 1000 / AUDIO_RATE), frame) for index, frame in enumerate(frames)]
    return asc, timed


# ------------------------------------------------------------------- FLV


def flv_tag(kind, timestamp, body):
    header = bytes([kind]) + len(body).to_bytes(3, "big")
    header += (timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes([timestamp >> 24 & 0xFF]) + b"\0\0\0"
    return header + body + struct.pack(">I", 11 + len(body))


def video_body(fourcc, keyframe, packet_type, payload):
    frame_type = 1 if keyframe else 2
    return bytes([0x80 | (frame_type << 4) | packet_type]) + fourcc + payload


def write_flv(path, fourcc, record, frames, asc, audio):
    tags = [(0, 0, 9, video_body(fourcc, True, 0, record)), (0, 1, 8, b"\xaf\x00" + asc)]
    for dts, cts, keyframe, sample in frames:
        if fourcc == b"av01":
            body = video_body(fourcc, keyframe, 1, sample)
        elif cts == 0:
            body = video_body(fourcc, keyframe, 3, sample)
        else:
            body = video_body(fourcc, keyframe, 1, (cts & 0xFFFFFF).to_bytes(3, "big") + sample)
        tags.append((dts, 2, 9, body))
    tags += [(timestamp, 3, 8, b"\xaf\x01" + frame) for timestamp, frame in audio]
    last = max(tag[0] for tag in tags)
    tags.append((last, 4, 9, video_body(fourcc, True, 2, b"")))
    tags.sort(key=lambda tag: (tag[0], tag[1]))
    out = bytearray(b"FLV\x01\x05" + struct.pack(">I", 9) + b"\0\0\0\0")
    for timestamp, _, kind, body in tags:
        out += flv_tag(kind, timestamp, body)
    assert len(out) < MAX_FIXTURE_BYTES, f"{path} is {len(out)} bytes"
    with open(path, "wb") as file:
        file.write(out)
    print(f"{path}: {len(out)} bytes, {len(frames)} video frames, {len(audio)} audio frames")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as scratch:
        hevc, av1, aac = (os.path.join(scratch, name) for name in ("hevc.ts", "av1.ivf", "audio.aac"))
        # -t before each -i bounds the input, so every output stops in time.
        limit = ["-t", str(SECONDS)]
        run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"] +
            limit + ["-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={RATE}"] +
            limit + ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={AUDIO_RATE}"] +
            [
             "-map", "0:v", "-c:v", "libx265", "-preset", "veryfast", "-b:v", "250k", "-pix_fmt", "yuv420p",
             "-x265-params", f"keyint={RATE}:min-keyint={RATE}:bframes=2:open-gop=0:scenecut=0:info=0:log-level=error",
             "-f", "mpegts", hevc,
             "-map", "0:v", "-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-b:v", "250k",
             "-g", str(RATE), "-pix_fmt", "yuv420p", "-f", "ivf", av1,
             "-map", "1:a", "-c:a", "aac", "-b:a", "64k", "-ac", "2", "-fflags", "+bitexact", "-f", "adts", aac])
        asc, audio = aac_frames(aac)
        record, frames = hevc_frames(probe_packets(hevc))
        write_flv(os.path.join(here, "hevc_aac.flv"), b"hvc1", record, frames, asc, audio)
        record, frames = av1_frames(probe_packets(av1))
        write_flv(os.path.join(here, "av1_aac.flv"), b"av01", record, frames, asc, audio)


if __name__ == "__main__":
    sys.exit(main())
