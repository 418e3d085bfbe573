"""Writes messages to the Redis streams with XADD and approximate MAXLEN trimming."""

from __future__ import annotations

import logging

import redis

from monitor.config.models import RedisConfig
from monitor.keys import Keys
from monitor.redact import mask_url
from monitor.schema import Message, stream_fields

logger = logging.getLogger(__name__)


def connect(config: RedisConfig) -> redis.Redis:
    """A client for `config.url` (password from the URL or `config.password`); strings in and out."""
    kwargs = {"decode_responses": True, "socket_timeout": config.socket_timeout,
              "socket_connect_timeout": config.socket_timeout, "health_check_interval": 30}
    if config.password:
        kwargs["password"] = config.password
    return redis.Redis.from_url(config.url, **kwargs)


class RedisSink:
    """One stream per message kind: description -> descriptions, alert -> alerts, status -> status."""

    def __init__(self, config: RedisConfig, client: redis.Redis | None = None):
        self.keys = Keys(config.prefix)
        self.client = client or connect(config)
        self._maxlen = {"description": config.descriptions_maxlen, "alert": config.alerts_maxlen,
                        "status": config.status_maxlen}
        self._streams = {"description": self.keys.descriptions, "alert": self.keys.alerts, "status": self.keys.status}
        self._where = mask_url(config.url)

    def publish(self, kind: str, message: Message) -> str:
        """XADD one entry; returns the stream entry id. Raises redis.RedisError when Redis is away."""
        return self.client.xadd(self._streams[kind], stream_fields(kind, message),
                                maxlen=self._maxlen[kind], approximate=True)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError as exc:
            logger.warning("Redis at %s does not answer: %s", self._where, exc)
            return False

    def close(self) -> None:
        self.client.close()
