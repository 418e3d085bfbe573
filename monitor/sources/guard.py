"""Runs one connection's demux and decode in its own thread, watched by a watchdog in the caller's thread.

PyAV's own timeouts can hang or be capped (PyAV issues 584, 1155, 1243), and PyAV offers no way to
interrupt a blocked read from another thread (its interrupt callback only checks its own timeout, and
closing a container under a reader is a use-after-free). So the watchdog abandons a worker that does not
return: it is a daemon thread, it drops whatever it would still emit, it closes its own container when
FFmpeg's socket timeout or PyAV's backstop timeout finally frees it, and a new connection starts at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

logger = logging.getLogger(__name__)

GRACE_S = 0.5  # how long a cancelled worker gets to return (it does at once unless FFmpeg blocks it)


class Session:
    """Shared state between a worker thread and its watchdog."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cancelled = threading.Event()
        self.done = threading.Event()
        self.container = None  # set by the worker once open (for diagnostics; only the worker closes it)
        self.phase = "opening"
        self.last_progress = time.monotonic()
        self.online_since: float | None = None
        self.error: BaseException | None = None
        self.in_emit = False  # the consumer holds the worker (a file waiting for the model): not a stall

    def progress(self, phase: str | None = None) -> None:
        self.last_progress = time.monotonic()
        if phase is not None and phase != self.phase:
            self.phase = phase
            if phase == "online":
                self.online_since = self.last_progress

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` while counting as alive; True if cancelled meanwhile."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.cancelled.wait(min(left, 0.5)):
                return True
            self.progress()
        return self.cancelled.is_set()

    def interrupt(self) -> None:
        """Ask the worker to stop: it checks between packets and during pacing sleeps."""
        self.cancelled.set()


@dataclass
class Outcome:
    error: BaseException | None = None
    stopped: bool = False
    stalled: bool = False       # no packet for the stall limit while online
    open_timeout: bool = False  # opening took longer than the connect limit
    abandoned: bool = False     # the worker did not return after being interrupted
    online_s: float = 0.0       # how long the session delivered packets
    phase: str = "opening"      # where the session was when it ended
    elapsed_s: float = 0.0      # how long the session lasted


def run_session(work: Callable[[Session], None], stop: threading.Event, *, name: str, open_limit: float,
                stall_limit: float, tick: Callable[[Session], None] = lambda s: None,
                poll: float = 0.25) -> Outcome:
    """Run `work(session)` in a daemon thread until it returns, `stop` is set, or it hangs."""
    session = Session(name)

    def target() -> None:
        try:
            work(session)
        except BaseException as exc:  # noqa: BLE001 - reported by the watchdog side, never raised
            session.error = exc
        finally:
            session.done.set()

    thread = threading.Thread(target=target, name=f"source-{name}", daemon=True)
    thread.start()
    outcome = Outcome()
    started = time.monotonic()
    while not session.done.wait(poll):
        tick(session)
        if stop.is_set():
            outcome.stopped = True
            break
        limit = open_limit if session.phase == "opening" else stall_limit
        if session.in_emit:
            session.progress()  # time spent in the consumer says nothing about the camera
        elif time.monotonic() - session.last_progress > limit:
            outcome.stalled = session.phase != "opening"
            outcome.open_timeout = not outcome.stalled
            break
    if not session.done.is_set():
        session.interrupt()
        outcome.abandoned = not session.done.wait(GRACE_S)
        if outcome.abandoned:
            logger.warning("source %s: worker blocked in FFmpeg did not return; abandoned (it closes its own "
                           "container when its read times out)", name)
    outcome.phase, outcome.elapsed_s = session.phase, time.monotonic() - started
    if session.online_since is not None:
        outcome.online_s = session.last_progress - session.online_since
    outcome.error = None if (outcome.stopped or outcome.stalled or outcome.open_timeout) else session.error
    return outcome
