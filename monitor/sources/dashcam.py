"""Dashcam upload folders: each new MP4 read once it has settled, exactly once, remembered across restarts."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from monitor.clip import Frame

from .backoff import Backoff
from .base import Source
from .file import OPEN_LIMIT_S, FileBroken, Progress, play_file
from .guard import run_session
from .ledger import DONE, FAILED, Ledger
from .media import describe_error, local_path
from .timeline import FileClock

logger = logging.getLogger(__name__)

SUFFIXES = (".mp4",)
MAX_ATTEMPTS = 3  # transient failures (a stall, an I/O error) before a file is marked failed for good


class DashcamSource(Source):
    """Scans the folder every `scan_interval`; files are read in name order (dashcams name files by
    recording time), once their size and mtime have not changed for `settle_seconds`. A file is marked done
    only after it has been read to the end; one stopped partway continues after a restart from the last
    frame handed on (saved on stop, and every few seconds of video against a crash)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.folder = local_path(self.camera.url)
        self.ledger = Ledger(self.state_dir / self.camera.id / "dashcam-ledger.json")
        self._seen: dict[str, tuple[tuple[int, int], float]] = {}
        self._attempts: dict[str, int] = {}
        self._ledger_error: str | None = None

    def run(self, emit: Callable[[Frame], None], stop: threading.Event) -> None:
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        self.report("connecting", str(self.folder))
        missing = False
        while not stop.is_set():
            if not self.folder.is_dir():
                if not missing:  # once per outage, not once per scan
                    self.report("error", f"{self.folder}: not a readable folder; waiting for it")
                missing = True
                if stop.wait(backoff.next_delay()):
                    break
                continue
            if missing:
                missing = False
                backoff.reset()
            for path in self._ready_files():
                if stop.is_set():
                    break
                self._process(path, emit, stop)
                self._check_ledger()
            # Between files the watcher is up: say so (after a file_done or an outage, and as health).
            if self.state != "online" or time.monotonic() - self._last_report >= self.settings.status_interval:
                self.report("online", f"watching {self.folder}")
            stop.wait(self.settings.scan_interval)
        self.report("ended", "stopped")

    def _ready_files(self) -> list[Path]:
        """Unprocessed MP4s whose size and mtime have held still for settle_seconds, in name order."""
        now = time.monotonic()
        present: dict[str, Path] = {}
        try:
            entries = list(self.folder.iterdir())
        except OSError as exc:
            logger.warning("camera %s: cannot list %s: %s", self.camera.id, self.folder, exc)
            return []
        for path in entries:
            if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES:
                continue  # hidden names are partial uploads by convention (rsync, browsers)
            present[path.name] = path
        self.ledger.forget_missing(set(present))
        self._seen = {name: seen for name, seen in self._seen.items() if name in present}
        ready = []
        for name, path in sorted(present.items()):
            state = self.ledger.state(name)
            if state == DONE:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if state == FAILED and self.ledger.entries[name].get("size") == st.st_size:
                continue  # a failed file is tried again only once it has changed (an upload that resumed)
            sig = (st.st_size, st.st_mtime_ns)
            seen = self._seen.get(name)
            if seen is None or seen[0] != sig:
                self._seen[name] = seen = (sig, now)
            if now - seen[1] >= self.settings.settle_seconds and path.is_file():
                ready.append(path)
        return ready

    def _process(self, path: Path, emit: Callable[[Frame], None], stop: threading.Event) -> None:
        name = path.name
        # A file read partway before a restart continues after the last frame handed on, on the same
        # camera timeline (the resume point maps to where the clock had got to).
        resume_s = self.ledger.resume_point(name)
        clock = FileClock(base=max(time.time(), self.ledger.next_ts) - resume_s, mono=time.monotonic() - resume_s)
        progress = Progress(resume_s, lambda pos: self.ledger.progress(name, pos, next_ts=clock.base + pos))
        self.online_detail = f"reading {name}" + (f" from {resume_s:.1f} s" if resume_s else "")
        self.report("online", self.online_detail)
        result: dict = {}
        corrupt_before = self.stats.corrupt
        outcome = run_session(lambda s: result.update(d=play_file(self, path, clock, s, emit, progress)), stop,
                              name=f"{self.camera.id}/{name}", open_limit=OPEN_LIMIT_S,
                              stall_limit=self.settings.stall_seconds, tick=self.tick)
        if outcome.stopped or stop.is_set():
            return  # not marked done: a restart continues from the last progress saved
        size = self._size(path)
        if "d" in result:
            skipped = self.stats.corrupt - corrupt_before
            note = f"; {skipped} corrupt packets skipped" if skipped else ""
            self.ledger.mark(name, DONE, size=size, reason=note.lstrip("; "), next_ts=clock.base + result["d"])
            self.stats.files_done += 1
            self.report("file_done", f"{name}: {result['d']:.1f} s of video read{note}")
            return
        if isinstance(outcome.error, FileBroken):
            self._fail(name, size, str(outcome.error))
            return
        reason = "stalled" if outcome.stalled else describe_error(outcome.error or TimeoutError("open"), "")
        self._attempts[name] = self._attempts.get(name, 0) + 1
        if self._attempts[name] >= MAX_ATTEMPTS:
            self._fail(name, size, f"gave up after {MAX_ATTEMPTS} attempts: {reason}")
        else:
            self.report("error", f"{name}: {reason}; will retry")

    def _check_ledger(self) -> None:
        """A ledger that cannot be written is reported once: files are then read once per process only."""
        error = self.ledger.write_error
        if error and error != self._ledger_error:
            self.report("error", f"{error}; processed files are not remembered across restarts")
        self._ledger_error = error

    def _fail(self, name: str, size: int, reason: str) -> None:
        self.ledger.mark(name, FAILED, size=size, reason=reason)
        self.stats.files_failed += 1
        self.report("file_failed", f"{name}: {reason}")

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0
