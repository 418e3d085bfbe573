"""An outbox belongs to its destination (Redis URL without password, and prefix): another never gets its messages."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from monitor.config.models import DeliveryConfig, RedisConfig
from monitor.publish import Destination, Publisher
from monitor.publish.destination import UNRECORDED, folder_for, held
from monitor.publish.outbox import Outbox
from monitor.schema import Status, rfc3339, stable_id, stream_fields
from tests.publish.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
FAST = DeliveryConfig(retry_seconds=0.2)


def status(i: int) -> Status:
    return Status(message_id=stable_id("dest", i), ts=rfc3339(time.time()), state=f"s{i}")


def queued_for(outbox_dir: Path, cfg: RedisConfig, n: int) -> list[Status]:
    """n messages that waited in the outbox because `cfg`'s Redis did not answer."""
    box = Outbox(folder_for(outbox_dir, Destination.of(cfg)), 10**6, 10**6)
    messages = [status(i) for i in range(n)]
    for m in messages:
        box.append("status", stream_fields("status", m), m.message_id)
    box.close()
    return messages


def ids_in(client, stream: str) -> list[str]:
    return [json.loads(f["data"])["message_id"] for _, f in client.xrange(stream)]


def test_the_destination_is_the_url_without_its_password_and_the_prefix():
    with_pw = Destination.of(RedisConfig(url="redis://:s3cret@10.0.0.5:6380/1", prefix="site:"))
    assert with_pw == Destination(url="redis://10.0.0.5:6380/1", prefix="site:")
    assert "s3cret" not in with_pw.name + str(with_pw)
    assert with_pw.name != Destination.of(RedisConfig(url="redis://10.0.0.5:6380/1", prefix="other:")).name


def test_messages_queued_for_one_destination_never_reach_another(redis_config, redis_client, tmp_path, caplog):
    # given messages that waited for a Redis that is gone (another URL)
    gone = RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", prefix=redis_config.prefix)
    waiting = queued_for(tmp_path, gone, 3)
    # when the next run publishes to the Redis that answers, under the same prefix
    with caplog.at_level(logging.WARNING, logger="monitor.publish.destination"):
        publisher = Publisher(redis_config, tmp_path, delivery=FAST)
    publisher.publish("status", status(99))
    assert publisher.flush(5)
    publisher.close()
    # then only its own message is there, and the others are reported and still on disk
    assert ids_in(redis_client, f"{redis_config.prefix}status") == [status(99).message_id]
    assert any("holds 3 messages for" in r.getMessage() and gone.url in r.getMessage() for r in caplog.records)
    [other] = held(tmp_path)
    assert other.destination == Destination.of(gone) and other.messages == 3
    # and a run under another prefix of the same Redis leaves them too
    Publisher(redis_config.model_copy(update={"prefix": redis_config.prefix + "x:"}), tmp_path, delivery=FAST).close()
    assert [h.messages for h in held(tmp_path)] == [len(waiting)]


def test_an_outbox_without_a_recorded_destination_is_reported_and_left(redis_config, redis_client, tmp_path):
    box = Outbox(tmp_path, 10**6, 10**6)  # the layout before destinations were recorded
    box.append("status", stream_fields("status", status(1)), status(1).message_id)
    box.close()
    Publisher(redis_config, tmp_path, delivery=FAST).close()
    assert redis_client.xlen(f"{redis_config.prefix}status") == 0
    assert [(h.name, h.messages) for h in held(tmp_path)] == [(UNRECORDED, 1)]


def outbox_command(tmp_path: Path, redis_config: RedisConfig, *args: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": redis_config.url, "prefix": redis_config.prefix},
                                   "state_dir": str(tmp_path / "state")}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR")}
    return subprocess.run([sys.executable, "-m", "monitor", "outbox", *args, "--config", str(cfg)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_outbox_list_flush_and_drop_are_explicit_and_send_messages_to_their_own_destination(
        redis_config, redis_client, tmp_path):
    outbox_dir = tmp_path / "state" / "outbox"
    # given messages for another prefix on this Redis, and messages for a Redis that is gone
    elsewhere = redis_config.model_copy(update={"prefix": redis_config.prefix + "elsewhere:"})
    waiting = queued_for(outbox_dir, elsewhere, 2)
    gone = RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", prefix="gone:", socket_timeout=0.5)
    queued_for(outbox_dir, gone, 1)
    listed = outbox_command(tmp_path, redis_config, "list")
    assert listed.returncode == 0 and "2 messages" in listed.stdout and "1 messages" in listed.stdout
    # when flushed: each to its own destination; the one whose Redis is away stays, exit 1
    flushed = outbox_command(tmp_path, redis_config, "flush", "--timeout", "2")
    assert flushed.returncode == 1, flushed.stdout + flushed.stderr
    assert ids_in(redis_client, f"{elsewhere.prefix}status") == [m.message_id for m in waiting]
    assert redis_client.xlen(f"{redis_config.prefix}status") == 0
    [left] = held(outbox_dir)
    assert left.destination == Destination.of(gone)
    # and drop deletes only the one named
    dropped = outbox_command(tmp_path, redis_config, "drop", left.name)
    assert dropped.returncode == 0 and held(outbox_dir) == []
    assert outbox_command(tmp_path, redis_config, "drop", "no-such").returncode == 2
