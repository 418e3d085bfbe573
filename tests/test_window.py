"""Timing properties of the rolling clip window and its sampler."""

import bisect

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.clip import Frame
from monitor.window import ClipWindow

IMG = np.zeros((4, 6, 3), np.uint8)


def feed(window, times):
    clips = []
    for ts in times:
        clips += window.push(Frame("cam", ts, IMG))
    return clips


def frame_times(fps, seconds, jitter, start=1_700_000_000.0):
    n = int(seconds * fps)
    rng = np.random.default_rng(0)
    offsets = np.arange(n) / fps + rng.uniform(0, jitter / fps, n)
    return list(start + np.sort(offsets))


windows = st.tuples(st.floats(1, 20), st.floats(0.5, 10), st.integers(1, 16))


@settings(max_examples=60, deadline=None)
@given(windows, st.floats(2, 60), st.floats(10, 60), st.floats(0, 0.9))
def test_a_clip_every_stride_of_video(win, fps, seconds, jitter):
    w_seconds, stride, k = win
    times = frame_times(fps, seconds, jitter)
    clips = feed(ClipWindow("cam", w_seconds, stride, k), times)
    expected = int((times[-1] - times[0]) / stride + 1e-9)
    assert abs(len(clips) - expected) <= 1
    ends = [c.window_end for c in clips]
    assert np.allclose(np.diff(ends), stride) if len(ends) > 1 else True


@settings(max_examples=60, deadline=None)
@given(windows, st.floats(2, 60), st.floats(0, 0.9))
def test_samples_are_the_first_frame_at_or_after_uniform_times(win, fps, jitter):
    w_seconds, stride, k = win
    times = frame_times(fps, 30, jitter)
    for clip in feed(ClipWindow("cam", w_seconds, stride, k), times):
        span = clip.window_end - clip.window_start
        assert span <= w_seconds + 1e-6
        targets = [clip.window_start + (i + 0.5) * span / k for i in range(k)]
        for target, got in zip(targets, clip.timestamps):
            first_after = times[bisect.bisect_left(times, target - 1e-6)]
            assert got == first_after
            assert 0 <= got - target <= 1 / fps * 1.9 + 1e-6
        assert list(clip.timestamps) == sorted(clip.timestamps)
        assert len(clip.frames) == k


@settings(max_examples=40, deadline=None)
@given(windows, st.floats(5, 120))
def test_memory_is_bounded_by_pending_sample_times(win, fps):
    w_seconds, stride, k = win
    window = ClipWindow("cam", w_seconds, stride, k)
    bound = k * (int(w_seconds / stride) + 2)
    for ts in frame_times(fps, 40, 0.5):
        window.push(Frame("cam", ts, IMG))
        assert window.kept_frames <= bound


def test_wants_only_frames_that_fill_a_sample_time():
    window = ClipWindow("cam", seconds=10, stride=5, frames=8)
    kept = 0
    for ts in frame_times(30, 60, 0):
        if window.wants(ts):
            kept += 1
            window.push(Frame("cam", ts, IMG))
    # 8 samples per 10 s window, half shared between neighbours at a 5 s stride: about 0.8 a second
    # of the 30 frames a second.
    assert kept <= 60 * 0.8 + 10


def test_skipping_unwanted_frames_gives_the_same_clips():
    times = frame_times(25, 40, 0.3)
    full = feed(ClipWindow("cam", 10, 5, 8), times)
    window, lean = ClipWindow("cam", 10, 5, 8), []
    for ts in times:
        if window.wants(ts):
            lean += window.push(Frame("cam", ts, IMG))
    assert [c.timestamps for c in lean] == [c.timestamps for c in full]


def test_time_going_back_starts_a_new_segment():
    window = ClipWindow("cam", seconds=4, stride=2, frames=4)
    first = feed(window, frame_times(10, 10, 0, start=1000.0))
    second = feed(window, frame_times(10, 10, 0, start=500.0))
    assert first and second
    assert all(500.0 <= t < 510.0 for c in second for t in c.timestamps)
    assert [c.seq for c in first + second] == list(range(len(first) + len(second)))


def test_first_clip_comes_after_one_stride_with_a_partial_window():
    window = ClipWindow("cam", seconds=10, stride=5, frames=8)
    clips = feed(window, frame_times(10, 5.15, 0, start=100.0))
    assert len(clips) == 1
    assert clips[0].window_start == 100.0 and clips[0].window_end == 105.0
