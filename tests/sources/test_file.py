"""Local files: pace, looping, hostile files, absurd sizes; the source never raises."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from monitor.clip import SegmentEnd
from monitor.config.models import CameraConfig
from monitor.sources import open_source
from monitor.sources.file import FileSource
from tests.fixtures_media import write_h264, write_not_video, write_truncated


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_h264(tmp_path_factory.mktemp("media") / "clip.mp4", width=320, height=240, fps=15, seconds=2)


def file_source(path, settings, tmp_path, **camera):
    cam = CameraConfig(id="file-1", url=str(path), **camera)
    return lambda **kw: open_source(cam, settings, state_dir=tmp_path, **kw)


def test_open_source_picks_the_file_source(clip, fast_settings, tmp_path):
    assert isinstance(file_source(clip, fast_settings, tmp_path)(), FileSource)


def test_fast_pace_does_not_sleep_and_stamps_frames_from_the_start_time(clip, fast_settings, tmp_path, run_source):
    # given a 2 s file at pace fast
    before = time.time()
    run = run_source(file_source(clip, fast_settings, tmp_path, pace="fast"))
    # when it plays to the end
    run.thread.join(10)
    # then it took far less than 2 s, every frame came, scaled to a 336 short side
    assert time.monotonic() - run.started < 0.95 * 29 / 15  # under real time even on a loaded runner
    assert run.error is None and run.states()[-1] == "file_done"
    assert len(run.frames) == 30
    assert {f.image.shape for f in run.frames} == {(336, 448, 3)}
    ts = [f.ts for f in run.frames]
    assert ts == sorted(ts) and before <= ts[0] <= before + 1.0
    assert ts[-1] - ts[0] == pytest.approx(29 / 15, abs=1e-3)


def test_realtime_pace_delivers_frames_at_the_speed_of_the_video(clip, fast_settings, tmp_path, run_source):
    run = run_source(file_source(clip, fast_settings, tmp_path, pace="realtime"))
    assert run.wait_for(lambda: len(run.frames) >= 16, 5)
    # frame 16 is 1.0 s into the video: it comes about 1 s after the first, not at once
    arrival = time.monotonic() - run.started
    assert 0.9 <= arrival <= 2.0
    run.thread.join(5)
    assert len(run.frames) == 30 and run.states()[-1] == "file_done"


def test_a_looping_file_continues_with_increasing_timestamps(clip, fast_settings, tmp_path, run_source):
    run = run_source(file_source(clip, fast_settings, tmp_path, pace="fast", loop=True))
    assert run.wait_for(lambda: len(run.frames) >= 95, 10)
    run.finish()
    ts = [f.ts for f in run.frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    # one frame interval between the last frame of a pass and the first of the next
    assert ts[30] - ts[29] == pytest.approx(1 / 15, abs=1e-3)
    assert run.states()[-1] == "ended"


def test_stop_is_prompt_during_realtime_play(clip, fast_settings, tmp_path, run_source):
    run = run_source(file_source(clip, fast_settings, tmp_path, pace="realtime", loop=True))
    assert run.wait_for(lambda: len(run.frames) >= 3, 5)
    assert run.finish() < 1.5


@pytest.mark.parametrize("maker", ["not_video", "truncated", "zero"])
def test_a_broken_file_is_reported_once_as_file_failed_and_the_source_ends(maker, clip, fast_settings, tmp_path,
                                                                           run_source):
    bad = tmp_path / f"{maker}.mp4"
    if maker == "not_video":
        write_not_video(bad)
    elif maker == "truncated":
        write_truncated(bad, clip)
    else:
        bad.write_bytes(b"")
    run = run_source(file_source(bad, fast_settings, tmp_path, pace="fast"))
    run.thread.join(10)
    assert run.error is None
    assert run.states().count("file_failed") == 1 and run.states()[-1] == "file_failed"
    failed = [s for s in run.statuses if s.state == "file_failed"][0]
    assert bad.name in failed.detail and len(failed.detail) > len(str(bad)) + 5  # says why


def test_absurd_declared_size_is_refused_before_decoding(tmp_path, fast_settings, run_source):
    big = write_h264(tmp_path / "big.mp4", width=1920, height=1080, fps=5, seconds=1)
    settings = fast_settings.model_copy(update={"max_width": 1280, "max_height": 720})
    run = run_source(file_source(big, settings, tmp_path, pace="fast"))
    run.thread.join(10)
    failed = [s for s in run.statuses if s.state == "file_failed"]
    assert len(failed) == 1 and "1920x1080" in failed[0].detail and "exceeds" in failed[0].detail
    assert run.frames == [] and failed[0].stats["decoded"] == 0


def test_a_missing_file_is_retried_not_failed(tmp_path, fast_settings, run_source, clip):
    later = tmp_path / "later.mp4"
    run = run_source(file_source(later, fast_settings, tmp_path, pace="fast"))
    assert run.wait_for(lambda: run.states().count("error") >= 2, 5)
    later.write_bytes(clip.read_bytes())
    assert run.wait_for(lambda: "file_done" in run.states(), 5)
    assert len(run.frames) == 30 and run.error is None


def test_a_resolution_change_mid_stream_is_followed_and_raw_h264_gets_timestamps(tmp_path, fast_settings,
                                                                                 run_source):
    # given a raw H.264 stream (no timestamps at all) that switches from 320x240 to 640x360 halfway
    first = write_h264(tmp_path / "a.h264", width=320, height=240, fps=15, seconds=1, container_format="h264")
    second = write_h264(tmp_path / "b.h264", width=640, height=360, fps=15, seconds=1, container_format="h264")
    joined = tmp_path / "joined.h264"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    run = run_source(file_source(joined, fast_settings, tmp_path, pace="fast"))
    run.thread.join(10)
    # then every frame comes, each scaled to a 336 short side with its own aspect, on one timeline
    shapes = [f.image.shape for f in run.frames]
    assert shapes == [(336, 448, 3)] * 15 + [(336, 598, 3)] * 15
    ts = [f.ts for f in run.frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert ts[-1] - ts[0] == pytest.approx(29 / 15, abs=0.01)


def test_a_consumer_that_blocks_longer_than_stall_seconds_is_not_a_stall(clip, fast_settings, tmp_path,
                                                                         run_source):
    # given a fast-pace file whose consumer waits for the model far longer than stall_seconds once
    settings = fast_settings.model_copy(update={"stall_seconds": 0.5})
    cam = CameraConfig(id="file-1", url=str(clip), pace="fast")
    frames: list = []

    def slow_emit(frame) -> None:
        if len(frames) == 5:
            time.sleep(1.5)
        frames.append(frame)

    source = open_source(cam, settings, state_dir=tmp_path)
    source.run(slow_emit, threading.Event())
    # then every frame came once, then the end of the file, and nothing was reported stalled or restarted
    assert len(frames) == 31 and isinstance(frames[-1], SegmentEnd)
    assert source.state == "file_done" and source.stats.stalls == 0
