"""Live RTSP cameras against a real gst-rtsp-server: frames, faults, reconnects, stalls, masked passwords."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from monitor.config.models import CameraConfig
from monitor.sources import open_source
from monitor.sources.live import LiveSource

pytestmark = pytest.mark.rtsp

SECRET = "hunter2-secret"


def live(url: str, settings, tmp_path, **kw):
    cam = CameraConfig(id="gate-1", url=url)
    return lambda **more: open_source(cam, settings, state_dir=tmp_path, **kw, **more)


def assert_no_secret(run) -> None:
    for status in run.statuses:
        assert SECRET not in status.detail, status


def test_open_source_picks_the_live_source(fast_settings, tmp_path):
    assert isinstance(live("rtsp://127.0.0.1:9/x", fast_settings, tmp_path)(), LiveSource)


def test_an_rtsp_camera_yields_scaled_frames_on_the_wall_clock(rtsp_url, fast_settings, tmp_path, run_source):
    run = run_source(live(rtsp_url, fast_settings, tmp_path))
    assert run.wait_for(lambda: len(run.frames) >= 30, 15), run.states()
    now = time.time()
    run.finish()
    ts = [f.ts for f in run.frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert {f.image.shape for f in run.frames} == {(336, 448, 3)}  # 320x240 scaled up to a 336 short side
    assert 0 <= now - ts[29] < 3.0  # mapped onto the wall clock, never ahead of it
    span = (ts[29] - ts[0]) / 29
    assert span == pytest.approx(1 / 15, rel=0.25)  # camera time follows the stream's pts
    assert run.states()[:2] == ["connecting", "online"] and run.states()[-1] == "ended"
    assert run.error is None
    # and health reports come every status_interval while online, with rates and the last frame's age
    health = [s.stats for s in run.statuses if s.state == "online"][-1]
    # Rates as ratios of the camera's 15 fps, loose enough for a loaded 2-core runner.
    assert 0.5 <= health["input_fps"] / 15 <= 1.5 and health["emitted_fps"] / 15 > 0.3
    assert health["last_frame_age_s"] is not None and health["last_frame_age_s"] < 1.0
    assert (health["width"], health["height"], health["codec"]) == (320, 240, "h264")


def test_wants_false_means_nothing_is_converted_and_little_is_decoded(rtsp_url, fast_settings, tmp_path,
                                                                     run_source):
    run = run_source(live(rtsp_url, fast_settings, tmp_path, wants=lambda ts: False))
    time.sleep(4.0)
    stats = run.source.stats.snapshot()
    run.finish()
    assert run.frames == []
    assert stats["packets"] >= 30
    assert stats["decoded"] <= 16  # the first GOP, decoded to learn its length; then nothing


def test_an_unreachable_camera_is_retried_with_backoff_and_never_raises(fast_settings, tmp_path, run_source):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtsp://admin:{SECRET}@127.0.0.1:{port}/stream1"
    run = run_source(live(url, fast_settings, tmp_path))
    assert run.wait_for(lambda: run.states().count("reconnecting") >= 3, 10), run.states()
    took = run.finish()
    assert took < fast_settings.connect_timeout  # the stop cut the backoff wait short; a connect would take longer
    assert run.error is None and run.frames == []
    states = run.states()
    assert states[0] == "connecting" and states[1] == "error" and states[-1] == "ended"
    errors = [s for s in run.statuses if s.state == "error"]
    assert "refused" in errors[0].detail.lower() and "retrying in" in errors[0].detail
    assert "admin:***@" in run.statuses[0].detail
    assert errors[-1].stats["reconnects"] >= 2
    assert_no_secret(run)


def test_a_silent_server_times_out_and_stop_stays_prompt(fast_settings, tmp_path, run_source):
    # given a TCP port that accepts connections and never says a word
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = f"rtsp://u:{SECRET}@127.0.0.1:{listener.getsockname()[1]}/cam"
    settings = fast_settings.model_copy(update={"connect_timeout": 1.0, "read_timeout": 1.0})
    try:
        run = run_source(live(url, settings, tmp_path))
        # then an error is reported within the timeouts (plus the watchdog's grace), and again after the retry
        assert run.wait_for(lambda: run.states().count("error") >= 2, 12), run.states()
        assert run.finish() < 1.5
    finally:
        listener.close()
    assert run.error is None
    assert_no_secret(run)


def test_a_missing_mount_is_reported_with_the_reason(rtsp_url, fast_settings, tmp_path, run_source):
    url = rtsp_url.rsplit("/", 1)[0] + "/no-such-mount"
    run = run_source(live(url, fast_settings, tmp_path))
    assert run.wait_for(lambda: "error" in run.states(), 10)
    run.finish()
    error = next(s for s in run.statuses if s.state == "error")
    assert "404" in error.detail or "not found" in error.detail.lower(), error.detail


@pytest.mark.slow
def test_a_frozen_server_is_reported_stalled_and_the_camera_comes_back(rtsp_server_factory, fast_settings, tmp_path,
                                                                      run_source):
    server = rtsp_server_factory({"/cam": "live:160x120@15/15"})
    other = rtsp_server_factory({"/cam": "live:160x120@15/15"})
    # the socket timeout is longer than stall_seconds: the watchdog is what must notice
    fast_settings = fast_settings.model_copy(update={"read_timeout": 10.0})
    run = run_source(live(server.url("/cam"), fast_settings, tmp_path))
    healthy = run_source(live(other.url("/cam"), fast_settings, tmp_path / "other"))
    assert run.wait_for(lambda: len(run.frames) >= 10, 15)
    assert healthy.wait_for(lambda: len(healthy.frames) >= 10, 15)
    # when the server is frozen (SIGSTOP) for 5 s
    os.kill(server.proc.pid, signal.SIGSTOP)
    frozen_at, healthy_before = time.monotonic(), len(healthy.frames)
    try:
        assert run.wait_for(lambda: "stalled" in run.states(), fast_settings.stall_seconds + 4)
        stalled_after = time.monotonic() - frozen_at
        time.sleep(max(0.0, 5 - stalled_after))
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    # the other camera did not notice: its frames kept coming at its rate all along
    healthy_rate = (len(healthy.frames) - healthy_before) / (time.monotonic() - frozen_at)
    assert 0.7 <= healthy_rate / 15 <= 1.3
    # then it was reported stalled after about stall_seconds, and frames flow again soon after the thaw
    count = len(run.frames)
    assert run.wait_for(lambda: len(run.frames) > count + 10, 15), run.states()
    run.finish()
    # stall_seconds after the last packet was handed on; that trails its arrival by the stream's start-up
    # latency (the packets read while probing, up to 1 s, are held to their time) plus the watchdog's grace
    assert fast_settings.stall_seconds - 0.5 <= stalled_after <= fast_settings.stall_seconds + 4
    ts = [f.ts for f in run.frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert run.source.stats.stalls >= 1


def test_a_looping_file_mount_keeps_delivering_past_its_end(rtsp_server_factory, fast_settings, tmp_path,
                                                            run_source):
    from tests.fixtures_media import write_h264

    clip = write_h264(tmp_path / "loop.mp4", width=160, height=120, fps=15, seconds=1)
    server = rtsp_server_factory({"/file": str(clip)})
    run = run_source(live(server.url("/file"), fast_settings, tmp_path))
    assert run.wait_for(lambda: len(run.frames) >= 40, 15), run.states()  # more than 2.5 passes of 15
    run.finish()
    ts = [f.ts for f in run.frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert "error" not in run.states()


@pytest.mark.slow
def test_a_killed_server_that_comes_back_is_reconnected_within_the_backoff(rtsp_server_factory, fast_settings,
                                                                           tmp_path, run_source):
    server = rtsp_server_factory({"/cam": "live:160x120@15/15"})
    run = run_source(live(server.url("/cam"), fast_settings, tmp_path))
    assert run.wait_for(lambda: len(run.frames) >= 10, 15)
    # when the server is killed and comes back on the same port 3 s later
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    time.sleep(3)
    count = len(run.frames)
    server.restart()
    back_at = time.monotonic()
    # then frames flow again within the backoff cap plus 5 s
    assert run.wait_for(lambda: len(run.frames) > count, fast_settings.backoff_max + 5), run.states()
    assert time.monotonic() - back_at <= fast_settings.backoff_max + 5
    run.finish()
    assert {"error", "reconnecting"} <= set(run.states()) or "stalled" in run.states()
    ts = [f.ts for f in run.frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert run.error is None


@pytest.mark.slow
def test_clips_across_a_reconnect_gap_hold_only_frames_of_their_window(rtsp_server_factory, fast_settings,
                                                                       tmp_path, run_source):
    # given a camera feeding the clip window (4 s windows, 1 s stride, 8 samples) through its wants()
    from monitor.window import ClipWindow

    server = rtsp_server_factory({"/cam": "live:160x120@15/15"})
    window, clips = ClipWindow("gate-1", 4, 1, 8), []

    def factory(**kw):
        source = live(server.url("/cam"), fast_settings, tmp_path, wants=window.wants)(**kw)
        run_emit = source.run

        def run(emit, stop):
            run_emit(lambda frame: (emit(frame), clips.extend(window.push(frame))), stop)
        source.run = run
        return source

    run = run_source(factory)
    assert run.wait_for(lambda: len(clips) >= 2, 20)
    # when the server dies and comes back 2.5 s later
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    time.sleep(2.5)
    server.restart()
    before = len(run.frames)
    assert run.wait_for(lambda: len(run.frames) > before + 20, fast_settings.backoff_max + 15), run.states()
    time.sleep(4)
    run.finish()
    # then every clip, those over the gap included, holds only frames of its own window, none twice
    gap = max(b.ts - a.ts for a, b in zip(run.frames, run.frames[1:]))
    assert gap > 2.0
    short = [c for c in clips if len(c.frames) < 8]
    assert short, "a window over the gap has fewer frames"
    for clip in clips:
        assert all(clip.window_start - 1e-6 <= t <= clip.window_end + 1e-6 for t in clip.timestamps)
        assert len(set(clip.timestamps)) == len(clip.timestamps) == len(clip.frames)
