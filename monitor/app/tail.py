"""The subscriber side: follow a stream, alone or in a consumer group that acks and recovers after a crash."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Mapping, TextIO

import redis

from monitor.config import load_config, parse_config
from monitor.config.models import RedisConfig
from monitor.keys import Keys
from monitor.output import line_for
from monitor.publish.redis_sink import connect
from monitor.redact import mask_url
from monitor.schema import Alert, Message, parse_entry

logger = logging.getLogger(__name__)

BLOCK_MS = 1000  # how long one read waits, so `stop` is noticed within a second
BATCH = 100
_SEEN_MAX = 10_000  # message ids remembered to drop re-published duplicates
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # no terminal escapes from text a model wrote

Entry = tuple[str, dict[str, str]]


def redis_config_for(config_path: str | Path | None, environ: Mapping[str, str] | None = None) -> RedisConfig:
    """The Redis section `monitor run` would use: the file's, else the defaults, with the same environment
    overrides either way (MONITOR__REDIS__URL, MONITOR__REDIS__PREFIX, MONITOR_REDIS_URL, MONITOR_REDIS_PREFIX,
    MONITOR_REDIS_PASSWORD)."""
    if config_path is not None:
        return load_config(config_path, environ).redis
    return parse_config("", "<environment>", environ).redis


def follow(redis_cfg: RedisConfig, stream: str, *, as_json: bool, group: str | None, consumer: str,
           min_severity: int | None, out: TextIO = sys.stdout, stop: threading.Event | None = None,
           count: int | None = None, start: str = "$", claim_idle_ms: int = 30_000) -> int:
    """Print the messages of `stream` (descriptions, alerts or status) as they arrive, one a line, until
    `stop` is set or `count` were printed; returns how many were printed. With `group`, reads through
    that consumer group (created at `start` if missing): first this consumer's own pending entries,
    then entries other consumers left pending for `claim_idle_ms` (XAUTOCLAIM), then new ones; each
    entry is acknowledged after it is printed. `min_severity` keeps alerts of at least that severity
    (other streams have none and are not filtered). A message_id seen before is not printed again."""
    stop = stop or threading.Event()
    key = Keys(redis_cfg.prefix).stream(stream)
    client = connect(redis_cfg)
    reader: GroupReader | PlainReader | None = None
    seen = SeenIds(_SEEN_MAX)
    printed = 0
    logger.info("following %s at %s%s (Ctrl-C stops)", key, mask_url(redis_cfg.url),
                f" as {consumer} of consumer group {group}" if group else "")
    try:
        while not stop.is_set() and (count is None or printed < count):
            try:
                if reader is None:  # here, so that a Redis still starting up is waited for too
                    _say_if_missing(client, key, stream)
                    reader = (GroupReader(client, key, group, consumer, start, claim_idle_ms) if group
                              else PlainReader(client, key, start))
                # No more than is left to print: entries read through a group and not acknowledged would stay
                # pending to this consumer.
                for entry_id, fields in reader.read(BATCH if count is None else min(BATCH, count - printed)):
                    if _show(fields, seen, min_severity, as_json, out):
                        printed += 1
                    reader.ack(entry_id)
                    if count is not None and printed >= count:
                        break
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning("Redis does not answer (%s); retrying", exc)
                stop.wait(1.0)
    finally:
        client.close()
        if isinstance(reader, GroupReader) and reader.trimmed:
            logger.warning("%d entries pending in group %s had been trimmed from %s before being acknowledged "
                           "(lost to the group: raise the stream's maxlen or use Redis 8.2+)",
                           reader.trimmed, group, key)
    return printed


def _say_if_missing(client: redis.Redis, key: str, stream: str, scans: int = 20) -> None:
    """A stream that does not exist is most often a prefix that is not the publisher's: name the ones that exist."""
    if client.exists(key):
        return
    others: set[str] = set()
    cursor = 0
    for _ in range(scans):  # bounded: a large keyspace is not walked to the end
        cursor, keys = client.scan(cursor, match=f"*{stream}", count=1000, _type="STREAM")
        others.update(keys)
        if cursor == 0:
            break
    hint = f"; streams of that name under other prefixes: {', '.join(sorted(others)[:5])}" if others else ""
    logger.warning("%s does not exist yet: nothing was published under this prefix%s (MONITOR__REDIS__PREFIX sets "
                   "the prefix)", key, hint)


