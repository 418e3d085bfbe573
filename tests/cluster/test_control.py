"""Control commands with shared cameras: every worker learns them; the camera's lease holder applies them."""

from __future__ import annotations

import json
import threading
import time

import pytest

from monitor.config import validate
from monitor.app.control import ControlListener
from monitor.app.daemon import Monitor
from monitor.keys import Keys
from monitor.schema import parse_entry
from tests.fixtures_media import write_h264
from tests.app.test_daemon import make_config
from tests.waiting import wait_for


def test_a_worker_that_reads_from_the_start_learns_every_earlier_command(redis_config, redis_client):
    keys = Keys(redis_config.prefix)
    redis_client.xadd(keys.control, {"command": "add", "camera": json.dumps({"id": "gate-2", "url": "rtsp://h/s"})})
    redis_client.xadd(keys.control, {"command": "remove", "camera_id": "gate-1"})
    seen = []
    listener = ControlListener(validate({"redis": redis_config.model_dump()}), seen.append, print, from_start=True)
    listener.start()
    try:
        assert listener.caught_up.wait(5)
    finally:
        listener.stop()
    assert [(c.action, c.camera_id) for c in seen] == [("add", "gate-2"), ("remove", "gate-1")]


@pytest.mark.slow
def test_commands_reach_every_worker_and_only_the_cameras_lease_holder_acts(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    keys = Keys(redis_config.prefix)
    video = write_h264(tmp_path / "v.mp4", seconds=4, fps=10)
    cams = [{"id": f"cam-{i}", "url": str(video), "loop": True} for i in range(2)]
    monitors, threads, stop = [], [], threading.Event()
    for name in ("worker-a", "worker-b"):
        config = make_config(redis_config, tiny_model_dir, tmp_path / name, cams, seconds=2, stride=1, frames=2)
        config.cluster = config.cluster.model_validate({"enabled": True, "lease_ttl_seconds": 3, "worker_id": name})
        config.evidence.enabled = False
        config.control = config.control.model_validate({"allow_schemes": ["file"], "allow_paths": [str(tmp_path)]})
        monitors.append(Monitor(config))
        threads.append(threading.Thread(target=monitors[-1].run, args=(stop,)))
        threads[-1].start()

    def holder(camera_id):
        token = redis_client.get(keys.lease(camera_id))
        return token.split("/")[0] if token else None

    def published(camera_id, kind="descriptions"):
        return [m for m in (parse_entry(f) for _, f in redis_client.xrange(getattr(keys, kind)))
                if m.camera and m.camera.id == camera_id]

    try:
        assert wait_for(lambda: {holder("cam-0"), holder("cam-1")} == {"worker-a", "worker-b"}, 60, 0.2)
        owner = holder("cam-0")
        updated = {**cams[0], "name": "Gate, renamed"}
        redis_client.xadd(keys.control, {"command": "update", "camera": json.dumps(updated)})
        assert wait_for(lambda: any(m.camera.name == "Gate, renamed" for m in published("cam-0")), 20, 0.2)
        assert {m.worker for m in published("cam-0", "status") if m.state == "updated"} == {owner}

        redis_client.xadd(keys.control, {"command": "add", "camera": json.dumps({**cams[0], "id": "cam-2"})})
        assert wait_for(lambda: published("cam-2"), 20, 0.2)
        redis_client.xadd(keys.control, {"command": "remove", "camera_id": "cam-1"})
        assert wait_for(lambda: any(m.state == "removed" for m in published("cam-1", "status")), 20, 0.2)
        removed_at = time.time()
        assert wait_for(lambda: holder("cam-1") is None, 5, 0.1)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert len({m.worker for m in published("cam-2")}) == 1  # one worker runs an added camera
    assert all(m.worker in ("worker-a", "worker-b") for m in published("cam-0"))
    late = [m for m in published("cam-1") if m.window.end > m.window.start and _seconds(m.ts) > removed_at + 0.5]
    assert not late
    assert all(m.state != "updated" for m in published("cam-1", "status"))


def _seconds(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
