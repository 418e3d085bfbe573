"""Pending entries that MAXLEN trimmed are found and counted, once each (Redis before 8.2 has no ACKED)."""

from __future__ import annotations

from monitor.publish.redis_sink import RedisSink
from monitor.publish.trim_watch import TrimWatch


def test_pending_entries_trimmed_by_maxlen_are_counted_once(redis_config, redis_client):
    stream = f"{redis_config.prefix}descriptions"
    for i in range(10):
        redis_client.xadd(stream, {"n": str(i)})
    redis_client.xgroup_create(stream, "ops", id="0")
    redis_client.xgroup_create(stream, "idle", id="$")  # nothing pending: nothing lost
    redis_client.xreadgroup("ops", "c1", {stream: ">"}, count=6)
    watch = TrimWatch()
    assert watch.check(redis_client, {"descriptions": stream}) == []

    redis_client.xtrim(stream, maxlen=6, approximate=False)  # entries 0..3 go, all pending in ops
    (line,) = watch.check(redis_client, {"descriptions": stream})
    assert "4 entries pending in group ops were trimmed" in line and watch.totals == {"descriptions": 4}
    assert watch.check(redis_client, {"descriptions": stream}) == []  # counted once

    redis_client.xtrim(stream, maxlen=3, approximate=False)  # 4, 5 pending go; 6..9 were never read
    watch.check(redis_client, {"descriptions": stream})
    assert watch.totals == {"descriptions": 6}


def test_the_sink_trims_only_acknowledged_entries_where_the_server_can(redis_config, redis_client):
    sink = RedisSink(redis_config)
    sink.add("status", {"type": "status", "data": "{}"}, "m1")
    version = tuple(int(p) for p in redis_client.info("server")["redis_version"].split(".")[:2])
    assert sink.trims_acked_only == (version >= (8, 2))
    assert redis_client.xlen(f"{redis_config.prefix}status") == 1
    sink.close()
