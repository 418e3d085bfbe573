"""The compressed packets of a camera's last N seconds, and evidence files remuxed from them (re-encoded only
for codecs no container takes)."""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .ring_export import Exported, template_for, write_reencode, write_remux

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
        self.format: str | None = None  # the container evidence is remuxed into; None: re-encoded to H.264
        self.suffix = ".mp4"
        self.time_base: Fraction | None = None

    def set_stream(self, stream) -> None:
        """Take the codec parameters of a (re)opened stream; a different codec or size starts a new ring,
        since one file cannot hold both. Never raises for a codec no container takes: that is re-encoded."""
        cc = stream.codec_context
        params = (cc.name, cc.width, cc.height, cc.extradata)
        with self._lock:
            if params == self._params:
                return
            found = template_for(stream)
            self._packets.clear()
            self._bytes = 0
            self._params = params
            self.time_base = stream.time_base
            if found is None:
                logger.info("no container takes %s: evidence is re-encoded to H.264", cc.name)
                self._holder = self._template = self.format = None
                self.suffix = ".mp4"
            else:
                self._holder, self._template, self.suffix = found
                self.format = self._holder.format.name.split(",")[0]

    def add(self, packet: av.Packet, ts: float) -> None:
        if packet.size == 0 or packet.pts is None or self._params is None:
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
        """Packets, in decode order, that decode into every frame of [start_ts, end_ts] and nothing
        undecodable: from the keyframe at or before start_ts (else the first one after), without the
        leading frames of an open GOP that reference what came before it, through the last packet whose
        frame is at or before end_ts (with the later-presented frames it needs, B-frames' references)."""
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
        if first is None or packets[first].ts > end_ts:
            return []  # the ring no longer holds a keyframe that starts this span: never another stretch
        last = max((i for i in range(first, len(packets)) if packets[i].ts <= end_ts), default=first)
        key_ts = packets[first].ts
        return [packets[first]] + [p for p in packets[first + 1:last + 1] if p.ts > key_ts]

    def export(self, start_ts: float, end_ts: float, path: Path | str) -> Exported:
        """Write [keyframe <= start_ts, end_ts] to `path` (its suffix set to the container's), atomically.
        Raises LookupError when the ring holds nothing of that range."""
        with self._lock:
            template, tb, fmt, params = self._template, self.time_base, self.format, self._params
        chosen = self.select(start_ts, end_ts)
        if not chosen or params is None or tb is None:
            raise LookupError(f"no packets between {start_ts:.3f} and {end_ts:.3f}")
        path = Path(path).with_suffix(self.suffix)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            if fmt is None:
                write_reencode(tmp, params, tb, chosen)
            else:
                write_remux(tmp, fmt, template, tb, chosen)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        times = [p.ts for p in chosen]
        return Exported(path, min(times), max(times))

    def export_mp4(self, start_ts: float, end_ts: float, path: Path | str) -> Path:
        """The evidence file's path alone (MP4, or MKV for codecs MP4 does not take)."""
        return self.export(start_ts, end_ts, path).path
