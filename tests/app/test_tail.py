"""`monitor tail`: plain and consumer-group reading, acks, crash recovery, severity filter, output."""

from __future__ import annotations

import io
import json
import threading
import time

import redis

from monitor.alerts import AlertEngine
from monitor.config.models import AlertsConfig, CameraConfig
from monitor.schema import Alert, Evidence, stream_fields
from monitor.app.tail import follow
from tests.alerts.conftest import run_script


def make_alerts(n: int) -> list[Alert]:
    rules = AlertsConfig(threshold=0.5, open_after=1, close_after=1, cooldown_seconds=0, smoothing=1.0,
                         dedupe_seconds=0)
    camera = CameraConfig(id="gate-1", url="rtsp://cam.local/s")
    out = [a for _, a in run_script(AlertEngine(rules), camera, [0.9, 0.9, 0.1] * n)]
    return [a.model_copy(update={"severity": i % 3}) for i, a in enumerate(out[:n])]


def add(client, prefix: str, alerts: list[Alert]) -> None:
    for a in alerts:
        client.xadd(f"{prefix}alerts", stream_fields("alert", a))


def tail(redis_config, **kwargs) -> tuple[int, list[str]]:
    out = io.StringIO()
    options = dict(as_json=True, group=None, consumer="c1", min_severity=None, start="0")
    options.update(kwargs)
    n = follow(redis_config, "alerts", out=out, **options)
    return n, out.getvalue().splitlines()


def ids(lines: list[str]) -> list[str]:
    return [json.loads(line)["message_id"] for line in lines]


def test_json_output_is_the_data_of_each_entry_one_per_line(redis_config, redis_client):
    alerts = make_alerts(4)
    add(redis_client, redis_config.prefix, alerts)
    n, lines = tail(redis_config, count=4)
    assert n == 4 and lines == [a.model_dump_json() for a in alerts]


def test_human_output_is_one_readable_line_without_terminal_escapes(redis_config, redis_client):
    alert = make_alerts(1)[0].model_copy(update={"title": "Sign says \x1b[2J\nrm -rf", "text": "line1\nline2",
                                                 "evidence": Evidence(clip="/ev/a.mp4", image="/ev/a.jpg")})
    add(redis_client, redis_config.prefix, [alert])
    n, lines = tail(redis_config, count=1, as_json=False)
    assert n == 1 and len(lines) == 1
    assert "\x1b" not in lines[0] and "ALERT" in lines[0] and "gate-1" in lines[0] and "/ev/a.mp4" in lines[0]


def test_severity_filter_keeps_alerts_at_or_above_it(redis_config, redis_client):
    alerts = make_alerts(6)
    add(redis_client, redis_config.prefix, alerts)
    n, lines = tail(redis_config, count=2, min_severity=2)
    assert ids(lines) == [a.message_id for a in alerts if a.severity >= 2]


def test_a_message_published_twice_is_printed_once(redis_config, redis_client):
    alerts = make_alerts(3)
    add(redis_client, redis_config.prefix, [alerts[0], alerts[1], alerts[1], alerts[2]])
    n, lines = tail(redis_config, count=3)
    assert ids(lines) == [a.message_id for a in alerts]


def test_a_group_is_created_if_missing_and_each_entry_acknowledged(redis_config, redis_client):
    alerts = make_alerts(3)
    add(redis_client, redis_config.prefix, alerts)
    n, lines = tail(redis_config, count=3, group="ops")
    stream = f"{redis_config.prefix}alerts"
    assert n == 3
    assert redis_client.xpending(stream, "ops")["pending"] == 0
    # and a second read through the group sees nothing old
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    assert tail(redis_config, group="ops", stop=stop)[0] == 0


def test_after_a_crash_the_consumer_first_gets_what_it_had_not_acknowledged(redis_config, redis_client):
    # given a consumer that read 5 entries and crashed after acknowledging 2
    alerts = make_alerts(5)
    add(redis_client, redis_config.prefix, alerts)
    stream = f"{redis_config.prefix}alerts"
    redis_client.xgroup_create(stream, "ops", id="0")
    (_, delivered), = redis_client.xreadgroup("ops", "c1", {stream: ">"}, count=5)
    redis_client.xack(stream, "ops", delivered[0][0], delivered[1][0])
    # when it starts again, then it prints the rest, once, in order
    _, lines = tail(redis_config, count=3, group="ops", consumer="c1")
    assert ids(lines) == [a.message_id for a in alerts[2:]]
    assert redis_client.xpending(stream, "ops")["pending"] == 0


def test_count_reads_through_a_group_only_what_it_prints(redis_config, redis_client):
    add(redis_client, redis_config.prefix, make_alerts(10))
    stream = f"{redis_config.prefix}alerts"
    _, first = tail(redis_config, count=2, group="ops", consumer="c1")
    assert len(first) == 2 and redis_client.xpending(stream, "ops")["pending"] == 0
    _, rest = tail(redis_config, count=8, group="ops", consumer="c2")
    assert len(set(ids(first + rest))) == 10


def test_tail_group_says_how_many_pending_entries_were_trimmed(redis_config, redis_client, caplog):
    # given a group that read 6 entries without acknowledging them, 4 of which MAXLEN then trimmed
    alerts, stream = left_pending(redis_client, redis_config.prefix, 6, "c1")
    redis_client.xtrim(stream, maxlen=2, approximate=False)
    # when its consumer comes back, it prints the 2 that are left and says 4 were lost
    with caplog.at_level("WARNING", logger="monitor.app.tail"):
        n, lines = tail(redis_config, count=2, group="ops", consumer="c1")
    assert ids(lines) == [a.message_id for a in alerts[4:]]
    assert any("4 entries pending in group ops had been trimmed" in r.getMessage() for r in caplog.records)
    assert redis_client.xpending(stream, "ops")["pending"] == 0


