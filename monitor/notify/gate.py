"""Which alerts a route gets: its filter (severity, cameras, categories, phases) and a rate limit per camera."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

from monitor.config.operators import RouteFilter

_REMEMBERED = 10_000  # alert ids whose fate (sent or held back) is remembered for their later phases


class RouteGate:
    def __init__(self, cfg: RouteFilter, clock=time.monotonic):
        self.cfg, self.clock = cfg, clock
        self._sent: dict[str, deque[float]] = {}  # camera -> times of `new` alerts let through
        self._held: OrderedDict[str, None] = OrderedDict()
        self.held_back = 0

    def passes(self, alert: dict) -> bool:
        """True if the route gets this alert message; False if filtered out or rate-limited."""
        cfg, camera = self.cfg, (alert.get("camera") or {}).get("id", "")
        if alert.get("phase") not in cfg.phases or int(alert.get("severity", 0)) < cfg.min_severity:
            return False
        if (cfg.cameras and camera not in cfg.cameras) or (cfg.categories and alert.get("category") not in cfg.categories):
            return False
        return self._within_rate(camera, alert.get("alert_id", ""), alert.get("phase"))

    def _within_rate(self, camera: str, alert_id: str, phase: str | None) -> bool:
        if self.cfg.max_per_camera is None:
            return True
        if alert_id in self._held:
            return False  # the later phases of an alert held back are held back too
        if phase != "new":
            return True
        now, sent = self.clock(), self._sent.setdefault(camera, deque())
        while sent and sent[0] <= now - self.cfg.rate_window_seconds:
            sent.popleft()
        if len(sent) >= self.cfg.max_per_camera:
            self._held[alert_id] = None
            if len(self._held) > _REMEMBERED:
                self._held.popitem(last=False)
            self.held_back += 1
            return False
        sent.append(now)
        return True
