"""Camera leases in Redis: set-if-absent with a TTL, renewed and released only by the token's holder.

A lease key `{prefix}lease:<camera>` holds the owner's token, `<worker id>/<random>`: new at every
acquisition, so a worker that lost a lease and took it again later cannot renew or publish under
the old one. Renewal and release compare the token inside Redis (a Lua script), so a worker whose
lease expired and went to another can never extend or delete the new owner's.
"""

from __future__ import annotations

import uuid
from typing import Iterable

import redis

from monitor.keys import Keys

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def new_token(worker_id: str) -> str:
    return f"{worker_id}/{uuid.uuid4().hex[:16]}"


def token_owner(token: str) -> str:
    """The worker id a token was made for."""
    return token.rpartition("/")[0]


class LeaseStore:
    """Lease operations of one worker on one Redis; every call may raise redis.RedisError."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: float):
        self.client, self.keys = client, keys
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)

    def acquire(self, camera_id: str, token: str) -> bool:
        """Take the camera's lease if nobody holds it."""
        return bool(self.client.set(self.keys.lease(camera_id), token, nx=True, px=self.ttl_ms))

    def renew(self, leases: dict[str, str]) -> dict[str, bool]:
        """Extend each camera's lease (camera -> token) by the TTL, in one round trip; False: it is
        no longer ours (expired, or another worker's now)."""
        if not leases:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for camera_id, token in leases.items():
            self._renew(keys=[self.keys.lease(camera_id)], args=[token, self.ttl_ms], client=pipe)
        return {camera_id: bool(ok) for camera_id, ok in zip(leases, pipe.execute())}

    def release(self, camera_id: str, token: str) -> bool:
        """Give the lease up at once (others need not wait for the TTL); False if it was not ours."""
        return bool(self._release(keys=[self.keys.lease(camera_id)], args=[token]))

    def holders(self, camera_ids: Iterable[str]) -> dict[str, str | None]:
        """camera -> the token holding its lease, or None."""
        camera_ids = list(camera_ids)
        if not camera_ids:
            return {}
        return dict(zip(camera_ids, self.client.mget([self.keys.lease(c) for c in camera_ids])))
