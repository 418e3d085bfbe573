"""Which Redis and prefix an outbox belongs to: its messages wait for that destination and no other.

Each destination has its own folder under `delivery.outbox_dir`, named after its URL (without the
password) and prefix. A run delivers only its own destination's folder; the others stay on disk, are
reported at start, and go only by an explicit `monitor outbox flush` (to their own Redis) or
`monitor outbox drop`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from monitor.config.models import RedisConfig
from monitor.publish.outbox import move_files, pending_in, remove_files

logger = logging.getLogger(__name__)

_RECORD = "destination.json"
# Files an outbox wrote straight into outbox_dir before outboxes recorded their destination.
UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class Destination:
    url: str  # never with a password
    prefix: str

    @classmethod
    def of(cls, config: RedisConfig) -> "Destination":
        return cls(url=without_password(config.url), prefix=config.prefix)

    @property
    def name(self) -> str:
        """Folder name: readable, made unique by a hash of the URL and the prefix."""
        parts = urlsplit(self.url)
        readable = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{parts.hostname}_{parts.port or ''}{parts.path}_{self.prefix}")
        digest = hashlib.sha256(f"{self.url}\n{self.prefix}".encode()).hexdigest()[:10]
        return f"{readable.strip('_')[:60]}-{digest}"

    def __str__(self) -> str:
        return f"{self.url} prefix {self.prefix!r}"


@dataclass(frozen=True)
class Held:
    """Undelivered messages of one outbox folder."""
    name: str
    folder: Path
    destination: Destination | None  # None: written before destinations were recorded
    messages: int
    bytes: int

    def __str__(self) -> str:
        where = str(self.destination) if self.destination else "a destination that was not recorded"
        return f"{self.name}: {self.messages} messages ({self.bytes} bytes) for {where}"


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def folder_for(outbox_dir: Path | str, destination: Destination) -> Path:
    """The destination's outbox folder, created with its record on first use."""
    folder = Path(outbox_dir) / destination.name
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / _RECORD
    if not record.exists():
        record.write_text(json.dumps({"url": destination.url, "prefix": destination.prefix}) + "\n")
    return folder


def held(outbox_dir: Path | str, besides: Destination | None = None) -> list[Held]:
    """Every outbox under `outbox_dir` that holds undelivered messages, except `besides`' own."""
    root = Path(outbox_dir)
    found: list[Held] = []
    messages, size = pending_in(root)
    if size:
        found.append(Held(UNRECORDED, root, None, messages, size))
    for record in sorted(root.glob(f"*/{_RECORD}")):
        try:
            data = json.loads(record.read_text())
            destination = Destination(url=str(data["url"]), prefix=str(data["prefix"]))
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("outbox: unreadable %s; that folder is left alone", record)
            continue
        messages, size = pending_in(record.parent)
        if size and destination != besides:
            found.append(Held(record.parent.name, record.parent, destination, messages, size))
    return found


def report_held(outbox_dir: Path | str, current: Destination) -> None:
    """One warning per outbox that waits for another destination: it stays until a person decides."""
    for other in held(outbox_dir, besides=current):
        logger.warning("outbox %s holds %d messages for %s, not for this run's %s: they stay there "
                       "(`monitor outbox flush` sends them to their own Redis, `monitor outbox drop %s` deletes them)",
                       other.folder, other.messages,
                       other.destination or "a destination that was not recorded", current, other.name)


def adopt_unrecorded(outbox_dir: Path | str, destination: Destination) -> None:
    """Give the messages of an outbox without a recorded destination to `destination` (an explicit choice)."""
    target = folder_for(outbox_dir, destination)
    if pending_in(target)[1]:
        raise ValueError(f"the outbox of {destination} holds messages already: flush it first")
    move_files(outbox_dir, target)


def drop(outbox_dir: Path | str, name: str) -> Held:
    """Delete the undelivered messages of the outbox called `name` (see `held`); returns what was dropped."""
    for other in held(outbox_dir):
        if other.name == name:
            remove_files(other.folder)
            return other
    raise KeyError(name)
