"""Workers announce themselves: a heartbeat key `{prefix}worker:<id>` with a TTL and a JSON summary."""

from __future__ import annotations

import json
from typing import Any

import redis

from monitor.keys import Keys


class Membership:
    def __init__(self, client: redis.Redis, keys: Keys, worker_id: str, ttl_s: float):
        self.client, self.keys, self.worker_id = client, keys, worker_id
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def beat(self, info: dict[str, Any]) -> None:
        """Say this worker is alive for one more TTL; `info` is what `monitor status` shows of it."""
        self.client.set(self.keys.worker(self.worker_id), json.dumps(info, separators=(",", ":")), px=self.ttl_ms)

    def leave(self) -> None:
        self.client.delete(self.keys.worker(self.worker_id))

    def live(self) -> set[str]:
        """Ids of the workers whose heartbeat has not expired (this one included once it has beaten)."""
        start = len(self.keys.worker(""))
        return {key[start:] for key in self.client.scan_iter(match=self.keys.workers_pattern, count=1000)}


def read_workers(client: redis.Redis, keys: Keys) -> dict[str, Any]:
    """worker id -> its heartbeat: the parsed JSON, or the plain text of a worker not in a cluster."""
    names = sorted(client.scan_iter(match=keys.workers_pattern, count=1000))
    start = len(keys.worker(""))
    workers: dict[str, Any] = {}
    for name, value in zip(names, client.mget(names) if names else []):
        if value is None:
            continue  # expired between the scan and the read
        try:
            workers[name[start:]] = json.loads(value)
        except ValueError:
            workers[name[start:]] = value
    return workers
