"""Capped exponential reconnect delays with full jitter, so that cameras that fail together do not retry together."""

from __future__ import annotations

import random


class Backoff:
    """Delays initial, 2*initial, 4*initial ... capped at `maximum`, each drawn uniformly from [d/2, d]."""

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        # Half-jitter: never retries at once (which would hammer a rebooting camera), but spreads retries out.
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0
