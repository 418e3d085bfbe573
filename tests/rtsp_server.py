#!/usr/bin/python3
"""A real RTSP server for the tests: gst-rtsp-server serving H.264 on 127.0.0.1.

Run with Debian's python3 (gi imports only there):
    /usr/bin/python3 tests/rtsp_server.py --port 8554 --mount /cam=live --mount /file=clip.mp4
A mount is `live` (videotestsrc ! x264enc, zerolatency), `live:WxH@FPS/GOP`, or a path to an .mp4 or raw
.h264 file that loops. Prints `READY rtsp://127.0.0.1:PORT` once listening; exits on SIGTERM or SIGINT.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def live_launch(spec: str) -> str:
    """live[:WxH@FPS/GOP]: a moving test pattern encoded as it plays, one keyframe every GOP frames."""
    width, height, fps, gop = 320, 240, 15, 15
    if ":" in spec:
        size, _, rest = spec.split(":", 1)[1].partition("@")
        width, height = (int(v) for v in size.split("x"))
        fps_s, _, gop_s = rest.partition("/")
        fps = int(fps_s or fps)
        gop = int(gop_s or fps)
    return (f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
            f"framerate={fps}/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
            f"bitrate=800 ! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )")


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    """A file mount that never ends, like a camera: at end-of-stream the demuxer seeks back to the start and
    a pad offset shifts the new pass after the previous one, so downstream sees one continuous stream (the
    EOS, the flush and the new segment of the seek are dropped before the payloader)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.set_shared(True)

    def do_create_element(self, url):  # noqa: N802 - GObject virtual method name
        parse = "qtdemux name=demux ! h264parse name=parse" if not self.path.endswith(".h264") \
            else "h264parse name=parse"
        bin_ = Gst.parse_bin_from_description(
            f"filesrc location={self.path} ! {parse} ! rtph264pay name=pay0 pt=96 config-interval=1", False)
        seek_target = bin_.get_by_name("demux") or bin_.get_by_name("parse")
        pad = bin_.get_by_name("parse").get_static_pad("src")
        state = {"loops": 0, "end": 0, "seeking": False}

        def on_buffer(_pad, info):
            buf = info.get_buffer()
            if buf.pts != Gst.CLOCK_TIME_NONE:
                dur = buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0
                state["end"] = max(state["end"], buf.pts + dur)
            return Gst.PadProbeReturn.OK

        def on_event(_pad, info):
            kind = info.get_event().type
            if kind == Gst.EventType.EOS:
                state["seeking"] = True
                GLib.idle_add(restart)
                return Gst.PadProbeReturn.DROP
            if state["seeking"] and kind in (Gst.EventType.FLUSH_START, Gst.EventType.FLUSH_STOP,
                                             Gst.EventType.SEGMENT):
                if kind == Gst.EventType.SEGMENT:
                    state["seeking"] = False
                return Gst.PadProbeReturn.DROP
            return Gst.PadProbeReturn.OK

        def restart():
            state["loops"] += 1
            pad.set_offset(pad.get_offset() + state["end"])
            state["end"] = 0
            seek_target.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
            return False

        pad.add_probe(Gst.PadProbeType.BUFFER, on_buffer)
        pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM | Gst.PadProbeType.EVENT_FLUSH, on_event)
        return bin_


NEEDED = {"videotestsrc": "gstreamer1.0-plugins-base", "x264enc": "gstreamer1.0-plugins-ugly",
          "h264parse": "gstreamer1.0-plugins-bad", "qtdemux": "gstreamer1.0-plugins-good",
          "rtph264pay": "gstreamer1.0-plugins-good"}


def missing_elements() -> list[str]:
    return [f"{name} ({package})" for name, package in NEEDED.items() if Gst.ElementFactory.find(name) is None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", default=[], help="PATH=live[:WxH@FPS/GOP] or PATH=FILE")
    args = parser.parse_args()
    Gst.init(None)
    if missing_elements():
        print(f"ERROR missing GStreamer elements: {', '.join(missing_elements())}", flush=True)
        return 1
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.mount or ["/cam=live"]:
        path, _, what = spec.partition("=")
        if what.startswith("live"):
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(live_launch(what))
            factory.set_shared(True)
        else:
            factory = LoopingFactory(what)
        mounts.add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"ERROR cannot listen on 127.0.0.1:{args.port}", flush=True)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
