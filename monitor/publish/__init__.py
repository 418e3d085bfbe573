"""Sinks: every published message goes through one path that fans out to each sink."""

from monitor.publish.redis_sink import RedisSink, connect

__all__ = ["RedisSink", "connect"]
