"""Redis stopped for 10 s during a burst of alerts: nothing lost, nothing twice, order kept."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from monitor.alerts import AlertEngine
from monitor.config.models import AlertsConfig, CameraConfig, DeliveryConfig, RedisConfig
from monitor.publish import Publisher
from tests.alerts.conftest import run_script

OUTAGE_S = 10.0


def burst_of_alerts(n_cameras: int, windows: int) -> list:
    """Real alert messages from the engine: cameras that keep opening, updating and ending alerts."""
    rules = AlertsConfig(threshold=0.5, open_after=1, close_after=1, cooldown_seconds=0, smoothing=1.0,
                         dedupe_seconds=0)
    engine = AlertEngine(rules)
    alerts = []
    for c in range(n_cameras):
        camera = CameraConfig(id=f"cam-{c}", url="rtsp://cam.local/s")
        script = [0.9 if (i // 3) % 2 == 0 else 0.1 for i in range(windows)]
        alerts += [a for _, a in run_script(engine, camera, script)]
    return alerts


@pytest.mark.slow
@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_redis_away_for_10_s_during_a_burst_loses_nothing_and_repeats_nothing(private_redis, tmp_path, how):
    # given a publisher on a private Redis and a burst of 300 alerts at 20 a second
    alerts = burst_of_alerts(n_cameras=6, windows=75)[:300]
    assert len(alerts) == 300
    cfg = RedisConfig(url=private_redis.url, prefix="test:outage:", socket_timeout=1.0)
    publisher = Publisher(cfg, tmp_path / "outbox", delivery=DeliveryConfig(retry_seconds=0.5))
    stopped = threading.Event()

    def outage():
        time.sleep(2.0)
        private_redis.stop() if how == "stopped" else private_redis.freeze()
        stopped.set()
        time.sleep(OUTAGE_S)
        private_redis.start() if how == "stopped" else private_redis.thaw()

    chaos = threading.Thread(target=outage)
    chaos.start()
    # when
    started = time.monotonic()
    for alert in alerts:
        publisher.publish("alert", alert)
        time.sleep(0.05)
    chaos.join()
    delivered = publisher.flush(timeout=30)
    publisher.close()
    # then
    assert stopped.is_set() and publisher.stats["queued"] > 0, "the outage must fall inside the burst"
    client = redis.Redis.from_url(private_redis.url, decode_responses=True)
    got = [json.loads(f["data"])["message_id"] for _, f in client.xrange("test:outage:alerts")]
    client.close()
    expected = [a.message_id for a in alerts]
    lost = len(set(expected) - set(got))
    duplicates = len(got) - len(set(got))
    print(f"\nRedis {how} {OUTAGE_S:.0f} s in a burst of {len(alerts)} alerts over {time.monotonic() - started:.1f} s: "
          f"direct {publisher.stats['direct']}, via outbox {publisher.stats['queued']} "
          f"(of which had landed {publisher.stats['already_landed']}), lost {lost}, "
          f"duplicates {duplicates}, in order {got == expected}")
    assert delivered
    assert lost == 0 and duplicates == 0
    assert got == expected
