"""`monitor status`: the live workers, the cameras each holds and their lag, read from the real Redis."""

from __future__ import annotations

import json
import time

from monitor.app.cli import main
from monitor.cluster.leases import LeaseStore, new_token
from monitor.cluster.membership import Membership
from monitor.keys import Keys


def test_status_shows_each_worker_its_cameras_their_lag_and_orphaned_leases(
        redis_config, redis_client, monkeypatch, capsys):
    keys = Keys(redis_config.prefix)
    leases = LeaseStore(redis_client, keys, 10.0)
    now = time.time()
    Membership(redis_client, keys, "box-1-42", 10.0).beat(
        {"worker": "box-1-42", "beat": now, "cameras": {"gate-1": {"last_window_end": now - 6.0},
                                                         "gate-2": {"last_window_end": None}},
         "pending": 1, "p95_latency_s": 0.25, "publish_fenced": 3})
    redis_client.set(keys.worker("old-box-7"), "2026-12-01T00:00:00.000Z", ex=10)  # a worker not sharing cameras
    assert leases.acquire("gate-1", new_token("box-1-42")) and leases.acquire("gate-2", new_token("box-1-42"))
    assert leases.acquire("dock-9", new_token("gone-box-3"))
    monkeypatch.setenv("MONITOR_REDIS_URL", redis_config.url)
    monkeypatch.setenv("MONITOR_REDIS_PREFIX", redis_config.prefix)

    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "box-1-42  2 cameras" in text and "refused publishes 3" in text and "p95 0.25 s" in text
    assert "gate-1" in text and "lag 6." in text and "no result yet" in text
    assert "old-box-7  (runs every camera of its config" in text
    assert "lease of dock-9 held by gone-box-3, which has no heartbeat" in text

    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert 5.5 < status["workers"]["box-1-42"]["cameras"]["gate-1"]["lag_s"] < 8
    assert status["leases"]["gate-2"] == {"worker": "box-1-42", "expires_in_s": status["leases"]["gate-2"][
        "expires_in_s"], "worker_alive": True}
    assert 9 <= status["leases"]["gate-2"]["expires_in_s"] <= 10


def test_status_says_so_when_nothing_runs(redis_config, monkeypatch, capsys):
    monkeypatch.setenv("MONITOR_REDIS_URL", redis_config.url)
    monkeypatch.setenv("MONITOR_REDIS_PREFIX", redis_config.prefix)
    assert main(["status"]) == 0
    assert "no live worker" in capsys.readouterr().out
