"""A camera's ingest on a real recording: full first window, the last partial stride at the end of the file,
and the window.incomplete policy."""

from __future__ import annotations

import pytest

from monitor.pipeline.camera import CameraWorker
from monitor.config.models import MonitorConfig
from tests.fixtures_media import RealMedia, full_decode_times

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_media(tmp_path_factory) -> RealMedia:
    return RealMedia(tmp_path_factory.mktemp("real-media"))


def play(path, tmp_path, **window) -> tuple[list, list]:
    """Run a fast-pace file camera on `path` to its end; (requests submitted, statuses reported)."""
    config = MonitorConfig.model_validate({
        "window": {"seconds": 10, "stride": 5, "frames": 8, **window}, "state_dir": str(tmp_path),
        "cameras": [{"id": "hall", "url": str(path), "pace": "fast"}]})
    requests, statuses = [], []

    def submit(request, wait=False, stop=None) -> bool:
        requests.append(request)
        return True

    worker = CameraWorker(config.cameras[0], config, submit, statuses.append)
    worker.start()
    assert worker.finished.wait(120)
    return requests, statuses


def test_a_file_camera_waits_for_a_full_window_and_describes_its_last_stride_at_its_end(real_media, tmp_path):
    # given 33 s of the pedestrian recording (msmpeg4v3 in AVI): windows end at 10, 15, 20, 25, 30 s
    path = real_media.variant("msmpeg4.avi", 33)
    times = full_decode_times(path)
    requests, statuses = play(path, tmp_path)
    clips = [r.clip for r in requests]
    t0 = clips[0].window_start
    assert [round(c.window_end - t0, 3) for c in clips[:-1]] == [10, 15, 20, 25, 30]
    assert all(len(c.frames) == 8 for c in clips[:-1])
    # then the last 3 s come as one more clip at once, marked final, ending on the file's last frame
    last = clips[-1]
    assert last.final and not any(c.final for c in clips[:-1])
    assert last.window_end - t0 == pytest.approx(times[-1] - times[0], abs=1e-3)
    assert all(last.window_start <= t <= last.window_end for t in last.timestamps)
    assert "file_done" in [s.state for s in statuses]


def test_a_short_file_is_one_clip_of_the_samples_it_holds(real_media, tmp_path):
    sent, _ = play(real_media.variant("msmpeg4.avi", 4), tmp_path)
    assert len(sent) == 1 and len(sent[0].clip.frames) == len(sent[0].clip.timestamps) == 3
    assert sent[0].clip.final


def test_windows_across_a_gap_hold_only_their_own_frames_or_are_skipped_with_a_status(real_media, tmp_path):
    # given 30 s of the recording with nothing between 12 s and 15 s (a camera that dropped off)
    path = real_media.variant("h264-gap.mp4", 30)
    times = full_decode_times(path)
    assert max(b - a for a, b in zip(times, times[1:])) > 2.9
    sent, _ = play(path, tmp_path / "send")
    # send (default): the windows over the gap come with the frames they really have, none from elsewhere
    short = [r.clip for r in sent if len(r.clip.frames) < 8 and not r.clip.final]
    assert short
    for clip in (r.clip for r in sent):
        assert all(clip.window_start <= t <= clip.window_end for t in clip.timestamps)
        assert len(set(clip.timestamps)) == len(clip.timestamps) == len(clip.frames)
        assert not any(12.05 < t - times[0] < 14.95 for t in clip.timestamps)
    # skip: those windows are not sent, and the status stream says why
    skipped, statuses = play(path, tmp_path / "skip", incomplete="skip")
    assert len(skipped) == len(sent) - len(short)
    reasons = [s.detail for s in statuses if s.state == "window_skipped"]
    assert len(reasons) == len(short) and all("of 8 frames" in r for r in reasons)
