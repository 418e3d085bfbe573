"""Decodes only the frames the clip window wants and scales them once, inside libswscale, to the model's size."""

from __future__ import annotations

import logging
from typing import Callable

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from monitor.clip import Frame

logger = logging.getLogger(__name__)

MODES = ("targeted", "keyframes", "all")
_MAX_PROBES = 600  # wants() calls per GOP decision; bounds the cost of a long GOP at a high frame rate


class RefusedError(Exception):
    """The stream declares something we will not decode (absurd size, no video); retrying will not help."""


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the short side `short_side`, the aspect kept, both even (what yuv/rgb scalers like)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad frame size {width}x{height}")
    if width <= height:
        w, h = short_side, height * short_side / width
    else:
        w, h = width * short_side / height, short_side
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def check_size(width: int, height: int, max_width: int, max_height: int) -> None:
    if width > max_width or height > max_height:
        raise RefusedError(f"declared size {width}x{height} exceeds the limit {max_width}x{max_height}")


class FrameDecoder:
    """Feeds a video stream's packets to its decoder and returns the wanted frames as `Frame`s.

    Modes: `all` decodes every frame (then converts only wanted ones); `keyframes` decodes only keyframes
    whose time is wanted (a sample lands within one GOP of where a full decode puts it); `targeted`
    decodes a GOP only when some frame time inside it is wanted, and stops decoding the GOP as soon as
    nothing later in it is wanted, so a sample lands within one frame interval of a full decode's; with
    `snap_s` > 0, a wanted time at most `snap_s` before the next keyframe is left to that keyframe instead
    of decoding the GOP up to it (samples then land within max(snap_s, one frame) of a full decode's).
    `wants` is probed at frame times, so it may be any function of time (a spacing threshold is typical).
    """

    def __init__(self, stream: av.video.stream.VideoStream, *, camera_id: str, short_side: int, mode: str,
                 wants: Callable[[float], bool], ts_of: Callable[[float], float],
                 sink: Callable[[Frame], None], max_width: int, max_height: int, snap_s: float = 0.0,
                 interpolation: str = "AREA") -> None:
        if mode not in MODES:
            raise ValueError(f"decode mode must be one of {MODES}, got {mode!r}")
        self.camera_id, self.short_side, self.mode = camera_id, short_side, mode
        self.wants, self.ts_of, self.sink = wants, ts_of, sink
        self.max_width, self.max_height = max_width, max_height
        self.interpolation = interpolation
        self.snap_s = snap_s
        self.time_base = stream.time_base
        rate = stream.average_rate or stream.guessed_rate
        self.frame_s = float(1 / rate) if rate else 1 / 30
        self.cc = stream.codec_context
        # One thread per camera: frame threading would hold back N frames (keyframe-only decoding would then
        # see nothing for N GOPs), and dozens of cameras share a few cores anyway.
        self.cc.thread_count = 1
        # A stream that lies about its size in the headers is stopped inside the decoder, before allocation.
        self.cc.options = {"max_pixels": str(max_width * max_height)}
        self._reformatter = VideoReformatter()
        self._last_key_s: float | None = None
        self.gop_s: float | None = None
        self._active = mode == "all"
        self._tainted = False
        self._last_dts_s: float | None = None
        self._interval_s: float | None = None
        self.decoded = self.emitted = self.corrupt = self.skipped = 0

    # --- packets in --------------------------------------------------------------------------------
    def feed(self, packet: av.Packet) -> None:
        """Decode what this packet needs; wanted frames go to `sink` at once (so `wants` sees them kept)."""
        pts = packet.pts if packet.pts is not None else packet.dts
        if packet.size == 0 or pts is None:
            return
        pts_s = float(pts * self.time_base)
        if packet.is_corrupt:
            self._mark_corrupt("packet flagged corrupt by the demuxer")
        self._check_gap(packet)
        if packet.is_keyframe:
            return self._on_keyframe(packet, pts_s)
        if not self._active:
            self.skipped += 1
            return
        self._decode(packet)

    def _check_gap(self, packet: av.Packet) -> None:
        """A jump in dts far beyond the recent frame interval means lost packets: the frames that follow
        reference what is missing, and FFmpeg conceals that without flagging them (grey or smeared frames)."""
        if packet.dts is None:
            return
        dts_s = float(packet.dts * self.time_base)
        last, self._last_dts_s = self._last_dts_s, dts_s
        if last is None or dts_s <= last:
            return
        delta = dts_s - last
        if self._interval_s is None:
            self._interval_s = delta  # learnt from the stream: declared rates lie (raw H.264 says 25)
            return
        if delta > 1.5 * self._interval_s and not packet.is_keyframe:
            self._mark_corrupt(f"{delta:.3f} s gap in the stream: packets lost")
        if delta < 10 * self._interval_s:
            # Follows a frame rate that changes (cameras slow down at night) without crying wolf for long.
            self._interval_s = 0.9 * self._interval_s + 0.1 * delta

    def flush(self) -> None:
        """Emit the frames still held by the decoder (reordering delay) at the end of a stream."""
        if self._active:
            self._decode(None)
        self.cc.flush_buffers()

    def _on_keyframe(self, packet: av.Packet, pts_s: float) -> None:
        if self._last_key_s is not None and pts_s > self._last_key_s:
            self.gop_s = pts_s - self._last_key_s
        self._last_key_s = pts_s
        self._tainted = False  # a keyframe repairs whatever lost packets broke
        if self.mode == "all":
            self._decode(packet)
            return
        if self.mode == "keyframes":
            if not self.wants(self.ts_of(pts_s)):
                self.skipped += 1
                return
            # Drain and reset at once: with B-frames the decoder would otherwise hold the keyframe back
            # until later frames arrive, and those are never sent.
            self._decode(packet)
            self._decode(None)
            self.cc.flush_buffers()
            return
        was_active, self._active = self._active, self._gop_wanted(self.ts_of(pts_s))
        if was_active and not self._active:
            self._decode(None)  # frames of the previous GOP still held for reordering
            self.cc.flush_buffers()
        if not self._active:
            self.skipped += 1
            return
        self._decode(packet)

    def _gop_wanted(self, key_ts: float) -> bool:
        if self.gop_s is None:
            return True  # GOP length unknown yet: decode this one fully and learn it
        return self._worth_decoding(key_ts, key_ts + self.gop_s)

    def _worth_decoding(self, start: float, gop_end: float) -> bool:
        """Is a frame time in [start, gop_end) wanted that the next keyframe (at gop_end) would not serve
        within `snap_s`? Probed at frame times, so `wants` may be any function of time."""
        step = max(self.frame_s, (gop_end - start) / _MAX_PROBES)
        t = start
        while t < gop_end - step / 2:
            if self.wants(t):
                # A wanted time at the keyframe itself is served by decoding just the keyframe.
                return t <= start + step / 2 or gop_end - t > self.snap_s
            t += step
        return False

    # --- frames out --------------------------------------------------------------------------------
    def _decode(self, packet: av.Packet | None) -> None:
        try:
            frames = self.cc.decode(packet)
        except av.error.InvalidDataError as exc:
            # PyAV 812: one bad packet must not end the stream; skip it and wait for the next keyframe.
            self._mark_corrupt(f"undecodable packet: {exc}")
            return
        except av.error.EOFError:
            return
        for vf in frames:
            if self._keep(vf) and self.mode == "targeted" and not self._rest_of_gop_wanted(vf):
                self._active = False
                self.cc.flush_buffers()  # the frames it still holds come later in this GOP: not wanted
                return

    def _keep(self, vf: av.VideoFrame) -> bool:
        """Convert and emit `vf` if it is sound and wanted; True if it was emitted."""
        self.decoded += 1
        if self._tainted or vf.is_corrupt or vf.pts is None:
            return False  # grey/green concealment after lost packets must not reach the model
        ts = self.ts_of(float(vf.pts * self.time_base))
        if not self.wants(ts):
            return False
        if vf.width > self.max_width or vf.height > self.max_height:
            self._mark_corrupt(f"frame size {vf.width}x{vf.height} exceeds the limit")
            return False
        self.emitted += 1
        self.sink(Frame(camera_id=self.camera_id, ts=ts, image=self._scale(vf), keyframe=bool(vf.key_frame)))
        return True

    def _rest_of_gop_wanted(self, vf: av.VideoFrame) -> bool:
        """After an emit: is a later frame of this GOP still worth decoding? Asked after the sink took the
        frame, so a window that keeps frames at a spacing has already moved its threshold."""
        if self.gop_s is None or self._last_key_s is None:
            return True
        ts = self.ts_of(float(vf.pts * self.time_base))
        return self._worth_decoding(ts + self.frame_s, self.ts_of(self._last_key_s) + self.gop_s)

    def _scale(self, vf: av.VideoFrame) -> np.ndarray:
        width, height = scaled_size(vf.width, vf.height, self.short_side)
        # Scaling and colour conversion in one libswscale pass: no full-size RGB copy is ever made.
        small = self._reformatter.reformat(vf, width=width, height=height, format="rgb24",
                                           interpolation=self.interpolation)
        return small.to_ndarray()

    def _mark_corrupt(self, why: str) -> None:
        self.corrupt += 1
        self._tainted = True
        logger.debug("camera %s: %s", self.camera_id, why)
