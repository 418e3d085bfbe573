"""Sinks: every published message goes through one path that fans out to each sink."""

from monitor.publish.destination import Destination
from monitor.publish.outbox import Outbox
from monitor.publish.publisher import Publisher, Sink
from monitor.publish.redis_sink import RedisSink, connect

__all__ = ["Destination", "Outbox", "Publisher", "RedisSink", "Sink", "connect"]
