"""Cameras added, removed and changed while the monitor runs: the control stream and config reloads."""

from __future__ import annotations

import json
import threading
import time

import pytest

from monitor.config import parse_config
from monitor.config.models import CameraConfig, ControlConfig
from monitor.app.control import ControlError, check_allowed, diff_cameras, parse_command, restart_needed
from monitor.app.daemon import Monitor
from monitor.schema import parse_entry
from tests.fixtures_media import write_h264
from tests.app.test_daemon import make_config
from tests.waiting import wait_for


def test_add_and_update_carry_a_validated_camera():
    change = parse_command({"command": "add", "camera": json.dumps({"id": "gate-2", "url": "rtsp://h/s"})})
    assert change.action == "add" and change.camera_id == "gate-2" and change.camera.kind == "fixed"


@pytest.mark.parametrize("fields, problem", [
    ({"command": "explode"}, "command must be add, remove or update"),
    ({"command": "remove"}, "remove needs camera_id"),
    ({"command": "add", "camera": "{not json"}, "camera is not JSON"),
    ({"command": "add", "camera": json.dumps({"id": "../x", "url": "u"})}, "camera.id:"),
    ({"command": "update", "camera": json.dumps({"id": "a", "url": "u", "colour": 1})}, "camera.colour: unknown key"),
])
def test_bad_commands_are_explained(fields, problem):
    with pytest.raises(ControlError) as err:
        parse_command(fields)
    assert problem in str(err.value)


@pytest.mark.parametrize("url, rules, problem", [
    ("/etc/passwd", ControlConfig(), "scheme 'file' is not in control.allow_schemes (rtsp, rtsps, http, https)"),
    ("file:///etc/passwd", ControlConfig(), "scheme 'file' is not in control.allow_schemes"),
    ("gopher://h/x", ControlConfig(), "scheme 'gopher' is not in control.allow_schemes"),
    ("HTTP://cam/x", ControlConfig(allow_schemes=["rtsp"]), "scheme 'http' is not in control.allow_schemes (rtsp)"),
    ("/srv/video/../../etc/passwd", ControlConfig(allow_schemes=["file"], allow_paths=["/srv/video"]),
     "is not under any of control.allow_paths"),
    ("/srv/videos-other/a.mp4", ControlConfig(allow_schemes=["file"], allow_paths=["/srv/video"]),
     "is not under any of control.allow_paths"),
])
def test_the_control_stream_opens_only_allowed_schemes_and_folders(url, rules, problem):
    with pytest.raises(ControlError) as err:
        check_allowed(CameraConfig(id="x", url=url), rules)
    assert problem in str(err.value)


def test_allowed_sources_pass_and_a_symlink_cannot_leave_an_allowed_folder(tmp_path):
    rules = ControlConfig(allow_schemes=["rtsp", "file"], allow_paths=[str(tmp_path / "videos")])
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "escape").symlink_to("/etc")
    check_allowed(CameraConfig(id="x", url="rtsp://u:p@cam/s"), rules)
    check_allowed(CameraConfig(id="x", url=str(tmp_path / "videos" / "a.mp4")), rules)
    check_allowed(CameraConfig(id="x", url=f"file://{tmp_path}/videos/dashcam"), rules)
    with pytest.raises(ControlError):
        check_allowed(CameraConfig(id="x", url=str(tmp_path / "videos" / "escape" / "passwd")), rules)


def test_a_reload_diff_names_each_camera_change():
    old = parse_config("cameras: [{id: a, url: x}, {id: b, url: y}, {id: c, url: z}]")
    new = parse_config("cameras: [{id: a, url: x}, {id: b, url: y2}, {id: d, url: w}]\nwindow: {stride: 2}")
    changes = {(c.action, c.camera_id) for c in diff_cameras(old, new)}
    assert changes == {("remove", "c"), ("add", "d"), ("update", "b")}
    assert restart_needed(old, new) == ["window"]


@pytest.mark.slow
def test_control_stream_adds_and_removes_cameras_without_a_restart(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    video = write_h264(tmp_path / "v.mp4", seconds=6, fps=15)
    first = {"id": "first", "url": str(video), "loop": True, "pace": "fast"}
    config = make_config(redis_config, tiny_model_dir, tmp_path, [first])
    config = config.model_copy(update={"control": ControlConfig(allow_schemes=["file"], allow_paths=[str(tmp_path)])})
    monitor = Monitor(config)
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,))
    thread.start()
    control = f"{redis_config.prefix}control"

    def cameras_described():
        return {parse_entry(f).camera.id for _, f in redis_client.xrange(f"{redis_config.prefix}descriptions")}

    def states(camera_id):
        return [m.state for m in (parse_entry(f) for _, f in redis_client.xrange(f"{redis_config.prefix}status"))
                if m.camera and m.camera.id == camera_id]

    try:
        assert wait_for(lambda: monitor.control is not None and "first" in cameras_described(), 30)
        time.sleep(1.5)  # the listener pins its start position at its first read
        second = {"id": "second", "url": str(video), "loop": True, "pace": "fast"}
        redis_client.xadd(control, {"command": "add", "camera": json.dumps(second)})
        redis_client.xadd(control, {"command": "launch"})
        outside = {"id": "outside", "url": "/etc/passwd"}
        redis_client.xadd(control, {"command": "add", "camera": json.dumps(outside)})
        assert wait_for(lambda: "second" in cameras_described(), 30)
        redis_client.xadd(control, {"command": "remove", "camera_id": "first"})
        assert wait_for(lambda: "removed" in states("first"), 15)
    finally:
        stop.set()
        thread.join(60)
    assert "added" in states("second")
    assert set(monitor.cameras) == {"second"}
    worker_errors = [parse_entry(f).detail for _, f in redis_client.xrange(f"{redis_config.prefix}status")
                     if parse_entry(f).camera is None and parse_entry(f).state == "error"]
    assert any("command must be add, remove or update" in d for d in worker_errors)
    assert any("'/etc/passwd' is not under any of control.allow_paths" in d for d in worker_errors)
    assert "outside" not in states("outside") and not states("outside")
