"""Decodes only the frames the clip window wants and scales them once, inside libswscale, to the model's size."""

from __future__ import annotations

import heapq
import logging
from collections import deque
from typing import Callable

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from monitor.clip import Frame

logger = logging.getLogger(__name__)

MODES = ("targeted", "keyframes", "all")
MAX_HELD_BYTES = 64 * 1024 * 1024  # compressed packets of one GOP held back at most (a very long GOP is decoded ahead)


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
    whose time is wanted (a sample lands within one GOP of where a full decode puts it); `targeted` holds
    the compressed packets of the current GOP and decodes them, from the keyframe on, only when a packet
    arrives whose frame is wanted, up to the moment that frame comes out of the decoder: samples are
    exactly where a full decode puts them whatever the GOP structure (B-frames, open GOPs, keyframes at
    scene cuts), and packets after the last wanted frame of a GOP are never decoded. With `snap_s` > 0, a
    wanted frame is decoded only once the stream is `snap_s` past it without a keyframe: a keyframe that
    comes sooner serves it instead. `wants` is probed at the frame times of the packets, so it may be any
    function of time (a spacing threshold is typical).
    """

    def __init__(self, stream: av.video.stream.VideoStream, *, camera_id: str, short_side: int, mode: str,
                 wants: Callable[[float], bool], ts_of: Callable[[float], float],
                 sink: Callable[[Frame], None], max_width: int, max_height: int, snap_s: float = 0.0,
                 interpolation: str = "AREA", detect_loss: bool = True) -> None:
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
        self._tainted = False      # lost packets seen in the stream: frames up to the next keyframe are suspect
        self._out_tainted = False  # the same, for the packet being decoded (targeted decoding runs behind)
        self._broken = False       # the decoder failed on a packet: what it gives until a keyframe is garbage
        self.detect_loss = detect_loss
        self._last_dts_s: float | None = None
        self._interval_s: float | None = None
        # targeted: packets of this GOP not fed to the decoder yet; the decoder holds all before them.
        self._unfed: deque[av.Packet] = deque()
        self._unfed_bytes = 0
        self._fed_in_gop = False   # the decoder holds state of this GOP (a flush is due before skipping ahead)
        self._due: float | None = None   # pts (s) of a wanted frame not fed yet (waiting out snap_s)
        self._owed: float | None = None  # pts (s) up to which wanted frames were fed but are not out yet
        self._before_key: int | None = None  # unfed packets before the last keyframe, until its leading frames pass
        self._key_s = 0.0
        self._skip = "DEFAULT"
        # Some files (phones, cheap muxers) stamp B-frame streams with pts = dts, i.e. in decode order: their
        # frames then come out of the decoder with pts out of order. There the n-th frame out is given the
        # n-th smallest pts fed. Decided from the packets: any pts != dts says the pts are trustworthy.
        self._decode_order_pts = bool(getattr(self.cc, "has_b_frames", 0))
        self._fed_pts: list[int] = []
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
        if self.detect_loss:
            self._check_gap(packet)
        if packet.is_keyframe:
            self._tainted = False  # a keyframe repairs whatever lost packets broke
        if self._decode_order_pts and packet.dts is not None and packet.pts != packet.dts:
            self._decode_order_pts = False
            self._fed_pts.clear()
        if self.mode == "all":
            self._decode(packet)
        elif self.mode == "keyframes":
            self._keyframes_only(packet, pts_s)
        else:
            self._targeted(packet, pts_s)

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
        if self._due is not None:
            self._catch_up()
        if self.mode == "all" or self._fed_in_gop:
            self._decode(None)
        self._drop_unfed()
        self._reset_decoder()
        self._fed_in_gop, self._owed, self._due, self._before_key = False, None, None, None

    def _keyframes_only(self, packet: av.Packet, pts_s: float) -> None:
        if not packet.is_keyframe or not self.wants(self.ts_of(pts_s)):
            self.skipped += 1
            return
        # Drain and reset at once: with B-frames the decoder would otherwise hold the keyframe back until
        # later frames arrive, and those are never sent.
        self._decode(packet)
        self._decode(None)
        self._reset_decoder()

    def _targeted(self, packet: av.Packet, pts_s: float) -> None:
        if self._before_key is not None and (packet.is_keyframe or pts_s >= self._key_s):
            self._close_previous_gop()
        if packet.is_keyframe:
            if self._due is not None and pts_s - self._due <= self.snap_s:
                self._due = None  # the keyframe serves the wanted time within snap_s
            self._before_key, self._key_s = len(self._unfed), pts_s
        self._unfed.append((packet, self._tainted))
        self._unfed_bytes += packet.size
        if self.wants(self.ts_of(pts_s)):
            if self._owed is not None or self.snap_s <= 0:
                self._owed = max(self._owed or pts_s, pts_s)
            elif self._due is None:
                self._due = pts_s
        dts_s = float(packet.dts * self.time_base) if packet.dts is not None else pts_s
        if self._due is not None and dts_s >= self._due + self.snap_s:
            self._owed, self._due = max(self._owed or self._due, self._due), None
        if self._owed is not None:
            self._catch_up()
        while self._unfed_bytes > MAX_HELD_BYTES:
            self._feed_one()  # a huge GOP: decode ahead (and convert nothing) rather than hold it all

    def _close_previous_gop(self) -> None:
        """Past a keyframe and its leading frames (an open GOP's, which need the previous GOP and may still
        be wanted): the previous GOP's packets nobody wanted are dropped and a decoder left partway through
        it is reset. A decoder that is caught up just goes on."""
        before, self._before_key = self._before_key or 0, None
        if not before or self._owed is not None:
            return
        for _ in range(before):
            self.skipped += 1
            self._unfed_bytes -= self._unfed.popleft()[0].size
        if self._fed_in_gop:
            self._decode(None)  # frames still held for reordering: drained, and wanted ones emitted
            self._reset_decoder()
            self._fed_in_gop = False

    def _catch_up(self) -> None:
        while self._unfed:
            self._feed_one()

    def _feed_one(self) -> None:
        packet, tainted = self._unfed.popleft()
        if self._before_key:
            self._before_key -= 1
        self._unfed_bytes -= packet.size
        self._fed_in_gop = True
        # A frame nobody wants that no other frame references (most B-frames) is not decoded at all.
        pts = packet.pts if packet.pts is not None else packet.dts
        skip = "DEFAULT" if self._decode_order_pts or self.wants(self.ts_of(float(pts * self.time_base))) else "NONREF"
        if skip != self._skip:
            self.cc.skip_frame = self._skip = skip
        self._decode(packet, tainted)

    def _drop_unfed(self) -> None:
        self.skipped += len(self._unfed)
        self._unfed.clear()
        self._unfed_bytes = 0

    # --- frames out --------------------------------------------------------------------------------
    def _decode(self, packet: av.Packet | None, tainted: bool | None = None) -> None:
        if packet is not None:
            self._out_tainted = self._tainted if tainted is None else tainted
            if packet.is_keyframe:
                self._broken = False
        if self._decode_order_pts and packet is not None:
            heapq.heappush(self._fed_pts, packet.pts if packet.pts is not None else packet.dts)
        try:
            frames = self.cc.decode(packet)
        except av.error.InvalidDataError as exc:
            # PyAV 812: one bad packet must not end the stream; skip it and wait for the next keyframe.
            self._mark_corrupt(f"undecodable packet: {exc}")
            self._broken = True
            return
        except av.error.EOFError:
            return
        for vf in frames:
            pts = heapq.heappop(self._fed_pts) if self._decode_order_pts and self._fed_pts else vf.pts
            self._keep(vf, pts)
            if self._owed is not None and pts is not None and float(pts * self.time_base) >= self._owed - 1e-9:
                self._owed = None  # frames come out in presentation order: every wanted one fed is out

    def _reset_decoder(self) -> None:
        self.cc.flush_buffers()
        self._fed_pts.clear()

    def _keep(self, vf: av.VideoFrame, pts: int | None) -> bool:
        """Convert and emit `vf` (presented at `pts`) if it is sound and wanted; True if it was emitted."""
        self.decoded += 1
        if self._out_tainted or self._broken or vf.is_corrupt or pts is None:
            return False  # grey/green concealment after lost packets must not reach the model
        ts = self.ts_of(float(pts * self.time_base))
        if not self.wants(ts):
            return False
        if vf.width > self.max_width or vf.height > self.max_height:
            self._mark_corrupt(f"frame size {vf.width}x{vf.height} exceeds the limit")
            return False
        self.emitted += 1
        self.sink(Frame(camera_id=self.camera_id, ts=ts, image=self._scale(vf), keyframe=bool(vf.key_frame)))
        return True

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
