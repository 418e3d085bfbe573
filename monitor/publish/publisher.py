"""One publish path: every message fans out to each sink; Redis gets it at least once, in order."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import redis

from monitor.config.models import DeliveryConfig, RedisConfig
from monitor.publish.destination import Destination, folder_for, report_held
from monitor.publish.fenced import Fence
from monitor.publish.outbox import Outbox, Record
from monitor.publish.redis_sink import RedisSink, connect, refuses_idmp
from monitor.redact import mask_url
from monitor.schema import Message, stream_fields

logger = logging.getLogger(__name__)

_BATCH = 100  # outbox records sent in one pipeline while catching up


class Sink(Protocol):
    def publish(self, kind: str, message: Message) -> Any: ...


class Publisher:
    """`publish` never raises. While Redis answers, messages go straight to it; once an XADD fails,
    they go to the on-disk outbox of this destination (Redis URL and prefix; alerts first in line for
    its space), and a background thread sends the outbox in order as soon as Redis answers again;
    only then do messages go straight again.
    Other sinks (stdout, files) get every message; their errors are logged, never raised.
    A message with a `fence` (workers sharing cameras) lands only while that lease token is current;
    one refused by the fence is dropped and counted (`fenced`), never kept for later."""

    def __init__(self, redis_cfg: RedisConfig, outbox_dir: str | Path | None = None, *sinks: Sink,
                 delivery: DeliveryConfig | None = None, client: redis.Redis | None = None):
        self.delivery = delivery or DeliveryConfig()
        outbox_dir = outbox_dir or self.delivery.outbox_dir
        if not outbox_dir:
            raise ValueError("no outbox folder: pass outbox_dir or set delivery.outbox_dir")
        self.redis = RedisSink(redis_cfg, client or connect(redis_cfg, retries=0),
                               idempotent=self.delivery.idempotent_xadd,
                               producer_id=self.delivery.producer_id or socket.gethostname())
        mib = 2**20
        # The outbox belongs to this Redis and prefix: another destination's messages never go here.
        self.destination = Destination.of(redis_cfg)
        report_held(outbox_dir, self.destination)
        self.outbox = Outbox(folder_for(outbox_dir, self.destination), int(self.delivery.outbox_max_mb * mib),
                             int(self.delivery.outbox_other_max_mb * mib))
        self.sinks = sinks
        self.stats = {"direct": 0, "queued": 0, "flushed": 0, "already_landed": 0, "dropped": 0,
                      "sink_errors": 0, "fenced": 0, "not_owner": 0}
        self._where = mask_url(redis_cfg.url)
        self._lock = threading.Lock()  # one message at a time decides direct vs outbox: keeps the order
        self._unsure = not self.outbox.empty()  # a crash may have sent the head of the outbox already
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, name="outbox-flush", daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """Bytes waiting in the outbox (0 while Redis takes messages directly)."""
        return self.outbox.pending_bytes

    def publish(self, kind: str, message: Message, fence: Fence | None = None) -> None:
        for sink in self.sinks:
            try:
                _deliver(sink, kind, message)
            except Exception:  # one broken sink must not stop the others or the caller
                self.stats["sink_errors"] += 1
                logger.exception("sink %s failed on a %s message", type(sink).__name__, kind)
        fields = stream_fields(kind, message)
        with self._lock:
            if self.outbox.empty() and self._send_direct(kind, fields, message.message_id, fence):
                return
            try:
                kept = self.outbox.append(kind, fields, message.message_id, fence)
            except OSError as exc:  # disk full or gone: count it as a drop, never raise into the pipeline
                logger.error("outbox write failed: %s", exc)
                kept = False
            if kept:
                self.stats["queued"] += 1
            else:
                self._dropped(kind, message.message_id)
        self._wake.set()

    def refuse(self, kind: str, camera_id: str) -> None:
        """Count a message not sent because this worker does not own its camera (no lease to fence it with)."""
        self.stats["not_owner"] += 1
        logger.debug("%s message of camera %s not published: this worker does not own it", kind, camera_id)

    def _fenced(self, kind: str, message_id: str) -> None:
        self.stats["fenced"] += 1
        n = self.stats["fenced"]
        if n in (1, 10, 100) or n % 1000 == 0:
            logger.warning("%s message %s refused by its lease fence: the camera's lease is no longer this "
                           "worker's (%d refused so far)", kind, message_id, n)

    def _dropped(self, kind: str, message_id: str) -> None:
        self.stats["dropped"] += 1
        n = self.stats["dropped"]
        if n in (1, 10, 100) or n % 1000 == 0:  # one line per order of magnitude, not one per message
            logger.error("outbox full: %s message %s dropped (%d dropped so far)", kind, message_id, n)

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the outbox to empty; True if it did."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        while not self.outbox.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.outbox.empty()

    def close(self, timeout: float = 5.0) -> None:
        """Try to deliver the outbox for up to `timeout` s; what stays is sent at the next start."""
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=max(1.0, timeout))
        if self._thread.is_alive():
            # Still waiting on a frozen Redis: leave its files and socket open under it (it exits with the
            # process); every record is fsync'd already and is sent at the next start.
            logger.warning("Redis at %s did not answer in time; %d bytes stay in the outbox for the next start",
                           self._where, self.outbox.pending_bytes)
            return
        if not self.outbox.empty():
            logger.warning("%d bytes stay in the outbox for the next start", self.outbox.pending_bytes)
        self.outbox.close()
        self.redis.close()

    def _send_direct(self, kind: str, fields: dict[str, str], message_id: str, fence: Fence | None) -> bool:
        try:
            entry = self.redis.add(kind, fields, message_id, fence=fence)
            if fence is not None and entry is None:
                self._fenced(kind, message_id)
            else:
                self.stats["direct"] += 1
            return True
        except redis.RedisError as exc:
            logger.warning("Redis at %s unreachable (%s); messages go to the outbox until it answers",
                           self._where, exc)
            self._unsure = True  # the XADD may have landed before the connection broke
            return False

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.delivery.retry_seconds)
            self._wake.clear()
            while not self.outbox.empty() and not self._stop.is_set():
                if not self._flush_batch():
                    # Redis is still away: wait out the retry interval, whatever wakes us meanwhile.
                    self._stop.wait(self.delivery.retry_seconds)

    def _flush_batch(self) -> bool:
        """Send the next batch of the outbox in one pipeline; False when Redis is still away."""
        batch = self.outbox.peek(_BATCH)
        try:
            if self._unsure:
                batch = self._skip_landed(batch)
            pipe = self.redis.client.pipeline(transaction=False)
            sent = [record for record in batch if record.kind]  # an unreadable record only moves the cursor
            for record in sent:
                self.redis.add(record.kind, record.fields, record.message_id, via=pipe, fence=record.fence)
            replies = pipe.execute()
        except redis.ResponseError as exc:
            # Some of the batch may have landed; a server without XADD IDMP gets plain XADD from now on.
            if refuses_idmp(exc):
                self.redis.disable_idmp(exc)
            else:
                logger.warning("Redis refused the outbox batch: %s", exc)
            self._unsure = True
            return False
        except redis.RedisError as exc:
            self._unsure = True
            logger.debug("outbox flush failed: %s", exc)
            return False
        self._unsure = False
        if batch:
            for record, reply in zip(sent, replies):
                if record.fence is not None and reply is None:
                    self._fenced(record.kind, record.message_id)
                else:
                    self.stats["flushed"] += 1
            self._confirm(batch[-1])
            if self.outbox.empty():
                logger.info("Redis at %s answers again; the outbox is delivered", self._where)
        return True

    def _confirm(self, record: Record) -> None:
        with self._lock:
            self.outbox.confirm(record)

    def _skip_landed(self, batch: list[Record]) -> list[Record]:
        """Drop the leading records that reached their stream already (sent just before a failure);
        the pipeline runs in order, so what landed is always a prefix."""
        recent: dict[str, set[str]] = {}
        for i, record in enumerate(batch):
            if not record.kind:
                continue
            if record.kind not in recent:
                recent[record.kind] = self.redis.recent_ids(record.kind, 2 * _BATCH)
            if record.message_id not in recent[record.kind]:
                if i:
                    self._confirm(batch[i - 1])
                    self.stats["already_landed"] += i
                return batch[i:]
        self.stats["already_landed"] += len(batch)
        if batch:
            self._confirm(batch[-1])
        return []


def _deliver(sink: Any, kind: str, message: Message) -> None:
    """A sink has publish(kind, message), or one method per kind (a console printer's alert(message))."""
    publish = getattr(sink, "publish", None)
    if publish is not None:
        publish(kind, message)
    else:
        getattr(sink, kind)(message)
