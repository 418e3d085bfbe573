"""Lease scripts against the real Redis: only the token's holder renews or releases a camera's lease."""

from __future__ import annotations

import time

from monitor.cluster.leases import LeaseStore, new_token, token_owner
from monitor.keys import Keys


def store(redis_config, redis_client, ttl_s=2.0) -> LeaseStore:
    return LeaseStore(redis_client, Keys(redis_config.prefix), ttl_s)


def test_a_lease_is_taken_by_one_worker_only_until_it_expires(redis_config, redis_client):
    leases = store(redis_config, redis_client, ttl_s=0.3)
    a, b = new_token("host-1"), new_token("host-2")
    assert leases.acquire("cam-1", a)
    assert not leases.acquire("cam-1", b)
    assert leases.holders(["cam-1", "cam-2"]) == {"cam-1": a, "cam-2": None}
    time.sleep(0.45)
    assert leases.acquire("cam-1", b)
    assert redis_client.get(f"{redis_config.prefix}lease:cam-1") == b


def test_renewal_extends_only_the_holders_lease(redis_config, redis_client):
    leases = store(redis_config, redis_client, ttl_s=0.5)
    mine, stale = new_token("host-1"), new_token("host-1")
    assert leases.acquire("cam-1", mine) and leases.acquire("cam-2", new_token("host-2"))
    time.sleep(0.3)
    assert leases.renew({"cam-1": mine, "cam-2": stale, "cam-3": stale}) == {
        "cam-1": True, "cam-2": False, "cam-3": False}
    assert redis_client.pttl(f"{redis_config.prefix}lease:cam-1") > 400  # renewed to the full TTL
    assert redis_client.pttl(f"{redis_config.prefix}lease:cam-2") <= 200  # another's: left to expire
    assert not redis_client.exists(f"{redis_config.prefix}lease:cam-3")  # a stale token creates nothing


def test_only_the_holder_can_release_a_lease(redis_config, redis_client):
    leases = store(redis_config, redis_client)
    mine, theirs = new_token("host-1"), new_token("host-2")
    assert leases.acquire("cam-1", theirs)
    assert not leases.release("cam-1", mine)
    assert leases.holders(["cam-1"]) == {"cam-1": theirs}
    assert leases.release("cam-1", theirs)
    assert leases.holders(["cam-1"]) == {"cam-1": None}


def test_tokens_are_new_at_every_acquisition_and_name_their_worker():
    first, second = new_token("gpu-box-1234"), new_token("gpu-box-1234")
    assert first != second
    assert token_owner(first) == token_owner(second) == "gpu-box-1234"
