"""The compressed packets of a camera's last N seconds, and evidence MP4s remuxed from them (no re-encode)."""

from __future__ import annotations

import io
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RingPacket:
    ts: float  # camera time of the packet's pts (seconds since the epoch; monotonic across reconnects)
    reorder: int  # pts - dts in the stream time base (B-frame delay), kept so output dts stay valid
    keyframe: bool
    data: bytes


class PacketRing:
    """Bounded by `seconds` of camera time and by `max_bytes`, whichever bites first. Thread-safe: the source
    adds from its thread, the evidence writer exports from another."""

    def __init__(self, seconds: float = 30.0, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.seconds, self.max_bytes = seconds, max_bytes
        self._packets: deque[RingPacket] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._template = None  # a stream in an unwritten in-memory container: the codec parameters
        self._holder = None
        self._params: tuple | None = None
        self.time_base: Fraction | None = None

    def set_stream(self, stream) -> None:
        """Take the codec parameters of a (re)opened stream; a different codec or size starts a new ring,
        since one MP4 cannot hold both."""
        cc = stream.codec_context
        params = (cc.name, cc.width, cc.height, cc.extradata)
        with self._lock:
            if params == self._params:
                return
            # A copy of the parameters that outlives the input container (a closed container's streams dangle).
            holder = av.open(io.BytesIO(), "w", format="mp4")
            template = holder.add_stream_from_template(stream, opaque=True)
            self._packets.clear()
            self._bytes = 0
            self._holder, self._template, self._params = holder, template, params
            self.time_base = stream.time_base

    def add(self, packet: av.Packet, ts: float) -> None:
        if packet.size == 0 or packet.pts is None or self._template is None:
            return
        dts = packet.dts if packet.dts is not None else packet.pts
        item = RingPacket(ts, int(packet.pts - dts), bool(packet.is_keyframe), bytes(packet))
        with self._lock:
            self._packets.append(item)
            self._bytes += len(item.data)
            self._trim(ts)

    def _trim(self, newest: float) -> None:
        while self._packets and (newest - self._packets[0].ts > self.seconds or self._bytes > self.max_bytes):
            self._bytes -= len(self._packets.popleft().data)

    @property
    def span(self) -> tuple[float, float] | None:
        with self._lock:
            return (self._packets[0].ts, self._packets[-1].ts) if self._packets else None

    @property
    def nbytes(self) -> int:
        return self._bytes

    def select(self, start_ts: float, end_ts: float) -> list[RingPacket]:
        """From the keyframe at or before start_ts (else the first one after) through end_ts."""
        with self._lock:
            packets = list(self._packets)
        if not packets or start_ts > packets[-1].ts or end_ts < start_ts:
            return []
        first = None
        for i, p in enumerate(packets):
            if p.keyframe and (p.ts <= start_ts or first is None):
                first = i
            if p.ts > start_ts and first is not None:
                break
        if first is None:
            return []
        return [p for p in packets[first:] if p.ts <= end_ts]

    def export_mp4(self, start_ts: float, end_ts: float, path: Path | str) -> Path:
        """Remux [keyframe <= start_ts, end_ts] into an MP4 at `path` (written atomically). Raises
        LookupError when the ring holds nothing of that range."""
        path = Path(path)
        with self._lock:
            template, tb = self._template, self.time_base
        chosen = self.select(start_ts, end_ts)
        if not chosen or template is None or tb is None:
            raise LookupError(f"no packets between {start_ts:.3f} and {end_ts:.3f}")
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            _write_mp4(tmp, template, tb, chosen)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path


def _write_mp4(path: Path, template, tb: Fraction, chosen: list[RingPacket]) -> None:
    """Timestamps come from camera time, not the stream's pts, so that packets from before and after a
    reconnect (whose pts restart) still come out in order."""
    t0 = chosen[0].ts
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream_from_template(template, opaque=True)
        stream.time_base = tb
        last_dts = None
        for item in chosen:
            pts = int(round((item.ts - t0) / tb)) + max(chosen[0].reorder, 0)
            dts = pts - item.reorder
            if last_dts is not None and dts <= last_dts:
                dts = last_dts + 1
                pts = max(pts, dts)
            last_dts = dts
            packet = av.Packet(item.data)
            packet.pts, packet.dts, packet.time_base = pts, dts, tb
            packet.is_keyframe = item.keyframe
            packet.stream = stream
            out.mux(packet)