class PlainReader:
    """XREAD from `start`; remembers the last id so nothing between two reads is missed."""

    def __init__(self, client: redis.Redis, key: str, start: str):
        self.client, self.key, self.last = client, key, start

    def read(self, limit: int = BATCH) -> Iterator[Entry]:
        reply = self.client.xread({self.key: self.last}, count=limit, block=BLOCK_MS)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                self.last = entry_id
                yield entry_id, fields

    def ack(self, entry_id: str) -> None:
        pass


class GroupReader:
    """XREADGROUP in three stages: own pending (a restart after a crash), idle pending of others
    (XAUTOCLAIM), then new entries."""

    def __init__(self, client: redis.Redis, key: str, group: str, consumer: str, start: str, claim_idle_ms: int):
        self.client, self.key, self.group, self.consumer = client, key, group, consumer
        self.claim_idle_ms = claim_idle_ms
        self.stage = "own"
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self.trimmed = 0  # pending entries found without data: trimmed by MAXLEN before anyone acked them
        try:
            client.xgroup_create(key, group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, limit: int = BATCH) -> Iterator[Entry]:
        if self.stage == "own":
            yield from self._own_pending(limit)
        elif self.stage == "claim":
            yield from self._claim(limit)
        elif time.monotonic() >= self._next_claim:
            # Again now and then: a consumer that died a moment ago leaves entries not idle long enough yet.
            self.stage = "claim"
        else:
            reply = self.client.xreadgroup(self.group, self.consumer, {self.key: ">"}, count=limit, block=BLOCK_MS)
            for _, entries in reply or []:
                yield from entries

    def _own_pending(self, limit: int) -> Iterator[Entry]:
        # Id 0 re-reads what was delivered to this consumer and never acknowledged. Acked entries leave
        # the list, so each call starts at 0 again; an entry trimmed from the stream comes back empty.
        reply = self.client.xreadgroup(self.group, self.consumer, {self.key: "0"}, count=limit)
        entries = reply[0][1] if reply else []
        if not entries:
            self.stage = "claim"
            return
        for entry_id, fields in entries:
            if not fields:
                self._found_trimmed(1)
            yield entry_id, fields or {}

    def _claim(self, limit: int) -> Iterator[Entry]:
        cursor, entries, *deleted = self.client.xautoclaim(self.key, self.group, self.consumer, self.claim_idle_ms,
                                                          start_id=self._claim_cursor, count=limit)
        self._claim_cursor = cursor
        if deleted and deleted[0]:  # Redis 7+: pending ids whose entries were trimmed (XAUTOCLAIM drops them)
            self._found_trimmed(len(deleted[0]))
        if cursor == "0-0":
            self.stage = "new"
            self._next_claim = time.monotonic() + max(self.claim_idle_ms / 1000, 1.0)
        if entries:
            logger.info("took over %d entries other consumers of %s left pending", len(entries), self.group)
        for entry_id, fields in entries:
            yield entry_id, fields or {}

    def ack(self, entry_id: str) -> None:
        self.client.xack(self.key, self.group, entry_id)

    def _found_trimmed(self, n: int) -> None:
        self.trimmed += n
        logger.warning("%d pending entries of group %s were trimmed from %s before being acknowledged",
                       n, self.group, self.key)


class SeenIds:
    def __init__(self, limit: int):
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, message_id: str) -> bool:
        """True if the id is new."""
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return False
        self._ids[message_id] = None
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return True

    def forget(self, message_id: str) -> None:
        self._ids.pop(message_id, None)


def _show(fields: dict[str, str], seen: SeenIds, min_severity: int | None, as_json: bool, out: TextIO) -> bool:
    if not fields:
        return False  # trimmed from the stream while pending
    try:
        message = parse_entry(fields)
    except (KeyError, ValueError) as exc:
        logger.warning("skipping an entry that is not a monitor message: %s", exc)
        return False
    if not seen.add(message.message_id):
        return False
    if min_severity is not None and isinstance(message, Alert) and message.severity < min_severity:
        return False
    out.write((fields["data"] if as_json else line(message)) + "\n")
    out.flush()
    return True


def line(message: Message) -> str:
    """One readable line a message (the demo console's format), without control characters."""
    return " ".join(_CONTROL.sub(" ", line_for(message)).split())
