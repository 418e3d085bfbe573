"""Evidence file names: derived from untrusted input (camera ids), so they can never leave the root."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_NAME_MAX = 48


class UnsafePath(ValueError):
    """A computed path resolved outside the evidence folder (a symlink planted in it, say)."""


def safe_name(raw: str) -> str:
    """Letters, digits, '_' and '-' only (no dots, so never '..'); a changed or cut name gets a hash of
    the original so that two ids never share a folder."""
    cleaned = _UNSAFE.sub("_", raw).strip("_-")[:_NAME_MAX] or "camera"
    if cleaned != raw:
        cleaned = f"{cleaned}-{hashlib.sha256(raw.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"
    return cleaned


def stamp(ts: float) -> str:
    """20261126T120000.123Z: sorts by time and is safe in every file system."""
    when = datetime.fromtimestamp(ts, tz=timezone.utc)
    return when.strftime("%Y%m%dT%H%M%S.") + f"{when.microsecond // 1000:03d}Z"


def evidence_base(root: Path, camera_id: str, ts: float) -> Path:
    """root/<camera>/<camera>_<stamp> (add .mp4 or .jpg); checked to lie inside root after resolving."""
    name = safe_name(camera_id)
    base = root / name / f"{name}_{stamp(ts)}"
    ensure_inside(root, base)
    return base


def ensure_inside(root: Path, path: Path) -> None:
    real_root = root.resolve()
    real = path.resolve()
    if real == real_root or not real.is_relative_to(real_root):
        raise UnsafePath(f"{path} resolves outside {root}")
