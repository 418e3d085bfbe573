"""Which files of a dashcam folder were processed, remembered across restarts in one small JSON file."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

DONE, FAILED, READING = "done", "failed", "reading"


class Ledger:
    """name -> {state (done, failed, or reading with pos), reason, size, at}. Every change is written atomically (temp file, fsync, rename),
    so a crash leaves either the old or the new ledger, never half of one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # Camera time at which the next file starts: fast pace runs ahead of the wall clock, and a restart
        # must not send timestamps backwards.
        self.next_ts = 0.0
        self.write_error: str | None = None
        self.entries: dict[str, dict] = self._load()

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
            self.next_ts = float(data.get("next_ts", 0.0))
            return dict(data["files"])
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, OSError) as exc:
            # Keep the damaged copy for a person to look at; starting empty means files may be read again,
            # which beats never reading new ones.
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            logger.error("dashcam ledger %s is unreadable (%s); moved to %s", self.path, exc, aside.name)
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            return {}

    def state(self, name: str) -> str | None:
        entry = self.entries.get(name)
        return entry["state"] if entry else None

    def mark(self, name: str, state: str, *, reason: str = "", size: int = 0, next_ts: float | None = None) -> None:
        self.entries[name] = {"state": state, "reason": reason, "size": size, "at": round(time.time(), 3)}
        if next_ts is not None:
            self.next_ts = max(self.next_ts, next_ts)
        self._save()

    def progress(self, name: str, pos: float, next_ts: float) -> None:
        """A file read up to `pos` seconds: a restart continues from there instead of repeating it."""
        self.entries[name] = {"state": READING, "pos": round(pos, 6), "at": round(time.time(), 3)}
        self.next_ts = max(self.next_ts, next_ts)
        self._save()

    def resume_point(self, name: str) -> float:
        entry = self.entries.get(name)
        return float(entry.get("pos", 0.0)) if entry and entry["state"] == READING else 0.0

    def forget_missing(self, present: set[str]) -> None:
        """Drop entries of files deleted from the folder (they cannot come back under the ledger's eye), so
        the ledger stays as small as the folder."""
        if not present:
            return  # an empty listing may be an unmounted share: forgetting would replay every file
        gone = [name for name in self.entries if name not in present]
        if gone:
            for name in gone:
                del self.entries[name]
            self._save()

    def _save(self) -> None:
        """Write the ledger; a failure (read-only or full disk) is kept in `write_error` for the source to
        report, and the ledger lives on in memory: files are still read once while the process runs."""
        try:
            self._write()
            self.write_error = None
        except OSError as exc:
            if self.write_error is None:
                logger.error("cannot write dashcam ledger %s: %s", self.path, exc)
            self.write_error = f"cannot write {self.path}: {exc.strerror or exc}"

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w") as f:
            json.dump({"version": 1, "next_ts": self.next_ts, "files": self.entries}, f, indent=0, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        try:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # make the rename itself durable
            finally:
                os.close(dir_fd)
        except OSError:
            pass
