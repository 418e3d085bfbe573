"""Dashcam upload folders: each upload read once it is complete, exactly once, remembered across restarts."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from monitor.clip import Frame

from .backoff import Backoff
from .base import Source
from .complete import missing
from .file import OPEN_LIMIT_S, FileBroken, Progress, play_file
from .guard import run_session
from .ledger import DONE, FAILED, Ledger, Plan, Seen
from .media import describe_error, local_path
from .recorded import recording_start
from .timeline import FileClock

logger = logging.getLogger(__name__)

# Names that uploaders give a file while it is still coming (renamed when complete); hidden names likewise.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".filepart", ".uploading")
MAX_ATTEMPTS = 3  # transient failures (a stall, an I/O error) before a file is marked failed for good


class DashcamSource(Source):
    """Scans the folder every `scan_interval`; files are read in name order (dashcams name files by
    recording time) once complete: size and mtime unchanged for `settle_seconds` and the container's own
    index agreeing with the bytes present. Every file is tried (any container FFmpeg reads, whatever its
    suffix); one that is not video is reported once. A file is marked done only after it has been read to
    the end; one stopped partway continues after a restart from the last frame handed on (saved on stop,
    and every few seconds of video against a crash). Each upload is its own segment on the camera clock,
    at the time it was recorded (`camera.recording_time`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.folder = local_path(self.camera.url).absolute()
        self.ledger = Ledger(self.state_dir / self.camera.id / "dashcam-ledger.json", self.folder)
        self._seen: dict[str, tuple[tuple[int, int], float]] = {}
        self._attempts: dict[str, int] = {}
        self._waiting: dict[str, tuple[int, int]] = {}  # incomplete files already reported, by signature
        self._ledger_error: str | None = None

    def run(self, emit: Callable[[Frame], None], stop: threading.Event) -> None:
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        self.report("connecting", str(self.folder))
        missing_folder = False
        while not stop.is_set():
            if not self.folder.is_dir():
                if not missing_folder:  # once per outage, not once per scan
                    self.report("error", f"{self.folder}: not a readable folder; waiting for it")
                missing_folder = True
                if stop.wait(backoff.next_delay()):
                    break
                continue
            if missing_folder:
                missing_folder = False
                backoff.reset()
            for path, seen, plan, incomplete in self._ready_files():
                if stop.is_set():
                    break
                self._process(path, seen, plan, incomplete, emit, stop)
                self._check_ledger()
            # Between files the watcher is up: say so (after a file_done or an outage, and as health).
            if self.state != "online" or time.monotonic() - self._last_report >= self.settings.status_interval:
                self.report("online", f"watching {self.folder}")
            stop.wait(self.settings.scan_interval)
        self.report("ended", "stopped")

    def _listing(self) -> dict[str, Path]:
        try:
            entries = list(self.folder.iterdir())
        except OSError as exc:
            logger.warning("camera %s: cannot list %s: %s", self.camera.id, self.folder, exc)
            return {}
        return {path.name: path for path in entries
                if not path.name.startswith(".") and not path.name.lower().endswith(PARTIAL_SUFFIXES)
                and path.is_file()}

    def _ready_files(self) -> list[tuple[Path, Seen, Plan, str | None]]:
        """Files to read now, in name order: settled, complete (or given up waiting for), and new or changed
        since the ledger saw them."""
        now = time.monotonic()
        present = self._listing()
        self.ledger.forget_missing(set(present))
        self._seen = {name: seen for name, seen in self._seen.items() if name in present}
        ready = []
        for name, path in sorted(present.items()):
            try:
                st = path.stat()
            except OSError:
                continue
            sig = (st.st_size, st.st_mtime_ns)
            if self._unchanged_since_marked(name, sig):
                continue
            seen = self._seen.get(name)
            if seen is None or seen[0] != sig:
                self._seen[name] = seen = (sig, now)
            if now - seen[1] < self.settings.settle_seconds:
                continue
            try:
                plan = self.ledger.plan(name, Seen.of(path))
                why = missing(path)
            except OSError:
                continue
            if not plan.read:
                continue
            if why and now - seen[1] < self.settings.upload_timeout_seconds:
                if self._waiting.get(name) != sig:  # once per state of the file, not once per scan
                    self._waiting[name] = sig
                    self.report("online", f"waiting for the rest of {name}: {why}")
                continue
            ready.append((path, Seen.of(path), plan, why))
        return ready

    def _unchanged_since_marked(self, name: str, sig: tuple[int, int]) -> bool:
        """The cheap check of every scan: a done or failed file whose size and mtime are what was recorded."""
        entry = self.ledger.entries.get(self.ledger.key(name))
        return bool(entry) and entry["state"] in (DONE, FAILED) and entry.get("size") == sig[0] \
            and entry.get("mtime_ns", sig[1]) == sig[1]

    def _clock(self, path: Path, resume_s: float) -> tuple[FileClock, str]:
        """The file's clock: its recording time when known (camera.recording_time: file), else the arrival
        clock that lays uploads end to end."""
        start, origin = None, ""
        if self.camera.recording_time == "file":
            start, origin = recording_start(path, self.camera.file_name_time, self.camera.file_name_time_zone)
        mono = time.monotonic() - resume_s
        if start is None:
            return FileClock(base=max(time.time(), self.ledger.next_ts) - resume_s, mono=mono), ""
        when = datetime.fromtimestamp(start, tz=timezone.utc).isoformat(timespec="seconds")
        return FileClock(base=start, mono=mono), f"recorded {when} per its {origin}"

    def _process(self, path: Path, seen: Seen, plan: Plan, incomplete: str | None,
                 emit: Callable[[Frame], None], stop: threading.Event) -> None:
        name = path.name
        # A file read partway before a restart (or one that grew after it was read) continues after the last
        # frame handed on, on the same camera timeline.
        resume_s = plan.resume_s
        clock, recorded = self._clock(path, resume_s)
        arrival = not recorded

        def save(pos: float) -> None:
            self.ledger.progress(name, pos, next_ts=clock.base + pos if arrival else self.ledger.next_ts, seen=seen)

        progress = Progress(resume_s, save)
        notes = [f"from {resume_s:.1f} s" if resume_s else "", plan.why, recorded]
        self.online_detail = f"reading {name}" + "".join(f"; {n}" for n in notes if n)
        self.report("online", self.online_detail)
        result: dict = {}
        corrupt_before = self.stats.corrupt
        outcome = run_session(lambda s: result.update(d=play_file(self, path, clock, s, emit, progress)), stop,
                              name=f"{self.camera.id}/{name}", open_limit=OPEN_LIMIT_S,
                              stall_limit=self.settings.stall_seconds, tick=self.tick)
        if outcome.stopped or stop.is_set():
            return  # not marked done: a restart continues from the last progress saved
        if "d" in result:
            self._attempts.pop(name, None)
            if incomplete:  # given up waiting: what was there was read, but it is not complete
                self._fail(name, seen, f"incomplete after {self.settings.upload_timeout_seconds:g} s ({incomplete}); "
                           f"the {result['d']:.1f} s present were read", read_s=result["d"])
                return
            skipped = self.stats.corrupt - corrupt_before
            note = f"; {skipped} corrupt packets skipped" if skipped else ""
            self.ledger.mark(name, DONE, seen=seen, reason=note.lstrip("; "), read_s=result["d"],
                             next_ts=clock.base + result["d"] if arrival else None)
            self.stats.files_done += 1
            self.report("file_done", f"{name}: {result['d'] - resume_s:.1f} s of video read{note}")
            return
        if isinstance(outcome.error, FileBroken):
            self._fail(name, seen, str(outcome.error))
            return
        reason = "stalled" if outcome.stalled else describe_error(outcome.error or TimeoutError("open"), "")
        self._attempts[name] = self._attempts.get(name, 0) + 1
        if self._attempts[name] >= MAX_ATTEMPTS:
            self._fail(name, seen, f"gave up after {MAX_ATTEMPTS} attempts: {reason}")
        else:
            self.report("error", f"{name}: {reason}; will retry")

    def _check_ledger(self) -> None:
        """A ledger that cannot be written is reported once: files are then read once per process only."""
        error = self.ledger.write_error
        if error and error != self._ledger_error:
            self.report("error", f"{error}; processed files are not remembered across restarts")
        self._ledger_error = error

    def _fail(self, name: str, seen: Seen, reason: str, read_s: float = 0.0) -> None:
        self.ledger.mark(name, FAILED, seen=seen, reason=reason, read_s=read_s)
        self.stats.files_failed += 1
        self.report("file_failed", f"{name}: {reason}")
