"""The outbox: an append-only, fsync'd file of messages that Redis did not take yet, read back in order."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from monitor.publish.fenced import Fence

logger = logging.getLogger(__name__)

_DATA = "outbox.jsonl"
_CURSOR = "outbox.cursor"


@dataclass(frozen=True)
class Record:
    kind: str
    fields: dict[str, str]
    message_id: str
    end: int  # file offset just past this record: where the cursor goes once it is delivered
    fence: Fence | None = None  # the lease it may be published under (workers sharing cameras)


class Outbox:
    """Records are JSON lines appended and fsync'd one by one; a cursor file holds the offset of the
    first one not yet delivered. When every record is delivered the file is emptied. Thread-safe."""

    def __init__(self, folder: Path | str, max_bytes: int, other_max_bytes: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.other_max_bytes = max_bytes, other_max_bytes
        self._lock = threading.Lock()
        self._data_path, self._cursor_path = self.folder / _DATA, self.folder / _CURSOR
        self._file = open(self._data_path, "ab")
        self._size = self._repair()
        self._cursor = self._read_cursor()
        self.dropped: dict[str, int] = {}
        if self.pending_bytes:
            logger.warning("outbox %s holds %d bytes from before; they go out first", self.folder, self.pending_bytes)

    @property
    def pending_bytes(self) -> int:
        return self._size - self._cursor

    def empty(self) -> bool:
        with self._lock:
            return self._size == self._cursor

    def append(self, kind: str, fields: dict[str, str], message_id: str, fence: Fence | None = None) -> bool:
        """Store one message durably; False (and counted in `dropped`) when the outbox is full for its kind."""
        record = {"kind": kind, "id": message_id, "fields": fields}
        if fence is not None:
            record["fence"] = [fence.lease_key, fence.token]
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        limit = self.max_bytes if kind == "alert" else min(self.other_max_bytes, self.max_bytes)
        with self._lock:
            if self.pending_bytes + len(line) > limit:
                self.dropped[kind] = self.dropped.get(kind, 0) + 1
                return False
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._size += len(line)
            return True

    def peek(self, limit: int) -> list[Record]:
        """The oldest `limit` records not yet delivered, in the order they were appended."""
        with self._lock:
            start, size = self._cursor, self._size
        records: list[Record] = []
        with open(self._data_path, "rb") as f:
            f.seek(start)
            offset = start
            while offset < size and len(records) < limit:
                line = f.readline()
                offset += len(line)
                record = _decode(line, offset)
                if record is None:  # unreadable: skip it rather than block every later message
                    logger.error("outbox: dropping an unreadable record ending at offset %d", offset)
                    records.append(Record("", {}, "", offset))
                else:
                    records.append(record)
        return records

    def confirm(self, record: Record) -> None:
        """Everything up to and including `record` was delivered."""
        with self._lock:
            self._cursor = max(self._cursor, record.end)
            if self._cursor < self._size:
                self._write_cursor()
                return
            # All delivered: the cursor goes to 0 on disk before the file is emptied, so a crash in
            # between re-sends (duplicates, dropped by id) rather than skips.
            self._cursor = 0
            self._write_cursor()
            self._file.truncate(0)
            self._size = 0

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _repair(self) -> int:
        """Cut a half-written last line (a crash mid-append); its message was never confirmed to anyone."""
        data_size = self._data_path.stat().st_size
        if data_size == 0:
            return 0
        with open(self._data_path, "rb") as f:
            data = f.read()
        if data.endswith(b"\n"):
            return data_size
        good = data.rfind(b"\n") + 1
        logger.warning("outbox: cutting a half-written record (%d bytes)", data_size - good)
        self._file.truncate(good)
        return good

    def _read_cursor(self) -> int:
        try:
            value = int(self._cursor_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            value = 0
        if not 0 <= value <= self._size:
            # A cursor past the data is left from a crash while emptying: everything is undelivered.
            value = 0
        return value

    def _write_cursor(self) -> None:
        tmp = self._cursor_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(str(self._cursor))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._cursor_path)


def pending_in(folder: Path | str) -> tuple[int, int]:
    """(messages, bytes) an outbox folder holds undelivered, read without opening it for writing."""
    folder = Path(folder)
    try:
        data = (folder / _DATA).read_bytes()
    except FileNotFoundError:
        return 0, 0
    try:
        cursor = int((folder / _CURSOR).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        cursor = 0
    if not 0 <= cursor <= len(data):
        cursor = 0
    rest = data[cursor:]
    return rest.count(b"\n"), len(rest)


def remove_files(folder: Path | str) -> None:
    """Delete an outbox's data and cursor (its messages are gone for good)."""
    for name in (_DATA, _CURSOR):
        (Path(folder) / name).unlink(missing_ok=True)


def move_files(source: Path | str, target: Path | str) -> None:
    """Move an outbox's data and cursor into `target` (which holds none)."""
    Path(target).mkdir(parents=True, exist_ok=True)
    for name in (_DATA, _CURSOR):
        if (Path(source) / name).exists():
            os.replace(Path(source) / name, Path(target) / name)


def _decode(line: bytes, end: int) -> Record | None:
    try:
        obj = json.loads(line)
        fence = Fence(str(obj["fence"][0]), str(obj["fence"][1])) if obj.get("fence") else None
        return Record(str(obj["kind"]), {str(k): str(v) for k, v in obj["fields"].items()}, str(obj["id"]), end,
                      fence)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
