"""When a dashcam upload was recorded: a time in its file name (a per-camera pattern such as
%Y%m%d_%H%M%S) or the container's creation_time; None when neither says."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import av

logger = logging.getLogger(__name__)

_FIELDS = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}", "%S": r"\d{2}",
           "%y": r"\d{2}", "%j": r"\d{3}", "%f": r"\d{1,6}", "%b": r"[A-Za-z]{3}", "%%": "%"}


def name_pattern(fmt: str) -> re.Pattern:
    """A regex that finds a strptime pattern's text anywhere in a file name."""
    out, i = "", 0
    while i < len(fmt):
        token = fmt[i:i + 2]
        if token in _FIELDS:
            out += f"({_FIELDS[token]})" if token != "%%" else "%"
            i += 2
        elif fmt[i] == "%":
            raise ValueError(f"{token!r} is not supported in a file-name time (use %Y %m %d %H %M %S %y %j %f %b)")
        else:
            out += re.escape(fmt[i])
            i += 1
    return re.compile(out)


def from_name(name: str, fmt: str, zone: str = "UTC") -> float | None:
    match = name_pattern(fmt).search(name)
    if not match:
        return None
    try:
        when = datetime.strptime(match.group(0), fmt)
    except ValueError:
        return None
    return when.replace(tzinfo=ZoneInfo(zone)).timestamp()


def from_container(path: Path) -> float | None:
    """The container's creation_time (MP4/MOV mvhd, Matroska DateUTC), if it says one."""
    try:
        with av.open(str(path)) as container:
            tags = dict(container.metadata)
            for stream in container.streams.video[:1]:
                tags.setdefault("creation_time", stream.metadata.get("creation_time", ""))
    except (av.error.FFmpegError, OSError) as exc:
        logger.debug("%s: no container metadata: %s", path.name, exc)
        return None
    text = (tags.get("creation_time") or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.year < 2000:
        return None  # 1904/1970: a camera whose clock was never set
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def recording_start(path: Path, name_format: str | None, zone: str = "UTC") -> tuple[float | None, str]:
    """(start time, where it came from) of an upload."""
    if name_format:
        start = from_name(path.name, name_format, zone)
        if start is not None:
            return start, "file name"
    start = from_container(path)
    return (start, "creation_time") if start is not None else (None, "")
