"""Retention of evidence files: by age first, then oldest first until the total size fits."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

SUFFIXES = (".mp4", ".mkv", ".jpg")
_STALE_TMP_SECONDS = 3600  # a .tmp left by a crash mid-write


def prune(root: Path, max_age_s: float, max_bytes: int, now: float | None = None,
          keep: frozenset[Path] = frozenset()) -> list[Path]:
    """Delete evidence files older than `max_age_s`, then the oldest until at most `max_bytes` remain.
    Files in `keep` (the ones just written) are never deleted. Returns what was deleted."""
    now = time.time() if now is None else now
    files = _evidence_files(root)
    removed = [p for p, mtime, _ in files if p not in keep and _expired(p, now - mtime, max_age_s)]
    alive = sorted((f for f in files if f[0] not in removed), key=lambda f: f[1])
    total = sum(size for _, _, size in alive)
    for path, _, size in alive:
        if total <= max_bytes:
            break
        if path not in keep:
            removed.append(path)
            total -= size
    for path in removed:
        path.unlink(missing_ok=True)
    _remove_empty_dirs(root)
    if removed:
        logger.info("evidence retention deleted %d files; %.1f MiB kept", len(removed), total / 2**20)
    return removed


def _expired(path: Path, age: float, max_age_s: float) -> bool:
    if path.name.endswith(".tmp"):
        return age > _STALE_TMP_SECONDS
    return age > max_age_s


def _evidence_files(root: Path) -> list[tuple[Path, float, int]]:
    found = []
    for dirpath, _, names in os.walk(root):  # os.walk does not follow symlinked folders
        for name in names:
            if not (name.endswith(SUFFIXES) or name.endswith(".tmp")):
                continue
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            found.append((path, st.st_mtime, st.st_size))
    return found


def _remove_empty_dirs(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        if Path(dirpath) != root and not dirnames and not filenames:
            try:
                os.rmdir(dirpath)
            except OSError:
                pass  # a writer just put a file there
