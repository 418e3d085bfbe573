"""Rolling clip window: keeps only the frames that coming clips will sample, emits a clip every stride.

A segment (a connection, a file) starts at the time of its first frame, `origin`. Clip n covers
[end - seconds, end] with end = origin + seconds + n * stride: the first clip waits for a full window.
Its K sample times are the centres of K equal slices of that span; each is filled by the first frame at
or after it that still lies in the first half of its own slice: a sample is where a full decode puts
it, never a frame outside the window, and never one frame twice (slices do not overlap). A sample with
no such frame (a gap, a camera slower than two frames a slice) stays empty: the clip then holds fewer
frames, and its `timestamps` say which. Only frames that fill a pending sample time are kept, so memory
is bounded by the number of pending sample times whatever the frame rate, and `wants()` lets the decoder
skip every other frame. With `whole_slice` (keyframe-only decoding) a sample takes the first frame
anywhere in its slice. `finish()` ends a segment at once (end of a file): its last partial stride is a
clip of its own, marked `final`.
"""

from __future__ import annotations

import math

import numpy as np

from monitor.clip import Clip, Frame


class ClipWindow:
    def __init__(self, camera_id: str, seconds: float, stride: float, frames: int, source: str = "",
                 whole_slice: bool = False):
        if seconds <= 0 or stride <= 0 or frames < 1:
            raise ValueError("window seconds and stride must be > 0 and frames >= 1")
        self.camera_id = camera_id
        self.seconds = seconds
        self.stride = stride
        self.k = frames
        self.source = source
        self._half = seconds / frames / 2  # a sample takes frames up to the end of its own slice
        # Keyframe-only decoding: a sample takes the first frame anywhere in its slice (never outside it).
        self._before = self._half if whole_slice else 0.0
        self._lookahead = math.ceil(seconds / stride) + 1
        self.seq = 0  # clips emitted by this window, across segments
        self.missed: list[tuple[float, float]] = []  # spans of windows that got no frame at all (for the caller)
        self.reset()

    def reset(self) -> None:
        """Start a new segment: after a reconnect, a new file, or a jump in time."""
        self._origin: float | None = None
        self._next = 0
        self._last_ts: float | None = None
        self._filled: dict[float, Frame] = {}
        self._cache: tuple[tuple[int, int], list[float]] | None = None

    @property
    def kept_frames(self) -> int:
        return len({id(f) for f in self._filled.values()})

    def span(self, n: int) -> tuple[float, float]:
        assert self._origin is not None
        end = self._origin + self.seconds + n * self.stride
        return end - self.seconds, end

    def targets(self, n: int) -> list[float]:
        start, _ = self.span(n)
        step = self.seconds / self.k
        # Rounded so that the same instant computed for two overlapping clips is one key.
        return [round(start + (i + 0.5) * step, 6) for i in range(self.k)]

    def _pending(self, upto: float | None = None) -> list[float]:
        """Sample times of the clips not yet emitted whose spans start by `upto` (a frame's time; when
        frames are sparser than the stride, one frame can reach samples of several clips ahead)."""
        last = self._next + self._lookahead
        if upto is not None:
            while self.span(last)[0] <= upto:
                last += 1
        key = (self._next, last)
        if self._cache is None or self._cache[0] != key:
            self._cache = key, sorted({t for n in range(self._next, last) for t in self.targets(n)})
        return self._cache[1]

    def _fills(self, t: float, ts: float) -> bool:
        return t - self._before - 1e-6 <= ts < t + self._half - 1e-6 and t not in self._filled

    def wants(self, ts: float) -> bool:
        """Would a frame at `ts` be kept? False lets the decoder skip converting (or decoding) it."""
        if self._origin is None or self._breaks_segment(ts):
            return True
        return any(self._fills(t, ts) for t in self._pending(ts))

    def push(self, frame: Frame) -> list[Clip]:
        """Offer one frame; returns the clips that became due (usually none, sometimes one)."""
        clips: list[Clip] = []
        if self._origin is not None and self._breaks_segment(frame.ts):
            clips += self._close_segment()
        if self._origin is None:
            self._origin = frame.ts
        self._last_ts = frame.ts
        for t in self._pending(frame.ts):
            if self._fills(t, frame.ts):
                self._filled[t] = frame
        while self.span(self._next)[1] <= frame.ts:
            clip = self._emit(self._next)
            self._next += 1
            self._prune()
            if clip is not None:
                clips.append(clip)
        return clips

    def finish(self, end_ts: float | None = None) -> list[Clip]:
        """The segment ended at `end_ts` (the end of a file; default: the last frame offered): its last
        partial stride becomes a clip now, marked final, and the next frame starts a new segment."""
        return self._close_segment(final=True, end_ts=end_ts)

    def _close_segment(self, final: bool = False, end_ts: float | None = None) -> list[Clip]:
        if self._origin is None or self._last_ts is None:
            return []
        last_ts = max(self._last_ts, end_ts or self._last_ts)
        done_until = self.span(self._next - 1)[1] if self._next > 0 else None
        clip = None
        if done_until is None or last_ts > done_until + 1e-6:
            clip = self._emit(self._next, until=last_ts, final=final)
        self.reset()
        return [clip] if clip is not None else []

    def _breaks_segment(self, ts: float) -> bool:
        assert self._last_ts is not None
        return ts < self._last_ts or ts - self._last_ts > self.seconds

    def _emit(self, n: int, until: float | None = None, final: bool = False) -> Clip | None:
        """Clip n with the samples it really has (none: no clip); `until` cuts its span (end of a file)."""
        start, end = self.span(n)
        if until is not None:
            end = min(end, until)
        picked = [self._filled[t] for t in self.targets(n) if t in self._filled and self._filled[t].ts <= end]
        if not picked:
            self.missed.append((start, end))
            return None
        clip = Clip(camera_id=self.camera_id, seq=self.seq, frames=_stack([f.image for f in picked]),
                    timestamps=tuple(f.ts for f in picked), window_start=start, window_end=end,
                    source=self.source, expected=self.k if until is None else _inside(self.targets(n), end),
                    final=final)
        self.seq += 1
        return clip

    def _prune(self) -> None:
        """Drop samples that no clip still to come uses."""
        keep = set(self._pending(self._last_ts))
        self._filled = {t: f for t, f in self._filled.items() if t in keep}


def _inside(targets: list[float], end: float) -> int:
    return max(1, sum(1 for t in targets if t <= end))


def _stack(images: list[np.ndarray]) -> np.ndarray:
    """Stack frames; a mid-window resolution change is resized to the first frame's size."""
    h, w = images[0].shape[:2]
    if any(img.shape[:2] != (h, w) for img in images):
        import cv2

        images = [img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
                  for img in images]
    return np.stack(images)
