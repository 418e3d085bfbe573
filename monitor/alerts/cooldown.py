"""Cooldown per camera and category: after an alert ends, the same kind of alert waits a while."""

from __future__ import annotations


class Cooldown:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._until: dict[tuple[str, str], float] = {}

    def blocks(self, camera_id: str, category: str, now: float) -> bool:
        return now < self._until.get((camera_id, category), float("-inf"))

    def start(self, camera_id: str, category: str, now: float) -> None:
        self._until[(camera_id, category)] = now + self.seconds

    def remaining(self, camera_id: str, category: str, now: float) -> float:
        return max(0.0, self._until.get((camera_id, category), now) - now)
