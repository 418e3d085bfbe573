"""One camera's thread: a source that fails with a bug is restarted, its status says why (masked),
and a stop ends the thread."""

from __future__ import annotations

import threading

import monitor.pipeline.camera as camera_module
import monitor.sources as sources
from monitor.pipeline.camera import CameraWorker
from monitor.config import validate
from tests.fixtures_media import write_h264
from tests.waiting import wait_for


def config_for(tmp_path, camera):
    return validate({"window": {"seconds": 2, "stride": 1, "frames": 2}, "state_dir": str(tmp_path / "state"),
                     "cameras": [camera]})


def test_a_source_that_fails_is_restarted_and_its_status_masks_credentials(tmp_path, monkeypatch):
    video = write_h264(tmp_path / "v.mp4", seconds=4, fps=10)
    config = config_for(tmp_path, {"id": "cam", "url": str(video), "pace": "fast"})
    monkeypatch.setattr(camera_module, "RESTART_DELAY_S", 0.1)
    real_open, opened = sources.open_source, []

    def open_failing_once(*args, **kwargs):
        # A bug in a source (not a camera fault, which sources handle themselves) cannot be made to
        # happen on purpose; the second and later opens are the real file source.
        opened.append(True)
        if len(opened) == 1:
            raise RuntimeError("decoder state lost for rtsp://admin:hunter2@10.0.0.5/live")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(sources, "open_source", open_failing_once)
    statuses, requests = [], []

    def submit(request, wait=False, stop=None):
        requests.append(request)
        return True

    worker = CameraWorker(config.cameras[0], config, submit, statuses.append)
    worker.start()
    assert wait_for(worker.finished.is_set, 30)
    assert len(opened) == 2
    errors = [s for s in statuses if s.state == "error"]
    assert len(errors) == 1 and "RuntimeError" in errors[0].detail
    assert "hunter2" not in errors[0].detail and "10.0.0.5" in errors[0].detail
    assert worker.clips == len(requests) >= 2           # the restarted source played the file
    assert [r.clip.seq for r in requests] == list(range(len(requests)))


def test_stop_ends_a_looping_camera_and_join_reports_it(tmp_path):
    video = write_h264(tmp_path / "v.mp4", seconds=2, fps=10)
    config = config_for(tmp_path, {"id": "cam", "url": str(video), "loop": True, "pace": "fast"})
    got = threading.Event()
    worker = CameraWorker(config.cameras[0], config, lambda r, wait=False, stop=None: got.set() or True,
                          lambda s: None)
    worker.start()
    assert got.wait(30)
    assert not worker.finished.is_set()                  # a looping file never finishes by itself
    worker.stop()
    assert worker.join(10) and worker.finished.is_set()
