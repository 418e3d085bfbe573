"""Targeted and keyframe-only decoding against a full decode of the same file; scaling in the decoder."""

from __future__ import annotations

import bisect
from pathlib import Path

import av
import pytest

from monitor.sources.decode import FrameDecoder, RefusedError, check_size, scaled_size
from monitor.window import ClipWindow
from tests.fixtures_media import full_decode_times, write_h264

FPS, GOP = 30, 60  # 2 s GOPs, like the cameras of DESIGN.md's numbers


@pytest.fixture(scope="module", params=[0, 2], ids=["no-bframes", "bframes"])
def video(request, tmp_path_factory) -> Path:
    return write_h264(tmp_path_factory.mktemp("media") / f"v{request.param}.mp4", width=640, height=360,
                      fps=FPS, seconds=8, gop=GOP, bframes=request.param)


class SpacedWindow:
    """Keeps a frame once per `spacing` seconds, like the clip window: wants(ts) is a moving threshold."""

    def __init__(self, spacing: float) -> None:
        self.spacing, self.kept = spacing, []

    def wants(self, ts: float) -> bool:
        return not self.kept or ts >= self.kept[-1].ts + self.spacing - 1e-6

    def push(self, frame) -> None:
        self.kept.append(frame)


def decode(path: Path, mode: str, window) -> FrameDecoder:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = FrameDecoder(stream, camera_id="c", short_side=336, mode=mode, wants=window.wants,
                               ts_of=lambda s: s, sink=window.push, max_width=4096, max_height=4096)
        for packet in container.demux(stream):
            decoder.feed(packet)
        decoder.flush()
    return decoder


def test_scaled_size_keeps_aspect_and_puts_the_short_side_at_336():
    assert scaled_size(1920, 1080, 336) == (598, 336)
    assert scaled_size(1080, 1920, 336) == (336, 598)
    assert scaled_size(336, 336, 336) == (336, 336)


def test_check_size_refuses_absurd_sizes():
    with pytest.raises(RefusedError, match="32768x32768"):
        check_size(32768, 32768, 7680, 4320)
    check_size(1920, 1080, 7680, 4320)


def test_targeted_decoding_samples_where_a_full_decode_does_but_decodes_less(video):
    full, targeted = SpacedWindow(2.5), SpacedWindow(2.5)
    d_full = decode(video, "all", full)
    d_targeted = decode(video, "targeted", targeted)
    assert [f.ts for f in targeted.kept] == pytest.approx([f.ts for f in full.kept], abs=1 / FPS + 1e-6)
    assert len(targeted.kept) == 4
    assert d_targeted.decoded < d_full.decoded * 0.8
    assert {f.image.shape for f in targeted.kept} == {(336, 598, 3)}


def test_keyframe_mode_decodes_only_keyframes_and_lands_within_a_gop(video):
    full, keys = SpacedWindow(1.0), SpacedWindow(1.0)
    decode(video, "all", full)
    d_keys = decode(video, "keyframes", keys)
    assert d_keys.decoded == 4  # 8 s of 2 s GOPs, even with B-frames held back by the decoder
    assert all(f.keyframe for f in keys.kept)
    assert [f.ts for f in keys.kept] == pytest.approx([0, 2, 4, 6])
    for k in keys.kept:
        assert min(abs(k.ts - f.ts) for f in full.kept) <= GOP / FPS


def test_frames_nobody_wants_are_neither_converted_nor_decoded(video):
    class Nobody:
        kept: list = []

        def wants(self, ts):
            return False

        def push(self, frame):
            self.kept.append(frame)

    nobody = Nobody()
    decoder = decode(video, "targeted", nobody)
    assert nobody.kept == []
    # no packet is decoded: every GOP's packets are held until one is wanted, and dropped
    assert decoder.decoded == 0
    assert decoder.skipped == 8 * FPS


def test_frames_after_lost_or_broken_packets_are_kept_away_until_the_next_keyframe(tmp_path):
    # given a 15 fps stream, GOP 1 s, where packet 5 is lost and packet 20 arrives as garbage
    video = write_h264(tmp_path / "v.mp4", width=160, height=120, fps=15, seconds=3, gop=15)
    kept: list = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        decoder = FrameDecoder(stream, camera_id="c", short_side=336, mode="all", wants=lambda ts: True,
                               ts_of=lambda s: s, sink=kept.append, max_width=4096, max_height=4096)
        for i, packet in enumerate(p for p in container.demux(stream) if p.size):
            if i == 5:
                continue
            if i == 20:
                broken = av.Packet(bytes(packet)[:20] + b"\x00" * 50)
                broken.pts, broken.dts, broken.time_base = packet.pts, packet.dts, packet.time_base
                packet = broken
            decoder.feed(packet)
        decoder.flush()
    # then frames 6..14 (after the loss) and 21..29 (after the garbage) never reach the window
    indices = sorted(round(f.ts * 15) for f in kept)
    assert indices == [0, 1, 2, 3, 4] + list(range(15, 20)) + list(range(30, 45))
    assert decoder.corrupt >= 2


# --- real recordings: B-frames, open GOPs, keyframes at scene cuts, old codecs -----------------------------------
REAL = ["box.mp4", "h264-bframes.mp4", "hevc.mp4", "vp9.webm", "vtest.avi"]


def real_file(real_media, name: str) -> Path:
    return real_media.original(name) if name in ("box.mp4", "vtest.avi") else real_media.variant(name, 40)


def clips_of(path: Path, mode: str) -> tuple[list, FrameDecoder]:
    """The clips a 10 s / 5 s / 8-frame window cuts from the file, decoded in `mode`."""
    window, clips = ClipWindow("c", 10, 5, 8), []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = FrameDecoder(stream, camera_id="c", short_side=336, mode=mode, wants=window.wants,
                               ts_of=lambda s: s, sink=lambda f: clips.extend(window.push(f)),
                               max_width=4096, max_height=4096)
        for packet in container.demux(stream):
            decoder.feed(packet)
        decoder.flush()
    return clips + window.finish(), decoder


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_every_targeted_sample_of_a_real_recording_is_where_a_full_decode_puts_it(name, real_media):
    path = real_file(real_media, name)
    times = full_decode_times(path)
    interval = min(b - a for a, b in zip(times, times[1:]))
    clips, decoder = clips_of(path, "targeted")
    assert len(clips) >= 2
    for clip in clips:
        assert len(clip.timestamps) == len(set(clip.timestamps))
        step = 10 / 8
        for ts in clip.timestamps:
            # the sample of slice i is the first frame of a full decode at or after the slice's centre
            i = int((ts - clip.window_start) // step)
            target = clip.window_start + (i + 0.5) * step
            reference = times[bisect.bisect_left(times, target - 1e-6)]
            assert abs(ts - reference) < interval / 2, (name, clip.seq, ts, reference)
    full, full_decoder = clips_of(path, "all")
    assert [c.timestamps for c in clips] == [c.timestamps for c in full]
    assert decoder.decoded <= full_decoder.decoded


@pytest.mark.slow
def test_targeted_decoding_skips_frames_no_sample_needs_on_a_real_bframe_clip(real_media):
    path = real_file(real_media, "h264-bframes.mp4")
    _, decoder = clips_of(path, "targeted")
    _, full = clips_of(path, "all")
    assert decoder.decoded < 0.75 * full.decoded
