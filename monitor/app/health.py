"""What /healthz and /readyz answer, and when the systemd watchdog is fed.

healthy: the model loop makes progress. It fails once clips have waited `stall_seconds` with no
backend call returning (a hung CUDA call), or the model failed for good, or the scheduler thread
died; a restart is the cure for all three. A camera in errors does not fail it: a restart would not
mend a camera (camera_up and the CameraDown alert report it).

ready: the model is warmed up, the loop is healthy and Redis takes what is published: the outbox has
not gone `outbox_seconds` without shrinking while it holds messages."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


class Health:
    def __init__(self, scheduler, backlog: Callable[[], int], *, stall_seconds: float, outbox_seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        self.scheduler, self.backlog, self.clock = scheduler, backlog, clock
        self.stall_seconds, self.outbox_seconds = stall_seconds, outbox_seconds
        self.warmed = False
        self._lock = threading.Lock()
        self._outbox_last = 0
        self._outbox_since: float | None = None  # since when the outbox holds messages without shrinking

    def healthy(self) -> Verdict:
        s = self.scheduler
        if s.fatal is not None:
            return Verdict(False, f"the model failed for good: {type(s.fatal).__name__}")
        if not self.warmed:
            return Verdict(True, "warming up")
        if not s.alive:
            return Verdict(False, "the scheduler thread is gone")
        stalled = s.stalled_seconds()
        if stalled > self.stall_seconds:
            return Verdict(False, f"no batch completed for {stalled:.0f} s while clips wait")
        return Verdict(True, "ok")

    def ready(self) -> Verdict:
        if not self.warmed:
            return Verdict(False, "the model is not warmed up yet")
        health = self.healthy()
        if not health.ok:
            return health
        waiting = self.outbox_stalled_seconds()
        if waiting > self.outbox_seconds:
            return Verdict(False, f"Redis takes nothing: the outbox has not shrunk for {waiting:.0f} s")
        return Verdict(True, "ready")

    def outbox_stalled_seconds(self) -> float:
        """Seconds the outbox has held messages without shrinking (0 while it is empty or draining)."""
        backlog, now = self.backlog(), self.clock()
        with self._lock:
            if backlog == 0:
                self._outbox_since = None
            elif self._outbox_since is None or backlog < self._outbox_last:
                self._outbox_since = now
            self._outbox_last = backlog
            return 0.0 if self._outbox_since is None else now - self._outbox_since
