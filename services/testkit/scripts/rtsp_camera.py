#!/usr/bin/python3
"""A stand-in IP camera for the RTSP pull tests: GStreamer's RTSP server
serving a live test pattern and tone at rtsp://127.0.0.1:PORT/cam.

Prints "ready" on stdout once it listens; runs until killed.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

VIDEO = {
    "h264": "x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast bitrate=500"
    " ! rtph264pay name=pay0 pt=96 config-interval=-1",
    "h265": "x265enc tune=zerolatency key-int-max=30 speed-preset=ultrafast bitrate=500 option-string=open-gop=0 ! rtph265pay name=pay0 pt=96",
    "jpeg": "video/x-raw,format=I420 ! jpegenc ! rtpjpegpay name=pay0 pt=26",
}

AUDIO = {
    "aac": "audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! rtpmp4gpay name=pay1 pt=97",
    "pcmu": "audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0",
    "opus": "audioconvert ! audioresample ! opusenc ! rtpopuspay name=pay1 pt=98",
    "none": None,
}


def launch_line(video, audio, width, height):
    parts = [
        f"videotestsrc is-live=true pattern=ball ! capsfilter name=size"
        f' caps="video/x-raw,width={width},height={height},framerate=30/1" ! videoconvert ! {VIDEO[video]}'

    ]
    if AUDIO[audio]:
        parts.append(f"audiotestsrc is-live=true wave=sine freq=440 ! {AUDIO[audio]}")
    return "( " + " ".join(parts) + " )"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--video", choices=sorted(VIDEO), default="h264")
    parser.add_argument("--audio", choices=sorted(AUDIO), default="aac")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--user", help="require Basic authentication with this user")
    parser.add_argument("--password", default="")
    parser.add_argument("--resize-after", type=float, help="seconds until the picture size changes mid-stream")
    parser.add_argument("--resize-to", default="640x360", help="the new WIDTHxHEIGHT")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.video, args.audio, args.width, args.height))
    factory.set_shared(True)

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.new_from_string("viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
        )
        factory.set_permissions(permissions)

    if args.resize_after:
        width, height = args.resize_to.split("x")

        def resize_later(_factory, media):
            size = media.get_element().get_by_name("size")

            def resize():
                caps = f"video/x-raw,width={width},height={height},framerate=30/1"
                size.set_property("caps", Gst.Caps.from_string(caps))
                return False

            GLib.timeout_add(int(args.resize_after * 1000), resize)

        factory.connect("media-configure", resize_later)

    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print("could not listen", file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
