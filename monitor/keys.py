"""Every Redis key and stream name the monitor uses, in one place, under a configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

STREAMS = ("descriptions", "alerts", "status")


@dataclass(frozen=True)
class Keys:
    prefix: str = "monitor:"

    @property
    def descriptions(self) -> str:
        return f"{self.prefix}descriptions"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def status(self) -> str:
        return f"{self.prefix}status"

    @property
    def control(self) -> str:
        return f"{self.prefix}control"

    def stream(self, name: str) -> str:
        if name not in STREAMS:
            raise ValueError(f"unknown stream {name!r}; expected one of {', '.join(STREAMS)}")
        return f"{self.prefix}{name}"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    def lease(self, camera_id: str) -> str:
        return f"{self.prefix}lease:{camera_id}"
