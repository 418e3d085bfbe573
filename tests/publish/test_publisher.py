"""The Publisher: fans out, never raises, and delivers every message to Redis once, in order."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from monitor.config.models import DeliveryConfig, RedisConfig
from monitor.publish import Publisher
from monitor.schema import Status, parse_entry, rfc3339, stable_id, stream_fields

FAST = DeliveryConfig(retry_seconds=0.2)


def status(i: int, kind: str = "status") -> Status:
    return Status(message_id=stable_id("test", kind, i), ts=rfc3339(time.time()), state=f"s{i}")


def ids_in(client: redis.Redis, stream: str) -> list[str]:
    return [json.loads(fields["data"])["message_id"] for _, fields in client.xrange(stream)]


class ListSink:
    def __init__(self):
        self.got = []

    def publish(self, kind, message):
        self.got.append((kind, message.message_id))


class BrokenSink:
    def publish(self, kind, message):
        raise RuntimeError("boom")


def test_messages_go_straight_to_redis_and_to_every_sink(redis_config, redis_client, tmp_path):
    sink = ListSink()
    publisher = Publisher(redis_config, tmp_path, BrokenSink(), sink, delivery=FAST)
    messages = [status(i) for i in range(3)]
    for m in messages:
        publisher.publish("status", m)
    publisher.close()
    entries = redis_client.xrange(f"{redis_config.prefix}status")
    assert [parse_entry(f) for _, f in entries] == messages
    assert entries[0][1] == stream_fields("status", messages[0])
    assert sink.got == [("status", m.message_id) for m in messages]
    assert publisher.stats["direct"] == 3 and publisher.stats["sink_errors"] == 3


def test_publish_never_raises_and_never_stalls_while_redis_is_unreachable(tmp_path):
    from tests.publish.conftest import free_port

    cfg = RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", prefix="test:x:", socket_timeout=0.5)
    publisher = Publisher(cfg, tmp_path, delivery=FAST)
    started = time.monotonic()
    for i in range(50):
        publisher.publish("status", status(i))
    elapsed = time.monotonic() - started
    assert publisher.stats["queued"] == 50 and publisher.stats["direct"] == 0
    assert elapsed < 50 * cfg.socket_timeout / 3  # no publish waited out a connect timeout
    publisher.close(timeout=0.1)
    assert publisher.backlog > 0  # kept on disk for the next start


def test_an_outbox_left_by_a_crash_goes_out_first_without_repeating_what_had_landed(redis_config, redis_client,
                                                                                  tmp_path):
    # given an outbox of 5 records whose first 2 reached Redis before the process died
    from monitor.publish import Destination, Outbox
    from monitor.publish.destination import folder_for

    stream = f"{redis_config.prefix}status"
    box = Outbox(folder_for(tmp_path, Destination.of(redis_config)), 10**6, 10**6)
    early = [status(i) for i in range(5)]
    for m in early:
        box.append("status", stream_fields("status", m), m.message_id)
    for m in early[:2]:
        redis_client.xadd(stream, stream_fields("status", m))
    box.close()
    # when a new publisher starts on that outbox and publishes more
    publisher = Publisher(redis_config, tmp_path, delivery=FAST)
    late = [status(i) for i in range(5, 8)]
    for m in late:
        publisher.publish("status", m)
    assert publisher.flush(10)
    publisher.close()
    # then each message is in the stream once, old ones first
    assert ids_in(redis_client, stream) == [m.message_id for m in early + late]


def test_idempotent_xadd_is_off_on_a_server_without_it(redis_config, redis_client, tmp_path):
    publisher = Publisher(redis_config, tmp_path, delivery=FAST)
    publisher.publish("status", status(1))
    publisher.close()
    version = redis_client.info("server")["redis_version"]
    expected = tuple(int(p) for p in version.split(".")[:2]) >= (8, 6)
    assert publisher.redis._idmp is expected


class RecordingClient:
    """Stands in for a Redis 8.6 client: records the commands the sink sends."""

    def __init__(self, version: str):
        self.version, self.commands = version, []

    def info(self, section):
        return {"redis_version": self.version}

    def execute_command(self, *args):
        self.commands.append(args)
        return "1-0"

    def xadd(self, *args, **kwargs):
        self.commands.append(("XADD-plain", args[0]))
        return "1-0"


@pytest.mark.parametrize("version, idmp, acked", [("8.6.0", True, True), ("8.10.1", True, True),
                                                  ("8.2.1", False, True), ("7.2.4", False, False)])
def test_idempotent_xadd_and_acked_trimming_are_used_where_the_server_has_them(version, idmp, acked):
    from monitor.publish import RedisSink

    client = RecordingClient(version)
    sink = RedisSink(RedisConfig(prefix="p:"), client, idempotent="auto", producer_id="host-1")
    m = status(1)
    sink.publish("status", m)
    if idmp:  # XADD key [ACKED] [IDMP producer iid] MAXLEN ~ n * fields
        assert client.commands[0][:8] == ("XADD", "p:status", "ACKED", "IDMP", "host-1", m.message_id, "MAXLEN", "~")
    elif acked:
        assert client.commands[0][:5] == ("XADD", "p:status", "ACKED", "MAXLEN", "~")
    else:
        assert client.commands == [("XADD-plain", "p:status")]
    assert sink.trims_acked_only == acked


def test_concurrent_publishers_lose_nothing(redis_config, redis_client, tmp_path):
    publisher = Publisher(redis_config, tmp_path, delivery=FAST)
    threads = [threading.Thread(target=lambda t=t: [publisher.publish("status", status(t * 100 + i))
                                                    for i in range(50)]) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    publisher.close()
    got = ids_in(redis_client, f"{redis_config.prefix}status")
    assert sorted(got) == sorted(status(t * 100 + i).message_id for t in range(4) for i in range(50))


def test_a_sink_with_one_method_per_kind_gets_its_messages(redis_config, tmp_path):
    class Console:
        def __init__(self):
            self.lines = []

        def status(self, message):
            self.lines.append(message.state)

    console = Console()
    publisher = Publisher(redis_config, tmp_path, console, delivery=FAST)
    publisher.publish("status", status(1))
    publisher.close()
    assert console.lines == ["s1"] and publisher.stats["sink_errors"] == 0


def test_a_full_outbox_drops_and_counts_instead_of_raising(tmp_path):
    from tests.publish.conftest import free_port

    cfg = RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", prefix="test:x:", socket_timeout=0.5)
    publisher = Publisher(cfg, tmp_path, delivery=DeliveryConfig(outbox_max_mb=0.002, retry_seconds=0.2))
    for i in range(50):
        publisher.publish("alert", status(i))  # the outbox does not look inside; any message will do
    publisher.close(timeout=0.1)
    assert publisher.stats["queued"] > 0 and publisher.stats["dropped"] > 0
    assert publisher.stats["queued"] + publisher.stats["dropped"] == 50
    assert publisher.backlog <= 0.002 * 2**20


class RefusingClient(RecordingClient):
    def __init__(self, version: str, error: str):
        super().__init__(version)
        self.error = error

    def execute_command(self, *args):
        raise redis.ResponseError(self.error)


def test_a_server_that_claims_8_6_but_refuses_idmp_gets_plain_xadd():
    from monitor.publish import RedisSink

    client = RefusingClient("8.6.0", "ERR syntax error")
    sink = RedisSink(RedisConfig(prefix="p:"), client, idempotent="auto")
    sink.publish("status", status(1))
    sink.publish("status", status(2))
    assert client.commands == [("XADD-plain", "p:status")] * 2


def test_other_refusals_are_raised_and_idmp_stays_on():
    from monitor.publish import RedisSink

    client = RefusingClient("8.6.0", "OOM command not allowed when used memory > 'maxmemory'")
    sink = RedisSink(RedisConfig(prefix="p:"), client, idempotent="auto")
    with pytest.raises(redis.ResponseError):
        sink.publish("status", status(1))
    assert sink._idmp is True
