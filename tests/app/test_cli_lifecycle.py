"""`monitor run` as an operator meets it: the bare demo, and the second signal that forces a stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
import yaml

from monitor.schema import parse_entry
from tests.fixtures_media import write_h264
from tests.app.test_cli import ROOT
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def spawn(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env or os.environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_at_exit(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.mark.timeout(330)
def test_bare_monitor_run_plays_the_bundled_demo_into_redis(tmp_path, redis_url):
    """No config: bundled footage, the demo model shipped in the package, descriptions on monitor:demo:,
    and nothing written into the user's model cache."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    stream = "monitor:demo:descriptions"       # the demo's fixed prefix; entries after `since` are this run's
    since = f"{int(time.time() * 1000)}-0"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = spawn("run", "--duration", "75", env=env)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    try:
        assert proc.wait(240) == 0, "".join(log[-40:])     # --duration stops it: the demo needs no input
    finally:
        stop_at_exit(proc)
    try:
        described = {parse_entry(f).camera.id for _, f in client.xrange(stream, min=since)}
    finally:
        client.close()
    assert described >= {"street-1", "road-1"}, "".join(log[-40:])
    assert not (tmp_path / "cache" / "monitor" / "tiny-llava-next-video").exists()  # the shipped model, not a random one


@pytest.mark.timeout(240)
def test_a_second_signal_forces_the_stop_with_exit_130(tmp_path, tiny_model_dir, redis_config, redis_client):
    video = write_h264(tmp_path / "v.mp4", seconds=4, fps=15)
    config = {"redis": {"url": redis_config.url, "prefix": redis_config.prefix},
              "model": {"id": str(tiny_model_dir), "max_new_tokens": 4},
              "window": {"seconds": 2, "stride": 1, "frames": 2}, "state_dir": str(tmp_path / "state"),
              "metrics": {"enabled": False},
              "cameras": [{"id": "one", "url": str(video), "loop": True, "pace": "fast"}]}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = spawn("run", "--config", str(path))
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: redis_client.xlen(f"{redis_config.prefix}descriptions") > 0
                        or proc.poll() is not None, 120, 0.3)
        assert proc.poll() is None, "".join(log)
        proc.send_signal(signal.SIGTERM)
        # Two signals sent at once reach Python as one: wait until the first is being acted on. The clean
        # stop then takes a while (the control listener's blocking read alone is up to a second).
        assert wait_for(lambda: any("stopping (again to force)" in line for line in log), 30, 0.005), "".join(log)
        proc.send_signal(signal.SIGTERM)       # the operator insists: no waiting for clips in flight
        assert proc.wait(30) == 130, "".join(log)
    finally:
        stop_at_exit(proc)
    assert any("second signal: stopping now" in line for line in log)
