"""Every Redis key and stream name the monitor uses, in one place, under a configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

STREAMS = ("descriptions", "alerts", "status")


def _glob_escape(text: str) -> str:
    """`text` matched literally by SCAN MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


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

    @property
    def workers_pattern(self) -> str:
        """SCAN MATCH pattern of every worker's heartbeat key."""
        return f"{_glob_escape(self.prefix)}worker:*"

    def lease(self, camera_id: str) -> str:
        return f"{self.prefix}lease:{camera_id}"

    def frame(self, camera_id: str) -> str:
        """The camera's latest sampled frame, a small JPEG with a TTL (the UI's tiles)."""
        return f"{self.prefix}frame:{camera_id}"

    @property
    def acks(self) -> str:
        """Hash alert_id -> JSON {by, at}: alerts acknowledged in the UI."""
        return f"{self.prefix}ui:acks"

    @property
    def dead_letters(self) -> str:
        """Stream of alerts `monitor notify` could not deliver after its attempts."""
        return f"{self.prefix}notify:dead"

    def notify_group(self, group: str, route: str) -> str:
        """Consumer group of one notify route on the alerts stream."""
        return f"{group}:{route}"

    @property
    def leases_pattern(self) -> str:
        """SCAN MATCH pattern of every camera's lease key."""
        return f"{_glob_escape(self.prefix)}lease:*"
