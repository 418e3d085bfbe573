"""Evidence from real recordings in any codec: a file that holds what it claims and decodes to the end."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest

from monitor.clip import Clip
from monitor.config.models import EvidenceConfig
from monitor.evidence import EvidenceStore
from monitor.sources.packet_ring import PacketRing
from tests.fixtures_media import feed_ring, full_decode_times

T0 = 1_790_000_000.0
# name -> (how to get it, container the evidence comes in, codec the evidence holds)
CASES = {
    "h264-bframes.mp4": (".mp4", "h264"),
    "hevc.mp4": (".mp4", "hevc"),
    "vp9.webm": (".mp4", "vp9"),
    "mjpeg.avi": (".mp4", "mjpeg"),
    "vtest.avi": (".mkv", "msmpeg4"),  # msmpeg4v3 (DIV3): MP4 takes none, so Matroska
    "tree.avi": (".mp4", "h264"),  # no container takes cinepak: re-encoded
}


def recording(real_media, name: str) -> Path:
    return real_media.original(name) if name in ("vtest.avi", "tree.avi") else real_media.variant(name, 20)


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def decode_all(path: Path) -> tuple[int, int, list[float], str, str]:
    """(packets, frames decoded, frame times, codec, codec tag) of the whole file, failing on any error."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        frames = []
        for packet in packets + [None]:
            frames += stream.codec_context.decode(packet)
        times = sorted(float(f.pts * stream.time_base) for f in frames)
        return len(packets), len(frames), times, stream.codec_context.name, stream.codec_tag


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_evidence_of_a_real_recording_holds_its_span_and_every_frame_decodes(name, real_media, tmp_path):
    # given a camera's ring fed from a real recording, and an alert window from 4 s to 12 s into it
    path = recording(real_media, name)
    ring = feed_ring(PacketRing(seconds=120, max_bytes=2**30), path, T0)
    first, last = ring.span
    stamps = tuple(np.linspace(T0 + 4, T0 + 12, 4))
    clip = Clip("cam", 0, np.zeros((4, 8, 8, 3), np.uint8), stamps, T0 + 4, T0 + 12)
    # when evidence is written with 8 s of pre-roll (more than the footage holds before the window)
    evidence = EvidenceStore(EvidenceConfig(dir=str(tmp_path), pre_roll_seconds=8)).capture("cam", clip, ring)
    # then it is in a container that takes the codec, and every packet decodes into a frame
    suffix, codec = CASES[name]
    video = Path(evidence.clip)
    assert video.suffix == suffix
    packets, frames, times, got_codec, tag = decode_all(video)
    assert got_codec == codec
    assert frames > 0 and frames >= packets - (codec == "vp9")  # a VP9 packet may be a hidden (alt-ref) frame
    if codec == "hevc":
        assert tag == "hvc1"
    # and its start and end are the span it really holds, never before the camera's first frame
    start, end = epoch(evidence.start), epoch(evidence.end)
    assert start >= first - 1e-3
    assert abs((end - start) - (times[-1] - times[0])) <= 0.11  # within a frame at 10 fps (ms in RFC 3339)
    source = [T0 + t for t in full_decode_times(path)]
    assert start <= T0 + 4 and end == pytest.approx(max(t for t in source if t <= T0 + 12), abs=1e-3)
    # and it holds every frame the recording has in that span
    assert frames == sum(1 for t in source if start - 1e-3 <= t <= end + 1e-3)
