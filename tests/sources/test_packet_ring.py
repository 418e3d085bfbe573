"""The packet ring: bounded by seconds and bytes; evidence MP4s remuxed from it decode and span the range."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import pytest

from monitor.config.models import CameraConfig, SourceConfig
from monitor.sources import PacketRing, open_source
from tests.fixtures_media import feed_ring, write_h264


def decoded(path: Path) -> tuple[int, float, bool]:
    """(frames, seconds covered, first frame is a keyframe) of an MP4, decoding every frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        rate = float(stream.average_rate or 15)
        pts = [f.pts for f in frames]
        return len(frames), float((max(pts) - min(pts)) * stream.time_base) + 1 / rate, frames[0].key_frame


@pytest.fixture(scope="module")
def played_ring(tmp_path_factory):
    """A 12 s file (GOP 1 s, B-frames) played at pace fast through a file source that feeds a ring."""
    media = tmp_path_factory.mktemp("media")
    video = write_h264(media / "cam.mp4", width=320, height=240, fps=15, seconds=12, gop=15, bframes=2)
    ring = PacketRing(seconds=60)
    frames: list = []
    cam = CameraConfig(id="gate-1", url=str(video), pace="fast")
    open_source(cam, SourceConfig(), state_dir=media, packet_ring=ring).run(frames.append, threading.Event())
    return ring, frames


def test_export_spans_the_range_from_the_keyframe_before_it_and_decodes(played_ring, tmp_path):
    ring, frames = played_ring
    t0 = frames[0].ts
    out = ring.export_mp4(t0 + 3.5, t0 + 8.5, tmp_path / "ev.mp4")
    count, seconds, starts_on_key = decoded(out)
    # from the keyframe at 3.0 s through 8.5 s: 5.5 s, within a second of the asked 5 s
    assert abs(seconds - 5.0) <= 1.0 and seconds >= 5.0
    assert starts_on_key
    assert count == pytest.approx(seconds * 15, abs=2)


def test_export_of_a_range_the_ring_no_longer_holds_raises_lookup_error(played_ring, tmp_path):
    ring, frames = played_ring
    with pytest.raises(LookupError):
        ring.export_mp4(frames[-1].ts + 100, frames[-1].ts + 110, tmp_path / "none.mp4")
    assert not (tmp_path / "none.mp4").exists()


def test_the_ring_is_bounded_by_seconds(tmp_path):
    video = write_h264(tmp_path / "v.mp4", width=160, height=120, fps=15, seconds=8, gop=15)
    ring = PacketRing(seconds=3)
    feed_ring(ring, video, 1000.0)
    first, last = ring.span
    assert last - first <= 3.0 and last == pytest.approx(1000 + 119 / 15, abs=1e-3)
    # and an export still starts on a keyframe inside what is held
    count, _, starts_on_key = decoded(ring.export_mp4(first, last, tmp_path / "tail.mp4"))
    assert starts_on_key and count >= 2 * 15


def test_the_ring_is_bounded_by_bytes(tmp_path):
    video = write_h264(tmp_path / "v.mp4", width=320, height=240, fps=15, seconds=4, gop=15)
    ring = PacketRing(seconds=60, max_bytes=20_000)
    feed_ring(ring, video)
    assert 0 < ring.nbytes <= 20_000


def test_a_new_stream_with_other_codec_parameters_starts_a_new_ring(tmp_path):
    small = write_h264(tmp_path / "s.mp4", width=160, height=120, fps=15, seconds=1)
    large = write_h264(tmp_path / "l.mp4", width=320, height=240, fps=15, seconds=1)
    ring = PacketRing(seconds=60)
    for offset, video in ((0.0, small), (10.0, large)):
        feed_ring(ring, video, offset)
    assert ring.span[0] >= 10.0
    with av.open(str(ring.export_mp4(0, 20, tmp_path / "e.mp4"))) as out:
        assert out.streams.video[0].codec_context.width == 320


@pytest.mark.rtsp
def test_a_live_camera_feeds_the_ring_and_its_last_seconds_export(rtsp_url, fast_settings, tmp_path, run_source):
    ring = PacketRing(seconds=30)
    cam = CameraConfig(id="gate-1", url=rtsp_url)
    run = run_source(lambda **kw: open_source(cam, fast_settings, state_dir=tmp_path, packet_ring=ring, **kw))
    assert run.wait_for(lambda: ring.span is not None and ring.span[1] - ring.span[0] >= 4.2, 15)
    run.finish()
    first, last = ring.span
    count, seconds, starts_on_key = decoded(ring.export_mp4(last - 3.0, last, tmp_path / "live.mp4"))
    assert starts_on_key and 3.0 - 0.2 <= seconds <= 3.0 + 1.0 + 0.2


def test_a_window_older_than_the_rings_first_keyframe_is_refused_not_swapped_for_later_footage(tmp_path):
    # given a ring that has already dropped the window's footage (it starts 20 s into the recording)
    video = write_h264(tmp_path / "v.mp4", width=160, height=120, fps=10, seconds=30, gop=50)
    ring = feed_ring(PacketRing(seconds=10), video, 0.0)
    assert ring.span[0] > 15
    # then a window of 2 s to 8 s gives no file, rather than the keyframe at 25 s and what follows
    with pytest.raises(LookupError):
        ring.export(2.0, 8.0, tmp_path / "old.mp4")
