"""Writes messages to the Redis streams with XADD and approximate MAXLEN trimming."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from monitor.config.models import RedisConfig
from monitor.keys import Keys
from monitor.publish.fenced import Fence, FencedXadd
from monitor.redact import mask_url
from monitor.schema import Message, stream_fields

logger = logging.getLogger(__name__)

IDMP_SINCE = (8, 6)
# XADD ... ACKED: trimming keeps entries a consumer group has not acknowledged (never lost while pending).
ACKED_SINCE = (8, 2)


def connect(config: RedisConfig, *, retries: int | None = None) -> redis.Redis:
    """A client for `config.url` (password from the URL or `config.password`); strings in and out.
    `retries=0` turns off redis-py's own retries: XADD is not idempotent, and a caller with an outbox
    retries better itself (redis-py's default retries a refused connection for seconds)."""
    kwargs = {"decode_responses": True, "socket_timeout": config.socket_timeout,
              "socket_connect_timeout": config.socket_timeout, "health_check_interval": 30}
    if retries is not None:
        kwargs["retry"] = Retry(NoBackoff(), retries)
    if config.password:
        kwargs["password"] = config.password
    return redis.Redis.from_url(config.url, **kwargs)


def refuses_idmp(exc: redis.ResponseError) -> bool:
    """The server does not know XADD IDMP (a fork or a build that reports 8.6 without it)."""
    text = str(exc).lower()
    return "syntax" in text or "idmp" in text


class RedisSink:
    """One stream per message kind: description -> descriptions, alert -> alerts, status -> status."""

    def __init__(self, config: RedisConfig, client: redis.Redis | None = None, *, idempotent: str = "off",
                 producer_id: str = "monitor"):
        self.keys = Keys(config.prefix)
        self.client = client or connect(config)
        self._maxlen = {"description": config.descriptions_maxlen, "alert": config.alerts_maxlen,
                        "status": config.status_maxlen}
        self._streams = {"description": self.keys.descriptions, "alert": self.keys.alerts, "status": self.keys.status}
        self._where = mask_url(config.url)
        self._idmp: bool | None = False if idempotent == "off" else None  # None: not yet asked the server
        self._acked: bool | None = None
        self.producer_id = producer_id
        self._fenced_xadd: FencedXadd | None = None  # made on first use: only workers sharing cameras fence

    def stream(self, kind: str) -> str:
        return self._streams[kind]

    def publish(self, kind: str, message: Message) -> str:
        """XADD one entry; returns the stream entry id. Raises redis.RedisError when Redis is away."""
        return self.add(kind, stream_fields(kind, message), message.message_id)

    def add(self, kind: str, fields: dict[str, str], message_id: str, via: Any = None,
            fence: Fence | None = None) -> Any:
        """XADD prepared fields (on `via`, a pipeline, if given); with Redis 8.6+ as XADD IDMP, so a
        resend of the same message_id is not added twice (the server keeps recent ids for a while;
        consumers drop the rest by id). With a `fence`, the entry is added only while its lease token is
        current; the reply is then None for a refused entry."""
        target = via if via is not None else self.client
        if self._idmp is None or self._acked is None:
            self._ask_server()
        if fence is not None:
            return self._add_fenced(kind, fields, message_id, fence, via)
        acked = ["ACKED"] if self._acked else []
        flat = [part for pair in fields.items() for part in pair]
        if self._idmp:
            try:
                return target.execute_command("XADD", self._streams[kind], *acked, "IDMP", self.producer_id,
                                              message_id, "MAXLEN", "~", self._maxlen[kind], "*", *flat)
            except redis.ResponseError as exc:
                if not refuses_idmp(exc):
                    raise  # out of memory, read-only replica...: the outbox keeps the message
                self.disable_idmp(exc)
        if self._acked:
            try:
                return target.execute_command("XADD", self._streams[kind], "ACKED", "MAXLEN", "~",
                                              self._maxlen[kind], "*", *flat)
            except redis.ResponseError as exc:
                if "syntax" not in str(exc).lower():
                    raise
                logger.warning("XADD ACKED refused (%s); trimming by length from now on", exc)
                self._acked = False
        return target.xadd(self._streams[kind], fields, maxlen=self._maxlen[kind], approximate=True)

    def _add_fenced(self, kind: str, fields: dict[str, str], message_id: str, fence: Fence, via: Any) -> Any:
        """The fenced XADD, with IDMP and ACKED where the server has them (dropped when it refuses them)."""
        if self._fenced_xadd is None:
            self._fenced_xadd = FencedXadd(self.client)
        idmp = (self.producer_id, message_id) if self._idmp else None
        try:
            return self._fenced_xadd(self._streams[kind], fields, fence, maxlen=self._maxlen[kind], idmp=idmp,
                                     acked=bool(self._acked), via=via)
        except redis.ResponseError as exc:
            if idmp is not None and refuses_idmp(exc):
                self.disable_idmp(exc)
            elif self._acked and "syntax" in str(exc).lower():
                logger.warning("XADD ACKED refused (%s); trimming by length from now on", exc)
                self._acked = False
            else:
                raise
        return self._add_fenced(kind, fields, message_id, fence, via)

    @property
    def trims_acked_only(self) -> bool:
        """True when the server keeps pending entries through trimming (XADD ACKED, Redis 8.2+)."""
        return bool(self._acked)

    def disable_idmp(self, why: object) -> None:
        if self._idmp:
            logger.warning("XADD IDMP refused (%s); using plain XADD from now on", why)
        self._idmp = False

    def _ask_server(self) -> None:
        try:
            version = str(self.client.info("server").get("redis_version", "0"))
        except redis.ResponseError:  # INFO denied by an ACL: play safe
            version = "0"
        parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if self._idmp is None:
            self._idmp = parts >= IDMP_SINCE
            logger.info("Redis %s at %s: idempotent XADD %s", version, self._where,
                        "on" if self._idmp else "not available")
        self._acked = parts >= ACKED_SINCE
        if not self._acked:
            logger.info("Redis %s at %s: no XADD ACKED (8.2+); entries a consumer group has pending may be "
                        "trimmed, and are counted when they are (monitor_stream_trimmed_pending_total)",
                        version, self._where)

    def recent_ids(self, kind: str, count: int) -> set[str]:
        """message_ids of the newest `count` entries of a kind's stream: what a resend must not repeat."""
        ids = set()
        for _, fields in self.client.xrevrange(self._streams[kind], count=count):
            try:
                ids.add(json.loads(fields["data"])["message_id"])
            except (KeyError, ValueError, TypeError):
                continue
        return ids

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError as exc:
            logger.warning("Redis at %s does not answer: %s", self._where, exc)
            return False

    def close(self) -> None:
        self.client.close()
