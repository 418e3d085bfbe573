"""Rolling clip window: keeps only the frames that coming clips will sample, emits a clip every stride.

Clip n of a segment ends at origin + (n + 1) * stride and covers the `seconds` before that (less at
the start of a segment). Its K sample times are the centres of K equal slices of that span; each is
filled by the first frame at or after it, so a sample is never more than one frame interval late.
Only frames that fill a pending sample time are kept: memory is bounded by the number of pending
sample times, whatever the frame rate, and `wants()` lets the decoder skip every other frame.
"""

from __future__ import annotations

import math

import numpy as np

from monitor.clip import Clip, Frame


class ClipWindow:
    def __init__(self, camera_id: str, seconds: float, stride: float, frames: int, source: str = ""):
        if seconds <= 0 or stride <= 0 or frames < 1:
            raise ValueError("window seconds and stride must be > 0 and frames >= 1")
        self.camera_id = camera_id
        self.seconds = seconds
        self.stride = stride
        self.k = frames
        self.source = source
        self._lookahead = math.ceil(seconds / stride) + 1
        self.seq = 0  # clips emitted by this window, across segments
        self.reset()

    def reset(self) -> None:
        """Start a new segment: after a reconnect, a new file, or a jump in time."""
        self._origin: float | None = None
        self._next = 0
        self._last_ts: float | None = None
        self._filled: dict[float, Frame] = {}

    @property
    def kept_frames(self) -> int:
        return len({id(f) for f in self._filled.values()})

    def span(self, n: int) -> tuple[float, float]:
        assert self._origin is not None
        end = self._origin + (n + 1) * self.stride
        return max(self._origin, end - self.seconds), end

    def targets(self, n: int) -> list[float]:
        start, end = self.span(n)
        step = (end - start) / self.k
        # Rounded so that the same instant computed for two overlapping clips is one key.
        return [round(start + (i + 0.5) * step, 6) for i in range(self.k)]

    def _pending(self, upto: float | None = None) -> list[float]:
        """Sample times of the clips not yet emitted whose spans start by `upto` (a frame's time; when
        frames are sparser than the stride, one frame can fill samples of several clips ahead)."""
        last = self._next + self._lookahead
        if upto is not None:
            while self.span(last)[0] <= upto:
                last += 1
        return sorted({t for n in range(self._next, last) for t in self.targets(n)})

    def wants(self, ts: float) -> bool:
        """Would a frame at `ts` be kept? False lets the decoder skip converting (or decoding) it."""
        if self._origin is None or self._breaks_segment(ts):
            return True
        return any(t <= ts and t not in self._filled for t in self._pending(ts))

    def push(self, frame: Frame) -> list[Clip]:
        """Offer one frame; returns the clips that became due (usually none, sometimes one)."""
        if self._origin is not None and self._breaks_segment(frame.ts):
            self.reset()
        if self._origin is None:
            self._origin = frame.ts
        self._last_ts = frame.ts
        for t in self._pending(frame.ts):
            if t <= frame.ts and t not in self._filled:
                self._filled[t] = frame
        clips = []
        while self.span(self._next)[1] <= frame.ts:
            clips.append(self._emit(self._next))
            self._next += 1
            self._prune()
        return clips

    def _breaks_segment(self, ts: float) -> bool:
        assert self._last_ts is not None
        return ts < self._last_ts or ts - self._last_ts > self.seconds

    def _emit(self, n: int) -> Clip:
        start, end = self.span(n)
        picked = [self._filled[t] for t in self.targets(n)]
        clip = Clip(camera_id=self.camera_id, seq=self.seq, frames=_stack([f.image for f in picked]),
                    timestamps=tuple(f.ts for f in picked), window_start=start, window_end=end,
                    source=self.source)
        self.seq += 1
        return clip

    def _prune(self) -> None:
        """Drop samples that no clip still to come uses."""
        keep = set(self._pending(self._last_ts))
        self._filled = {t: f for t, f in self._filled.items() if t in keep}


def _stack(images: list[np.ndarray]) -> np.ndarray:
    """Stack frames; a mid-window resolution change is resized to the first frame's size."""
    h, w = images[0].shape[:2]
    if any(img.shape[:2] != (h, w) for img in images):
        import cv2

        images = [img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
                  for img in images]
    return np.stack(images)
