"""The daemon's life: start, readiness, heartbeat, score-driven alerts, a clean stop that ends open alerts,
a fatal model error, run-time updates, config reloads and evidence retention. In process, with the
real tiny model (or the tiny model rigged to answer Yes or No), real files and the real Redis."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request

import pytest

import monitor.app.daemon as daemon_module
from monitor.inference.registry import create_backend
from monitor.app.daemon import Monitor
from monitor.keys import Keys
from monitor.schema import parse_entry
from tests.fixtures_media import write_h264
from tests.app.test_daemon import make_config, run_for
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def messages(client, stream):
    return [parse_entry(fields) for _, fields in client.xrange(stream)]


def http_status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code


class Running:
    """monitor.run in a thread, stopped and joined on exit."""

    def __init__(self, monitor: Monitor, **kwargs):
        self.monitor, self.stop, self.code = monitor, threading.Event(), None
        self.thread = threading.Thread(target=self._run, kwargs=kwargs, name="test-monitor")

    def _run(self, **kwargs):
        self.code = self.monitor.run(self.stop, **kwargs)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the monitor did not stop within 60 s"


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_a_model_that_answers_yes_alerts_and_one_that_answers_no_does_not(
        request, answer, redis_config, redis_client, tmp_path):
    model_dir = request.getfixturevalue("yes_model_dir" if answer == "Yes" else "no_model_dir")
    video = write_h264(tmp_path / "street.mp4", seconds=8, fps=15)
    config = make_config(redis_config, model_dir, tmp_path, [{"id": "street", "url": str(video), "pace": "fast"}])
    config.alerts.open_after = 1          # the default threshold (0.5) stays: the score must carry the decision
    config.evidence.enabled = False
    assert config.alerts.threshold == 0.5
    assert run_for(Monitor(config), exit_when_done=True) == 0

    keys = Keys(redis_config.prefix)
    scores = [m.score for m in messages(redis_client, keys.descriptions) if m.prompt_id == "anomaly"]
    alerts = messages(redis_client, keys.alerts)
    assert len(scores) >= 3
    if answer == "Yes":
        assert min(scores) > 0.99
        assert [a.phase for a in alerts][0] == "new"
        # The file ended while the alert was open: the stop ends it, so no subscriber waits for an `end` forever.
        assert alerts[-1].phase == "end" and {a.alert_id for a in alerts} == {alerts[0].alert_id}
        assert sum(a.phase == "new" for a in alerts) == 1
    else:
        assert max(scores) < 0.01
        assert alerts == []


def test_readyz_answers_503_until_warm_up_is_done_and_the_heartbeat_lives_while_running(
        redis_config, redis_client, tiny_model_dir, tmp_path, monkeypatch):
    video = write_h264(tmp_path / "v.mp4", seconds=4, fps=15)
    config = make_config(redis_config, tiny_model_dir, tmp_path,
                         [{"id": "cam-a", "url": str(video), "pace": "fast", "loop": True}])
    backend = create_backend(config.model)
    warmed, release = threading.Event(), threading.Event()
    real_warmup = backend.warmup

    def held_warmup(*args, **kwargs):
        warmed.set()
        assert release.wait(60)
        real_warmup(*args, **kwargs)

    monkeypatch.setattr(backend, "warmup", held_warmup)
    monitor = Monitor(config, backend=backend)
    heartbeat = Keys(redis_config.prefix).worker(monitor.worker_id)
    with Running(monitor) as running:
        assert warmed.wait(30)
        base = f"http://{monitor._http.address}"
        assert http_status(f"{base}/readyz") == 503
        assert http_status(f"{base}/healthz") == 200   # warming up is healthy, just not ready
        assert not redis_client.exists(heartbeat)
        release.set()
        assert wait_for(lambda: http_status(f"{base}/readyz") == 200, 60)
        assert wait_for(lambda: redis_client.exists(heartbeat), 10)
        assert 0 < redis_client.ttl(heartbeat) <= 3 * daemon_module.HEARTBEAT_S
    assert running.code == 0
    assert not redis_client.exists(heartbeat)             # a clean stop deletes it at once
    worker = [m for m in messages(redis_client, Keys(redis_config.prefix).status) if m.camera is None]
    assert [m.state for m in worker][-1] == "stopped" and "clean stop" in worker[-1].detail


def test_a_fatal_model_error_fails_healthz_and_exits_1(redis_config, redis_client, tiny_model_dir, tmp_path,
                                                       monkeypatch):
    import torch

    video = write_h264(tmp_path / "v.mp4", seconds=6, fps=15)
    config = make_config(redis_config, tiny_model_dir, tmp_path, [{"id": "cam-a", "url": str(video), "pace": "fast"}])
    backend = create_backend(config.model)
    real_warmup = backend.warmup

    def warmup_then_lose_the_device(*args, **kwargs):
        real_warmup(*args, **kwargs)

        def broken(*a, **k):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

        # What a lost CUDA context looks like to the engine; no CUDA here to lose (tests/gpu does it for real).
        monkeypatch.setattr(backend.engine.runner, "prepare", broken)
        monkeypatch.setattr(backend.engine, "device", torch.device("cuda"))

    monkeypatch.setattr(backend, "warmup", warmup_then_lose_the_device)
    monitor = Monitor(config, backend=backend)
    seen = []
    real_on_error = monitor._on_batch_error

    def on_error(requests, exc):  # the scheduler has marked itself fatal; the process is still up
        seen.append(http_status(f"http://{monitor._http.address}/healthz"))
        real_on_error(requests, exc)

    monitor.scheduler.on_error = on_error
    stop = threading.Event()
    threading.Timer(60, stop.set).start()   # a bound, should the fatal error not stop it
    started = time.monotonic()
    assert monitor.run(stop) == 1
    stop.set()
    assert time.monotonic() - started < 55
    assert seen == [503]
    worker = [m for m in messages(redis_client, Keys(redis_config.prefix).status) if m.camera is None]
    assert worker[-1].state == "stopped" and "fatal model error" in worker[-1].detail
    assert any(m.state == "error" and "FatalBackendError" in m.detail for m in worker)
    assert not redis_client.exists(Keys(redis_config.prefix).worker(monitor.worker_id))


def test_an_update_command_restarts_only_that_camera_with_its_new_settings(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    video = write_h264(tmp_path / "v.mp4", seconds=6, fps=15)
    cams = [{"id": "a", "url": str(video), "loop": True, "pace": "fast", "kind": "dashcam"},
            {"id": "b", "url": str(video), "loop": True, "pace": "fast"}]
    config = make_config(redis_config, tiny_model_dir, tmp_path, cams)
    config.control.allow_schemes = ["file"]          # the control stream may point at files under tmp_path only
    config.control.allow_paths = [str(tmp_path)]
    monitor = Monitor(config)
    keys = Keys(redis_config.prefix)

    def prompts_of(camera_id):
        return [parse_entry(f).prompt_id for _, f in redis_client.xrange(keys.descriptions)
                if parse_entry(f).camera.id == camera_id]

    with Running(monitor):
        assert wait_for(lambda: set(prompts_of("a")) == {"anomaly", "road"} and prompts_of("b"), 60)
        assert wait_for(lambda: monitor.control is not None and monitor.control._thread.is_alive(), 10)
        untouched = monitor.cameras["b"]
        time.sleep(1.5)  # the listener pins its start position at its first read (see test_control)
        updated = {"id": "a", "url": str(video), "loop": True, "pace": "fast", "kind": "fixed"}
        redis_client.xadd(keys.control, {"command": "update", "camera": json.dumps(updated)})
        assert wait_for(lambda: "a" in monitor.cameras and monitor.cameras["a"].camera.kind == "fixed", 30)
        # A fixed camera gets no road prompt: clips of the new settings bring the anomaly prompt alone.
        assert wait_for(lambda: prompts_of("a")[-3:] == ["anomaly"] * 3, 60)
        assert monitor.cameras["b"] is untouched
    states = [m.state for m in messages(redis_client, keys.status) if m.camera and m.camera.id == "a"]
    assert "updated" in states


def test_a_broken_config_file_on_reload_keeps_the_cameras_running(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    import yaml

    from monitor.config import load_config

    video = write_h264(tmp_path / "v.mp4", seconds=6, fps=15)
    config = make_config(redis_config, tiny_model_dir, tmp_path,
                         [{"id": "a", "url": str(video), "loop": True, "pace": "fast"}])
    path = tmp_path / "monitor.yaml"
    path.write_text("cameras: [{id: a, url: \n  - broken")
    reload_requested = threading.Event()
    monitor = Monitor(config)
    keys = Keys(redis_config.prefix)

    def worker_states():
        return [(m.state, m.detail) for m in messages(redis_client, keys.status) if m.camera is None]

    with Running(monitor, reload=lambda: load_config(path), reload_requested=reload_requested):
        assert wait_for(lambda: monitor.ready, 60)
        worker_a = monitor.cameras["a"]
        reload_requested.set()
        assert wait_for(lambda: any(s == "error" and "config reload failed" in d for s, d in worker_states()), 10)
        assert monitor.cameras["a"] is worker_a and worker_a._thread.is_alive()
        good = config.model_dump(mode="json")
        good["cameras"].append({"id": "c", "url": str(video), "loop": True, "pace": "fast"})
        path.write_text(yaml.safe_dump(good))
        reload_requested.set()
        assert wait_for(lambda: "c" in monitor.cameras, 20)
        assert monitor.cameras["a"] is worker_a
    states = [m.state for m in messages(redis_client, keys.status) if m.camera and m.camera.id == "c"]
    assert "added" in states


def test_old_evidence_is_pruned_while_the_daemon_runs(redis_config, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(daemon_module, "HEALTH_EVERY_S", 0.5)
    video = write_h264(tmp_path / "v.mp4", seconds=4, fps=15)
    config = make_config(redis_config, tiny_model_dir, tmp_path,
                         [{"id": "a", "url": str(video), "loop": True, "pace": "fast"}])
    config.evidence.dir = str(tmp_path / "evidence")
    config.evidence.max_age_hours = 24
    old = tmp_path / "evidence" / "a" / "2026-01-01" / "old.mp4"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x" * 1000)
    fresh = old.with_name("fresh.jpg")
    fresh.write_bytes(b"y" * 1000)
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    with Running(Monitor(config)):
        assert wait_for(lambda: not old.exists(), 60)
    assert fresh.exists()
