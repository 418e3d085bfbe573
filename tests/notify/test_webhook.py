"""`monitor notify` against a real HTTP receiver: exact filtering, signatures, retries, dead letters."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import pytest

from monitor.notify.bridge import start_workers
from monitor.notify.webhook import SIGNATURE_HEADER
from tests.notify.conftest import Receiver, make_alert, notify_config, xadd_alert
from tests.ui.test_browser import wait_for

SECRET = "hook-secret-0123456789"


def run_bridge(config):
    stop = threading.Event()
    workers = start_workers(config, stop)
    return stop, workers


def stop_bridge(stop, workers):
    stop.set()
    for w in workers:
        w.thread.join(10)
        w.route.close()


def pending(client, config) -> int:
    groups = client.xinfo_groups(f"{config.redis.prefix}alerts") if client.exists(f"{config.redis.prefix}alerts") else []
    return sum(g["pending"] for g in groups)


def alerts_of_every_kind():
    """Two cameras, three severities, two categories, all three phases."""
    out = []
    for n, (camera, severity, category) in enumerate([("gate-1", 2, "intrusion"), ("gate-1", 1, "fire_smoke"),
                                                      ("yard.2", 2, "intrusion"), ("yard.2", 0, "other")]):
        for phase in ("new", "update", "end"):
            out.append(make_alert(camera, severity=severity, phase=phase, n=n).model_copy(update={"category": category}))
    return out


def test_each_webhook_gets_exactly_the_alerts_its_filter_passes_and_each_body_is_signed(
        redis_config, redis_client, tmp_path):
    everything, critical = Receiver().start(), Receiver().start()
    config = notify_config(redis_config, tmp_path, f"""
  start: all
  webhooks:
    - {{name: everything, url: "{everything.url}", secret: {SECRET}}}
    - name: critical-gate
      url: "{critical.url}"
      secret: {SECRET}
      filter: {{min_severity: 2, cameras: [gate-1], categories: [intrusion], phases: [new, end]}}
""")
    alerts = alerts_of_every_kind()
    for alert in alerts:
        xadd_alert(redis_client, config, alert)
    stop, workers = run_bridge(config)
    try:
        wait_for(lambda: len(everything.received) == 12 and len(critical.received) == 2, 10, "every delivery")
        time.sleep(0.5)  # nothing more may come
    finally:
        stop_bridge(stop, workers)
        everything.stop()
        critical.stop()
    assert [a["message_id"] for a in everything.alerts()] == [a.message_id for a in alerts]
    assert [(a["camera"]["id"], a["phase"]) for a in critical.alerts()] == [("gate-1", "new"), ("gate-1", "end")]
    for headers, body in everything.received + critical.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
        assert headers["X-Monitor-Delivery"] == json.loads(body)["message_id"]
        wrong = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] != wrong
    group = redis_client.xinfo_groups(f"{config.redis.prefix}alerts")
    assert {g["name"]: g["pending"] for g in group} == {"notify:everything": 0, "notify:critical-gate": 0}


def test_a_receiver_that_keeps_failing_gets_the_alert_dead_lettered_after_n_attempts(
        redis_config, redis_client, tmp_path):
    failing = Receiver(status=500).start()
    config = notify_config(redis_config, tmp_path, f"""
  start: all
  attempts: 3
  backoff_initial: 0.05
  webhooks: [{{name: broken, url: "{failing.url}"}}]
""")
    alert = make_alert("gate-1")
    entry_id = xadd_alert(redis_client, config, alert)
    stop, workers = run_bridge(config)
    try:
        dead = wait_for(lambda: redis_client.xrange(f"{config.redis.prefix}notify:dead"), 10, "a dead letter")
    finally:
        stop_bridge(stop, workers)
        failing.stop()
    fields = dead[0][1]
    assert (fields["route"], fields["entry_id"], fields["attempts"]) == ("broken", entry_id, "3")
    assert "HTTP 500" in fields["error"]
    assert json.loads(fields["data"])["message_id"] == alert.message_id
    assert redis_client.xinfo_groups(f"{config.redis.prefix}alerts")[0]["pending"] == 0


@pytest.mark.slow
def test_a_receiver_down_for_30_seconds_loses_nothing(redis_config, redis_client, tmp_path):
    receiver = Receiver()  # not started: down
    config = notify_config(redis_config, tmp_path, f"""
  start: all
  attempts: 20
  backoff_initial: 0.5
  backoff_max: 4
  webhooks: [{{name: flaky, url: "{receiver.url}", secret: {SECRET}}}]
