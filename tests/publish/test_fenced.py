"""The fenced XADD against the real Redis: an entry lands only while its lease token is current."""

from __future__ import annotations

import json
import time

import redis

from monitor.cluster.leases import LeaseStore, new_token
from monitor.config.models import DeliveryConfig
from monitor.keys import Keys
from monitor.publish import Publisher
from monitor.publish.fenced import Fence, FencedXadd
from monitor.schema import Status, rfc3339, stable_id

FAST = DeliveryConfig(retry_seconds=0.2)


def status(i: int) -> Status:
    return Status(message_id=stable_id("fenced", i), ts=rfc3339(time.time()), state=f"s{i}")


def test_the_script_appends_only_under_the_current_token(redis_config, redis_client):
    keys = Keys(redis_config.prefix)
    leases = LeaseStore(redis_client, keys, 5.0)
    mine, theirs = new_token("host-1"), new_token("host-2")
    xadd, stream = FencedXadd(redis_client), keys.descriptions
    fence = Fence(keys.lease("cam-1"), mine)

    assert xadd(stream, {"n": "0"}, fence, maxlen=1000) is None  # no lease at all
    assert leases.acquire("cam-1", mine)
    entry = xadd(stream, {"n": "1", "data": "{}"}, fence, maxlen=1000)
    assert entry and redis_client.xrange(stream) == [(entry, {"n": "1", "data": "{}"})]

    redis_client.delete(keys.lease("cam-1"))  # expired while this worker was paused...
    assert leases.acquire("cam-1", theirs)  # ...and another worker took the camera
    assert xadd(stream, {"n": "2"}, fence, maxlen=1000) is None
    assert xadd(stream, {"n": "3"}, Fence(keys.lease("cam-1"), theirs), maxlen=1000)
    assert [f["n"] for _, f in redis_client.xrange(stream)] == ["1", "3"]


def test_the_script_trims_the_stream_like_a_plain_xadd(redis_config, redis_client):
    keys = Keys(redis_config.prefix)
    token = new_token("host-1")
    LeaseStore(redis_client, keys, 5.0).acquire("cam-1", token)
    xadd = FencedXadd(redis_client)
    for i in range(400):
        xadd(keys.status, {"n": str(i)}, Fence(keys.lease("cam-1"), token), maxlen=100)
    assert 100 <= redis_client.xlen(keys.status) < 400


def test_a_refused_message_is_counted_and_never_kept_for_later(redis_config, redis_client, tmp_path):
    keys = Keys(redis_config.prefix)
    mine = new_token("host-1")
    LeaseStore(redis_client, keys, 5.0).acquire("cam-1", mine)
    publisher = Publisher(redis_config, tmp_path, delivery=FAST)
    publisher.publish("status", status(1), fence=Fence(keys.lease("cam-1"), mine))
    publisher.publish("status", status(2), fence=Fence(keys.lease("cam-1"), new_token("host-1")))
    publisher.publish("status", status(3))  # no camera lease involved: plain XADD
    assert publisher.outbox.empty()
    publisher.close()
    landed = [json.loads(f["data"])["state"] for _, f in redis_client.xrange(keys.status)]
    assert landed == ["s1", "s3"]
    assert publisher.stats["fenced"] == 1 and publisher.stats["direct"] == 2 and publisher.stats["queued"] == 0


def test_the_outbox_keeps_each_messages_fence_and_redis_judges_it_on_delivery(private_redis, tmp_path):
    from monitor.config.models import RedisConfig

    cfg = RedisConfig(url=private_redis.url, prefix="test:fence:", socket_timeout=0.5)
    client = redis.Redis.from_url(private_redis.url, decode_responses=True)
    keys = Keys(cfg.prefix)
    kept, lost = new_token("host-1"), new_token("host-1")
    leases = LeaseStore(client, keys, 30.0)
    assert leases.acquire("cam-kept", kept) and leases.acquire("cam-lost", lost)
    publisher = Publisher(cfg, tmp_path / "outbox", delivery=FAST)
    private_redis.stop()
    publisher.publish("status", status(1), fence=Fence(keys.lease("cam-kept"), kept))
    publisher.publish("status", status(2), fence=Fence(keys.lease("cam-lost"), lost))
    assert publisher.stats["queued"] == 2
    private_redis.start()
    leases.release("cam-lost", lost)  # the lease went elsewhere while Redis was away
    assert publisher.flush(10.0)
    publisher.close()
    landed = [json.loads(f["data"])["state"] for _, f in client.xrange(keys.status)]
    client.close()
    assert landed == ["s1"]
    assert publisher.stats["flushed"] == 1 and publisher.stats["fenced"] == 1
