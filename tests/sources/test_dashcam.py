"""Dashcam folders: each file exactly once across restarts, late arrivals, hostile files reported once."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from monitor.config.models import CameraConfig
from monitor.sources import open_source
from monitor.sources.dashcam import DashcamSource
from tests.fixtures_media import (write_absurd_size, write_corrupt, write_h264, write_not_video, write_truncated,
                                  write_zero_bytes)

FRAMES_PER_FILE = 10  # 1 s at 10 fps


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return write_h264(tmp_path_factory.mktemp("media") / "good.mp4", width=160, height=120, fps=10, seconds=1)


def dashcam(folder: Path, state: Path, settings):
    cam = CameraConfig(id="truck-7", url=str(folder) + "/", kind="dashcam", pace="fast")
    return lambda **kw: open_source(cam, settings, state_dir=state, **kw)


def done_files(run) -> list[str]:
    return [s.detail.split(":")[0] for s in run.statuses if s.state == "file_done"]


def test_open_source_picks_the_dashcam_source_for_a_folder(tmp_path, fast_settings):
    assert isinstance(dashcam(tmp_path, tmp_path / "state", fast_settings)(), DashcamSource)


def test_each_file_is_read_exactly_once_across_a_restart(tmp_path, good, fast_settings, run_source):
    # given a folder with two files
    folder, state = tmp_path / "up", tmp_path / "state"
    folder.mkdir()
    for name in ("2026-01-01_0001.mp4", "2026-01-01_0002.mp4"):
        shutil.copy(good, folder / name)
    # when a first source reads them and stops
    first = run_source(dashcam(folder, state, fast_settings))
    assert first.wait_for(lambda: len(done_files(first)) == 2, 10)
    first.finish()
    # and a new source starts on the same state_dir, and a third file arrives later
    second = run_source(dashcam(folder, state, fast_settings))
    time.sleep(0.6)
    shutil.copy(good, folder / "2026-01-01_0003.mp4")
    assert second.wait_for(lambda: len(done_files(second)) == 1, 10)
    time.sleep(0.5)
    second.finish()
    # then the first two were read once, by the first source only; the late one once, by the second
    assert done_files(first) == ["2026-01-01_0001.mp4", "2026-01-01_0002.mp4"]
    assert done_files(second) == ["2026-01-01_0003.mp4"]
    assert len(first.frames) == 2 * FRAMES_PER_FILE and len(second.frames) == FRAMES_PER_FILE
    ledger = json.loads((state / "truck-7" / "dashcam-ledger.json").read_text())
    assert {k: v["state"] for k, v in ledger["files"].items()} == {
        str(folder / "2026-01-01_0001.mp4"): "done", str(folder / "2026-01-01_0002.mp4"): "done",
        str(folder / "2026-01-01_0003.mp4"): "done"}
    # and camera time runs on across files
    ts = [f.ts for f in first.frames + second.frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_a_file_still_being_written_waits_until_it_settles(tmp_path, good, fast_settings, run_source):
    folder = tmp_path / "up"
    folder.mkdir()
    settings = fast_settings.model_copy(update={"settle_seconds": 1.0})
    run = run_source(dashcam(folder, tmp_path / "state", settings))
    data = good.read_bytes()
    target = folder / "growing.mp4"
    for i in range(1, 5):  # an upload in four pieces, 0.3 s apart
        target.write_bytes(data[: len(data) * i // 4])
        time.sleep(0.3)
    assert run.wait_for(lambda: "file_done" in run.states(), 5)
    run.finish()
    assert "file_failed" not in run.states()
    assert len(run.frames) == FRAMES_PER_FILE


def test_hostile_files_are_reported_once_each_and_good_files_still_processed(tmp_path, good, fast_settings,
                                                                             run_source):
    folder, state = tmp_path / "up", tmp_path / "state"
    folder.mkdir()
    shutil.copy(good, folder / "a_good.mp4")
    write_zero_bytes(folder / "b_zero.mp4")
    write_truncated(folder / "c_truncated.mp4", good)
    write_not_video(folder / "d_not_video.mp4")
    write_absurd_size(folder / "e_absurd_32768.mp4", 32768, 32768)
    write_absurd_size(folder / "f_absurd_8192.mp4", 8192, 8192)
    write_corrupt(folder / "g_corrupt.mp4", good)
    shutil.copy(good, folder / "h_good.mp4")
    (folder / "notes.txt").write_text("not a video, whatever its name: reported once too")
    run = run_source(dashcam(folder, state, fast_settings))
    assert run.wait_for(lambda: len(done_files(run)) + run.states().count("file_failed") == 9, 20)
    time.sleep(0.5)  # a few more scans: nothing may be reported twice
    run.finish()
    assert run.error is None
    failed = {s.detail.split(":")[0]: s.detail for s in run.statuses if s.state == "file_failed"}
    assert set(failed) >= {"b_zero.mp4", "c_truncated.mp4", "d_not_video.mp4", "e_absurd_32768.mp4",
                           "f_absurd_8192.mp4", "notes.txt"}
    assert "8192x8192" in failed["f_absurd_8192.mp4"] and "exceeds" in failed["f_absurd_8192.mp4"]
    assert {"a_good.mp4", "h_good.mp4"} <= set(done_files(run))
    names = done_files(run) + list(failed)
    assert len(names) == len(set(names)) == 9  # the corrupt one either way, but once
    # failed files are remembered too: a restart does not report them again
    again = run_source(dashcam(folder, state, fast_settings))
    time.sleep(0.8)
    again.finish()
    assert "file_failed" not in again.states() and "file_done" not in again.states()


def test_a_missing_folder_is_reported_and_waited_for(tmp_path, good, fast_settings, run_source):
    folder = tmp_path / "not-yet"
    run = run_source(dashcam(folder, tmp_path / "state", fast_settings))
    assert run.wait_for(lambda: "error" in run.states(), 3)
    folder.mkdir()
    shutil.copy(good, folder / "x.mp4")
    assert run.wait_for(lambda: "file_done" in run.states(), 10)
    run.finish()
    assert run.states().count("error") == 1


def test_a_file_stopped_partway_continues_after_a_restart_without_repeating_frames(tmp_path, fast_settings,
                                                                                   run_source):
    # given a 3 s file (30 frames) played at real-time pace
    folder, state = tmp_path / "up", tmp_path / "state"
    folder.mkdir()
    write_h264(folder / "trip.mp4", width=160, height=120, fps=10, seconds=3)
    cam = CameraConfig(id="truck-7", url=str(folder), kind="dashcam", pace="realtime")
    factory = lambda **kw: open_source(cam, fast_settings, state_dir=state, **kw)  # noqa: E731
    # when the monitor stops 1 s into it and starts again
    first = run_source(factory)
    assert first.wait_for(lambda: len(first.frames) >= 10, 5)
    first.finish()
    second = run_source(factory)
    assert second.wait_for(lambda: "file_done" in second.states(), 6)
    second.finish()
    # then every frame was handed on exactly once, in camera-time order
    assert 10 <= len(first.frames) < 30
    assert len(first.frames) + len(second.frames) == 30
    assert second.frames[0].ts > first.frames[-1].ts
    assert any("from" in s.detail for s in second.statuses if s.state == "online")


def test_a_failed_file_is_tried_again_only_once_it_has_changed(tmp_path, good, fast_settings, run_source):
    # given an upload that stalled longer than settle_seconds: a truncated MP4 is seen and fails
    folder = tmp_path / "up"
    folder.mkdir()
    write_truncated(folder / "trip.mp4", good)
    run = run_source(dashcam(folder, tmp_path / "state", fast_settings))
    assert run.wait_for(lambda: "file_failed" in run.states(), 5)
    time.sleep(0.6)
    assert run.states().count("file_failed") == 1  # not retried while unchanged
    # when the upload completes
    shutil.copy(good, folder / "trip.mp4")
    # then the file is read once, in full
    assert run.wait_for(lambda: "file_done" in run.states(), 5)
    run.finish()
    assert len(run.frames) == FRAMES_PER_FILE and run.states().count("file_failed") == 1


def test_an_unwritable_state_dir_is_reported_and_files_are_still_read_once(tmp_path, good, fast_settings,
                                                                           run_source):
    folder, state = tmp_path / "up", tmp_path / "state"
    folder.mkdir()
    state.write_text("a file where the state folder should be")  # nothing can be written under it
    shutil.copy(good, folder / "a.mp4")
    shutil.copy(good, folder / "b.mp4")
    run = run_source(dashcam(folder, state, fast_settings))
    assert run.wait_for(lambda: len(done_files(run)) == 2, 10)
    time.sleep(0.5)
    run.finish()
    assert run.error is None
    errors = [s.detail for s in run.statuses if s.state == "error"]
    assert len(errors) == 1 and "not remembered across restarts" in errors[0]
    assert len(run.frames) == 2 * FRAMES_PER_FILE
