"""Timing properties of the rolling clip window and its sampler."""

import bisect

import numpy as np
import pytest
from hypothesis import example, given, settings
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


def dense_fps(w_seconds, k):
    """A frame rate that puts a frame in the first half of every sample slice, jitter included."""
    return 4 * k / w_seconds


@settings(max_examples=40, deadline=None)
@given(windows, st.floats(0, 1), st.floats(10, 60), st.floats(0, 0.9))
def test_a_clip_every_stride_of_video_once_the_first_window_is_full(win, faster, seconds, jitter):
    w_seconds, stride, k = win
    times = frame_times(dense_fps(w_seconds, k) * (1 + 4 * faster), seconds, jitter)
    clips = feed(ClipWindow("cam", w_seconds, stride, k), times)
    expected = max(0, int((times[-1] - times[0] - w_seconds) / stride + 1e-9) + 1)
    assert abs(len(clips) - expected) <= 1
    if clips:
        assert clips[0].window_start == times[0]
        assert clips[0].window_end - clips[0].window_start == np.float64(w_seconds) or \
            abs(clips[0].window_end - clips[0].window_start - w_seconds) < 1e-6
    ends = [c.window_end for c in clips]
    assert np.allclose(np.diff(ends), stride) if len(ends) > 1 else True


@pytest.mark.xfail(strict=True, reason="issue 9: found by hypothesis on 2026-12-02 (window 1.898 s, stride 1 s, "
                   "8 frames, jitter 0.016): a sample takes a frame 12 ms before the first frame at or after its time")
@settings(max_examples=40, deadline=None)
@given(windows, st.floats(0, 1), st.floats(0, 0.9))
@example(win=(1.8984375, 1.0, 8), faster=1.0, jitter=0.015625)
def test_samples_are_the_first_frame_at_or_after_uniform_times(win, faster, jitter):
    w_seconds, stride, k = win
    fps = dense_fps(w_seconds, k) * (1 + 4 * faster)
    times = frame_times(fps, 3 * w_seconds + 2 * stride, jitter)
    for clip in feed(ClipWindow("cam", w_seconds, stride, k), times):
        span = clip.window_end - clip.window_start
        assert abs(span - w_seconds) < 1e-6
        targets = [clip.window_start + (i + 0.5) * span / k for i in range(k)]
        assert len(clip.frames) == k == clip.expected
        for target, got in zip(targets, clip.timestamps, strict=True):
            i = bisect.bisect_left(times, target - 1e-6)
            # a frame within a microsecond of the target (sample times are rounded to 1 us) may go either way
            assert got == times[i] or (abs(times[i] - target) < 3e-6 and got == times[i + 1])
            assert -3e-6 <= got - target <= 1 / fps * 1.9 + 1e-6


@settings(max_examples=40, deadline=None)
@given(windows, st.floats(0.2, 30), st.floats(0.5, 30), st.floats(0, 0.9))
def test_a_clip_holds_only_frames_of_its_window_and_never_one_twice(win, fps, gap, jitter):
    # given footage with a gap (a reconnect) and any frame rate, slow cameras included
    w_seconds, stride, k = win
    before = frame_times(fps, 2 * w_seconds, jitter)
    after = frame_times(fps, 2 * w_seconds, jitter, start=before[-1] + gap) if before else []
    window = ClipWindow("cam", w_seconds, stride, k)
    clips = feed(window, before + after) + window.finish()
    for clip in clips:
        # then every frame lies inside the clip's window, no frame is repeated, and the count is true
        assert all(clip.window_start - 1e-6 <= t <= clip.window_end + 1e-6 for t in clip.timestamps)
        assert len(set(clip.timestamps)) == len(clip.timestamps) == len(clip.frames)
        assert list(clip.timestamps) == sorted(clip.timestamps)