def left_pending(client, prefix: str, n: int, consumer: str):
    """n alerts that `consumer` of group ops read and never acknowledged; returns them and the stream."""
    alerts = make_alerts(n)
    add(client, prefix, alerts)
    stream = f"{prefix}alerts"
    client.xgroup_create(stream, "ops", id="0")
    client.xreadgroup("ops", consumer, {stream: ">"}, count=10)
    return alerts, stream


def test_entries_a_dead_consumer_left_pending_are_claimed_by_another(redis_config, redis_client):
    alerts, stream = left_pending(redis_client, redis_config.prefix, 3, "dead")
    time.sleep(0.05)
    _, lines = tail(redis_config, count=3, group="ops", consumer="alive", claim_idle_ms=10)
    assert ids(lines) == [a.message_id for a in alerts]
    assert redis_client.xpending(stream, "ops")["pending"] == 0


def test_follow_prints_entries_that_arrive_while_it_waits(redis_config, redis_client):
    # A writer that keeps adding: whenever tail pins `$`, the next two entries arrive after it. (One burst
    # after a sleep raced tail's first read: written before it, they were never seen and tail waited forever.)
    alerts = make_alerts(40)
    written, done = [], threading.Event()

    def keep_writing():
        for alert in alerts:
            if done.is_set():
                return
            add(redis_client, redis_config.prefix, [alert])
            written.append(alert.message_id)
            time.sleep(0.1)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    stop = threading.Event()
    bound = threading.Timer(30, stop.set)    # tail returns what it has rather than waiting forever
    bound.start()
    try:
        n, lines = tail(redis_config, count=2, start="$", stop=stop)
    finally:
        done.set()
        bound.cancel()
        writer.join(5)
    got = ids(lines)
    assert n == 2 and len(got) == 2
    first = written.index(got[0])
    assert written[first:first + 2] == got


def test_tail_waits_for_a_redis_that_is_not_up_yet(tmp_path, redis_config):
    from tests.publish.conftest import PrivateRedis

    server = PrivateRedis(tmp_path)
    cfg = redis_config.model_copy(update={"url": server.url, "socket_timeout": 0.5})
    result = {}

    def run():
        result["n"] = tail(cfg, count=1, group="ops")[0]

    follower = threading.Thread(target=run, daemon=True)  # a follower that never returns must not hang the run
    follower.start()
    time.sleep(1.5)  # tail is retrying against a closed port by now
    server.start()
    try:
        add(redis.Redis.from_url(server.url, decode_responses=True), cfg.prefix, make_alerts(1))
        follower.join(timeout=10)
        assert result.get("n") == 1
    finally:
        server.stop()


def test_entries_a_consumer_left_a_moment_ago_are_claimed_once_idle_long_enough(redis_config, redis_client):
    # given a consumer that died just now holding 2 entries (too fresh for the first claim pass)
    alerts, stream = left_pending(redis_client, redis_config.prefix, 2, "dying")
    # when a follower starts at once, then a later claim pass takes them over
    started = time.monotonic()
    n, lines = tail(redis_config, count=2, group="ops", consumer="alive", claim_idle_ms=1000)
    assert ids(lines) == [a.message_id for a in alerts]
    assert time.monotonic() - started >= 1.0
    assert redis_client.xpending(stream, "ops")["pending"] == 0


def test_tail_reads_redis_settings_from_the_same_environment_overrides_as_run(tmp_path):
    from monitor.app.tail import redis_config_for

    assert redis_config_for(None, {}).prefix == "monitor:"
    assert redis_config_for(None, {"MONITOR__REDIS__PREFIX": "monitor:demo:"}).prefix == "monitor:demo:"
    assert redis_config_for(None, {"MONITOR_REDIS_PREFIX": "short:"}).prefix == "short:"
    both = {"MONITOR_REDIS_PREFIX": "short:", "MONITOR__REDIS__PREFIX": "long:"}
    assert redis_config_for(None, both).prefix == "long:"
    env = {"MONITOR__REDIS__URL": "redis://10.0.0.5:6380/2", "MONITOR_REDIS_PASSWORD": "pw"}
    assert (redis_config_for(None, env).url, redis_config_for(None, env).password) == ("redis://10.0.0.5:6380/2", "pw")
    site = tmp_path / "site.yaml"
    site.write_text('redis: {prefix: "site:"}\n')
    assert redis_config_for(site, {}).prefix == "site:"
    assert redis_config_for(site, {"MONITOR__REDIS__PREFIX": "other:"}).prefix == "other:"


def test_tail_says_which_stream_it_follows_and_names_streams_under_other_prefixes(redis_config, redis_client,
                                                                                 caplog):
    import logging

    add(redis_client, redis_config.prefix + "demo:", make_alerts(1))
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    with caplog.at_level(logging.INFO, logger=follow.__module__):
        assert tail(redis_config, stop=stop)[0] == 0
    said = [r.getMessage() for r in caplog.records]
    assert f"following {redis_config.prefix}alerts at {redis_config.url} (Ctrl-C stops)" in said
    missing = next(m for m in said if "does not exist yet" in m)
    assert f"{redis_config.prefix}demo:alerts" in missing
