"""Which files of a dashcam folder were processed, remembered across restarts in one small JSON file.

A file is known by its folder and name *and* its size, mtime and a fingerprint of its first bytes: a card
that reuses FILE0001.MP4 for new footage, or a camera pointed at another folder, is read again; a file that
grew after it was read (an upload resumed) has only its new part read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DONE, FAILED, READING = "done", "failed", "reading"
VERSION = 2
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Seen:
    """What the folder shows of a file now."""

    size: int
    mtime_ns: int
    head: str  # sha256 (shortened) of its first 64 KiB

    @classmethod
    def of(cls, path: Path) -> "Seen":
        st = path.stat()
        with open(path, "rb") as f:
            head = hashlib.sha256(f.read(_HEAD_BYTES)).hexdigest()[:20]
        return cls(st.st_size, st.st_mtime_ns, head)


@dataclass(frozen=True)
class Plan:
    """What to do with a file: skip it, or read it from `resume_s` seconds of video on."""

    read: bool
    resume_s: float = 0.0
    why: str = ""


class Ledger:
    """key (folder/name) -> {state (done, failed, reading), size, mtime_ns, head, read_s or pos, reason, at}.
    Every change is written atomically (temp file, fsync, rename), so a crash leaves either the old or the new
    ledger, never half of one."""

    def __init__(self, path: Path, folder: Path | None = None) -> None:
        self.path = Path(path)
        self.folder = Path(folder) if folder is not None else None
        # Camera time at which the next file starts on the arrival clock: fast pace runs ahead of the wall
        # clock, and a restart must not send timestamps backwards.
        self.next_ts = 0.0
        self.write_error: str | None = None
        self.entries: dict[str, dict] = self._load()

    def key(self, name: str) -> str:
        return str(self.folder / name) if self.folder is not None else name

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
            self.next_ts = float(data.get("next_ts", 0.0))
            files = dict(data["files"])
            if data.get("version", 1) < VERSION and self.folder is not None:
                # Version 1 keyed files by name alone, all of them in this camera's folder.
                files = {self.key(name): entry for name, entry in files.items()}
            return files
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
        entry = self.entries.get(self.key(name))
        return entry["state"] if entry else None

    def plan(self, name: str, seen: Seen) -> Plan:
        """Read this file (from where), or skip it? Decided from what was recorded of it and what it is now."""
        entry = self.entries.get(self.key(name))
        if entry is None:
            return Plan(True)
        state = entry["state"]
        if state == READING:
            if entry.get("head") not in (None, seen.head):
                return Plan(True, 0.0, "new content under a known name")
            return Plan(True, float(entry.get("pos", 0.0)))
        same = entry.get("size") == seen.size and entry.get("mtime_ns", seen.mtime_ns) == seen.mtime_ns
        if same:
            return Plan(False)
        if state == DONE and seen.size > entry.get("size", 0) and entry.get("head") == seen.head:
            return Plan(True, float(entry.get("read_s", 0.0)), "grew after it was read")
        return Plan(True, 0.0, "new content under a known name" if state == DONE else "changed since it failed")

    def mark(self, name: str, state: str, *, reason: str = "", seen: Seen | None = None, read_s: float = 0.0,
             next_ts: float | None = None) -> None:
        entry = {"state": state, "reason": reason, "at": round(time.time(), 3), "read_s": round(read_s, 6)}
        if seen is not None:
            entry.update(size=seen.size, mtime_ns=seen.mtime_ns, head=seen.head)
        self.entries[self.key(name)] = entry
        if next_ts is not None:
            self.next_ts = max(self.next_ts, next_ts)
        self._save()

    def progress(self, name: str, pos: float, next_ts: float, seen: Seen | None = None) -> None:
        """A file read up to `pos` seconds: a restart continues from there instead of repeating it."""
        entry = {"state": READING, "pos": round(pos, 6), "at": round(time.time(), 3)}
        if seen is not None:
            entry["head"] = seen.head
        self.entries[self.key(name)] = entry
        self.next_ts = max(self.next_ts, next_ts)
        self._save()

    def forget_missing(self, present: set[str]) -> None:
        """Drop entries of this folder's files that were deleted (they cannot come back under the ledger's
        eye), so the ledger stays as small as the folder; entries of other folders are kept."""
        if not present:
            return  # an empty listing may be an unmounted share: forgetting would replay every file
        keys = {self.key(name) for name in present}
        prefix = str(self.folder) + os.sep if self.folder is not None else ""
        gone = [key for key in self.entries if key not in keys and (not prefix or key.startswith(prefix))]
        if gone:
            for key in gone:
                del self.entries[key]
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
            json.dump({"version": VERSION, "next_ts": self.next_ts, "files": self.entries}, f, indent=0,
                      sort_keys=True)
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
