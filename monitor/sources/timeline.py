"""Maps stream timestamps onto the camera clock (seconds since the Unix epoch) that Frame.ts carries."""

from __future__ import annotations

import time


class LiveClock:
    """ts = wall0 + (pts - pts0), anchored at the arrival of the first packet. Packets that arrive early
    (the burst read while the stream was probed, a whole HLS segment at once) are held until their time
    (`delay`), so ts never runs ahead of the wall clock and the spacing of frames is the stream's own. A
    jump of the stream clock (camera reboot, pts wrap, a server restart) re-anchors at the arrival time, so
    ts never goes backwards."""

    def __init__(self, resync_s: float = 30.0, backwards_s: float = 1.0) -> None:
        self.resync_s, self.backwards_s = resync_s, backwards_s
        self._wall0: float | None = None
        self._pts0 = 0.0
        self._last = float("-inf")

    def observe(self, pts_s: float) -> float:
        """Camera time of a packet that arrived now; the only place the anchor moves."""
        now = time.time()
        if self._wall0 is None:
            self._wall0, self._pts0 = now, pts_s
        ts = self._wall0 + (pts_s - self._pts0)
        if ts < self._last - self.backwards_s or abs(ts - now) > self.resync_s:
            self._wall0, self._pts0 = max(now, self._last + 1e-3), pts_s
            ts = self._wall0
        self._last = max(self._last, ts)
        return ts

    @staticmethod
    def delay(ts: float) -> float:
        """Seconds to hold a packet stamped `ts` so that it is not handed on before its time."""
        return ts - time.time()

    def ts(self, pts_s: float) -> float:
        return (self._wall0 if self._wall0 is not None else time.time()) + (pts_s - self._pts0)


class FileClock:
    """ts = base + (pts - first pts) for a file played from `base`; `mono` is where real-time pacing
    started, so a looped or following file continues the same timeline."""

    def __init__(self, base: float | None = None, mono: float | None = None) -> None:
        self.base = time.time() if base is None else base
        self.mono = time.monotonic() if mono is None else mono
        self.pts0: float | None = None

    def start(self, pts_s: float) -> None:
        if self.pts0 is None:
            self.pts0 = pts_s

    def rel(self, pts_s: float) -> float:
        return pts_s - (self.pts0 if self.pts0 is not None else pts_s)

    def ts(self, pts_s: float) -> float:
        return self.base + self.rel(pts_s)

    def delay(self, pts_s: float) -> float:
        """Seconds to sleep so that this packet comes at real-time pace."""
        return self.mono + self.rel(pts_s) - time.monotonic()

    def following(self, duration: float) -> "FileClock":
        """The clock of the next pass (a loop) or the next file, `duration` seconds later."""
        return FileClock(self.base + duration, self.mono + duration)