def test_a_window_that_ends_in_a_gap_keeps_only_what_came_before():
    window = ClipWindow("cam", seconds=10, stride=5, frames=8)
    clips = feed(window, frame_times(10, 12, 0, start=100.0) + frame_times(10, 20, 0, start=115.0))
    # the clip of [102.5... no: [105, 115] holds frames up to 112 only; [110, 120] from 115 on
    by_end = {round(c.window_end, 3): c for c in clips}
    assert 115.0 in by_end and 120.0 in by_end
    gap_clip = by_end[115.0]
    assert max(gap_clip.timestamps) < 112.0 and len(gap_clip.timestamps) == 6 and gap_clip.expected == 8
    assert all(110 <= t <= 120 for t in by_end[120.0].timestamps)


def test_a_window_without_any_frame_is_recorded_as_missed():
    window = ClipWindow("cam", seconds=4, stride=0.5, frames=4)
    feed(window, frame_times(10, 5, 0, start=100.0) + frame_times(10, 5, 0, start=108.8))
    assert (104.5, 108.5) in window.missed


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
    # the first segment's last partial stride comes out when the jump is seen, then the new segment
    assert all(t >= 1000.0 for t in second[0].timestamps)
    assert all(500.0 <= t < 510.0 for c in second[1:] for t in c.timestamps) and len(second) > 1
    assert [c.seq for c in first + second] == list(range(len(first) + len(second)))


def test_the_first_clip_waits_for_a_full_window():
    window = ClipWindow("cam", seconds=10, stride=5, frames=8)
    assert feed(window, frame_times(10, 9.9, 0, start=100.0)) == []
    clips = feed(window, [110.0])
    assert len(clips) == 1
    assert clips[0].window_start == 100.0 and clips[0].window_end == 110.0 and len(clips[0].frames) == 8


def test_the_end_of_a_file_gives_its_last_partial_stride_at_once():
    window = ClipWindow("cam", seconds=10, stride=5, frames=8)
    clips = feed(window, frame_times(10, 17.5, 0, start=100.0))
    assert [c.window_end for c in clips] == [110.0, 115.0]
    last = window.finish()
    assert len(last) == 1 and last[0].final and not clips[-1].final
    assert last[0].window_start == 110.0 and last[0].window_end == clips[-1].window_end + 2.4 - 1e-9 or \
        abs(last[0].window_end - 117.4) < 1e-6
    assert max(last[0].timestamps) <= last[0].window_end and len(last[0].timestamps) == last[0].expected == 6
    assert window.finish() == []  # nothing left: the next frame starts a new segment


def test_a_short_file_is_one_clip_at_its_end():
    window = ClipWindow("cam", seconds=10, stride=5, frames=8)
    assert feed(window, frame_times(10, 4, 0, start=100.0)) == []
    [clip] = window.finish()
    assert clip.window_start == 100.0 and clip.window_end == 103.9 and len(clip.timestamps) == 3


def test_keyframe_only_samples_take_any_frame_of_their_slice_and_never_repeat_one():
    # given keyframes every 2 s only, and 8 samples over 10 s (slices of 1.25 s)
    window = ClipWindow("cam", seconds=10, stride=5, frames=8, whole_slice=True)
    clips = feed(window, [100.0 + 2 * i for i in range(16)])
    for clip in clips:
        # then each keyframe fills the slice it lies in: 5 distinct frames, none padded or from outside
        assert len(set(clip.timestamps)) == len(clip.timestamps) == 5
        assert all(clip.window_start <= t <= clip.window_end for t in clip.timestamps)


@pytest.mark.parametrize("seconds, stride, frames", [(0, 1, 1), (-1, 1, 1), (1, 0, 1), (1, -1, 1), (1, 1, 0),
                                                     (0, 0, 1)])
def test_a_window_without_length_stride_or_frames_is_refused(seconds, stride, frames):
    with pytest.raises(ValueError, match=r"^window seconds and stride must be > 0 and frames >= 1$"):
        ClipWindow("cam", seconds, stride, frames)