""")
    stop, workers = run_bridge(config)
    try:
        alerts = [make_alert("gate-1", n=i) for i in range(5)]
        for alert in alerts:
            xadd_alert(redis_client, config, alert)
        time.sleep(30)
        assert receiver.received == []
        receiver.start()
        wait_for(lambda: len(receiver.received) == 5, 15, "every alert once the receiver is back")
    finally:
        stop_bridge(stop, workers)
        receiver.stop()
    assert [a["message_id"] for a in receiver.alerts()] == [a.message_id for a in alerts]
    assert redis_client.xlen(f"{config.redis.prefix}notify:dead") == 0
    assert redis_client.xinfo_groups(f"{config.redis.prefix}alerts")[0]["pending"] == 0


def test_an_alert_in_retry_when_the_bridge_stops_is_delivered_after_its_restart(redis_config, redis_client, tmp_path):
    receiver = Receiver()
    config = notify_config(redis_config, tmp_path, f"""
  start: all
  backoff_initial: 0.2
  webhooks: [{{name: later, url: "{receiver.url}"}}]
""")
    alert = make_alert("gate-1")
    xadd_alert(redis_client, config, alert)
    stop, workers = run_bridge(config)
    try:
        wait_for(lambda: pending(redis_client, config) == 1, 5, "the alert in flight")
    finally:
        stop_bridge(stop, workers)
    assert pending(redis_client, config) == 1, "stopped mid-retry: not acknowledged"
    receiver.start()
    stop, workers = run_bridge(config)
    try:
        wait_for(lambda: len(receiver.received) == 1, 10, "the pending alert delivered after the restart")
    finally:
        stop_bridge(stop, workers)
        receiver.stop()
    assert receiver.alerts()[0]["message_id"] == alert.message_id


def test_webhooks_get_freshly_signed_evidence_urls(redis_config, redis_client, tmp_path, receiver):
    from urllib.parse import parse_qs, urlparse

    from monitor.evidence.urls import EvidenceSigner
    from tests.ui.conftest import evidence_files

    config = notify_config(redis_config, tmp_path, f"""
  start: all
  webhooks: [{{name: ops, url: "{receiver.url}"}}]
evidence: {{urls: {{base_url: "https://monitor.example.org", signing_key: url-secret-0123456789}}}}
""")
    evidence = evidence_files(config, "gate-1")
    xadd_alert(redis_client, config, make_alert("gate-1", evidence=evidence))  # stored without URLs
    stop, workers = run_bridge(config)
    try:
        wait_for(lambda: receiver.received, 10, "the delivery")
    finally:
        stop_bridge(stop, workers)
    url = urlparse(receiver.alerts()[0]["evidence"]["clip_url"])
    assert url.netloc == "monitor.example.org"
    q = parse_qs(url.query)
    path = EvidenceSigner(config.evidence.urls, config.evidence.dir).resolve(
        url.path.removeprefix("/evidence/"), q["exp"][0], q["sig"][0])
    assert str(path) == evidence.clip


def test_monitor_notify_delivers_and_exits_cleanly_on_sigterm(redis_config, redis_client, tmp_path, receiver):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config_file = tmp_path / "notify.yaml"
    config_file.write_text(f'redis: {{url: "{redis_config.url}", prefix: "{redis_config.prefix}"}}\n'
                           f'state_dir: "{tmp_path}"\n'
                           f'notify: {{start: all, webhooks: [{{name: ops, url: "{receiver.url}"}}]}}\n')
    alert = make_alert("gate-1")
    xadd_alert(redis_client, notify_config(redis_config, tmp_path, "  start: all"), alert)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "notify", "--config", str(config_file)], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: receiver.received, 30, "the delivery")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert receiver.alerts()[0]["message_id"] == alert.message_id
