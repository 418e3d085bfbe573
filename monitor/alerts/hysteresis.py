"""Per-camera score track: exponential smoothing, then hysteresis that opens and closes an alert."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Step = Literal["quiet", "open", "update", "end"]


@dataclass
class ScoreTrack:
    """One camera's smoothed score and run lengths. `step` says what this window means; the engine
    calls `opened()` only when it really opens an alert (cooldown or dedupe may hold it back, and
    then the next anomalous window asks again)."""

    threshold: float
    open_after: int
    close_after: int
    alpha: float = 1.0
    smoothed: float | None = None
    above: int = 0
    below: int = 0
    is_open: bool = False

    def step(self, score: float) -> Step:
        self.smoothed = score if self.smoothed is None else self.alpha * score + (1 - self.alpha) * self.smoothed
        # Round away float noise so that a score exactly at the threshold counts as at it.
        if round(self.smoothed, 9) >= self.threshold:
            self.above, self.below = self.above + 1, 0
        else:
            self.above, self.below = 0, self.below + 1
        if not self.is_open:
            return "open" if self.above >= self.open_after else "quiet"
        if self.below >= self.close_after:
            self.is_open = False
            return "end"
        return "update"

    def opened(self) -> None:
        self.is_open = True

    def closed(self) -> None:
        self.is_open = False
        self.above = 0
