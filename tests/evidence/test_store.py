"""Evidence: the MP4 spans pre-roll plus window, the JPEG opens, names never escape, retention holds."""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from monitor.clip import Clip
from monitor.config.models import EvidenceConfig
from monitor.evidence import EvidenceStore, UnsafePath, safe_name
from monitor.evidence.keyframe import most_telling
from monitor.sources.packet_ring import PacketRing
from tests.fixtures_media import feed_ring, moving_frame, write_h264

T0 = 1_790_000_000.0


def filled_ring(video: Path) -> PacketRing:
    """A ring fed the way a live source feeds it: every packet with its camera time."""
    return feed_ring(PacketRing(seconds=60), video, T0)


def clip_of(camera_id: str, start: float, end: float, k: int = 8) -> Clip:
    stamps = np.linspace(start, end, k)
    frames = np.stack([moving_frame(int((t - T0) * 15), 64, 48, 15) for t in stamps])
    return Clip(camera_id, 1, frames, tuple(float(t) for t in stamps), start, end)


def decoded_span(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [f.pts for f in container.decode(stream)]
        rate = float(stream.average_rate or 15)
        return len(pts), float((max(pts) - min(pts)) * stream.time_base) + 1 / rate


@pytest.fixture(scope="module")
def ring(tmp_path_factory) -> PacketRing:
    video = write_h264(tmp_path_factory.mktemp("media") / "cam.mp4", seconds=30, fps=15, gop=15)
    return filled_ring(video)


def test_the_mp4_decodes_and_spans_pre_roll_plus_window_within_a_second(tmp_path, ring):
    # given a 10 s window ending 25 s into the footage and 10 s of pre-roll
    store = EvidenceStore(EvidenceConfig(dir=str(tmp_path / "ev"), pre_roll_seconds=10))
    # when
    evidence = store.capture("gate-1", clip_of("gate-1", T0 + 15, T0 + 25), ring)
    # then
    frames, seconds = decoded_span(Path(evidence.clip))
    assert abs(seconds - 20.0) <= 1.0
    assert frames >= 19 * 15
    assert Path(evidence.clip).parent == tmp_path / "ev" / "gate-1"


def flashed(clip: Clip, index: int) -> Clip:
    """The clip with one white frame: the frame farthest from the clip's median, so the most telling."""
    frames = clip.frames.copy()
    frames[index] = 255
    return Clip(clip.camera_id, clip.seq, frames, clip.timestamps, clip.window_start, clip.window_end)


def test_the_jpeg_is_the_most_telling_frame_at_the_cameras_resolution(tmp_path, ring):
    # given a clip whose frame 5 stands out; the video behind it is 320 x 240
    clip = flashed(clip_of("gate-1", T0 + 15, T0 + 25), 5)
    # when
    evidence = EvidenceStore(EvidenceConfig(dir=str(tmp_path))).capture("gate-1", clip, ring)
    # then the JPEG opens, at full size, and shows the video at frame 5's time, not another time
    image = cv2.cvtColor(cv2.imread(evidence.image), cv2.COLOR_BGR2RGB).astype(np.float32)
    assert image.shape == (240, 320, 3)

    def distance(t: float) -> float:
        return float(np.abs(image - moving_frame(round((t - T0) * 15), 320, 240, 15)).mean())

    assert distance(clip.timestamps[5]) < 6.0
    assert distance(clip.timestamps[5]) < min(distance(clip.timestamps[i]) for i in (3, 4, 6, 7)) / 2


def test_without_a_video_the_jpeg_is_the_clip_frame(tmp_path):
    clip = flashed(clip_of("gate-1", T0 + 15, T0 + 25), 5)
    evidence = EvidenceStore(EvidenceConfig(dir=str(tmp_path))).capture("gate-1", clip, None)
    image = cv2.imread(evidence.image)
    assert image.shape == (48, 64, 3) and image.mean() > 250


def test_most_telling_prefers_the_newest_frame_of_a_still_scene():
    assert most_telling(np.zeros((6, 4, 4, 3), np.uint8)) == 5


def test_without_a_ring_only_the_jpeg_is_written(tmp_path):
    evidence = EvidenceStore(EvidenceConfig(dir=str(tmp_path))).capture("gate-1", clip_of("gate-1", T0, T0 + 10), None)
    assert evidence.clip is None and Path(evidence.image).is_file()


def test_a_span_the_ring_no_longer_holds_gives_the_jpeg_alone(tmp_path, ring):
    store = EvidenceStore(EvidenceConfig(dir=str(tmp_path)))
    evidence = store.capture("gate-1", clip_of("gate-1", T0 + 500, T0 + 510), ring)
    assert evidence.clip is None and Path(evidence.image).is_file()


HOSTILE_IDS = ["../../../../tmp/pwned", "..", "../", "/etc/passwd", "a/../../b", "..\\..\\win", "\x00../x", "",
               ".hidden", "cam\n../../x", "..%2f..%2fx"]


@pytest.mark.parametrize("camera_id", HOSTILE_IDS)
def test_a_camera_id_full_of_dot_dots_writes_nothing_outside_the_evidence_dir(tmp_path, ring, camera_id):
    # given an evidence dir inside a sandbox whose other contents we can list
    root = tmp_path / "sandbox" / "evidence"
    store = EvidenceStore(EvidenceConfig(dir=str(root), pre_roll_seconds=2))
    # when
    evidence = store.capture(camera_id, clip_of(camera_id, T0 + 5, T0 + 10), ring)
    # then every file written lies in one folder directly under the evidence dir, and nowhere else
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.parent.parent == root for p in written)
    assert {Path(evidence.clip), Path(evidence.image)} == set(written)
    assert ".." not in Path(evidence.clip).relative_to(root).parts


def test_different_unsafe_ids_never_share_a_name():
    assert len({safe_name(i) for i in HOSTILE_IDS}) == len(HOSTILE_IDS)
    assert safe_name("gate-1") == "gate-1"


def test_a_camera_folder_that_is_a_symlink_out_of_the_root_is_refused(tmp_path, ring):
    root, outside = tmp_path / "evidence", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "gate-1").symlink_to(outside)
    with pytest.raises(UnsafePath):
        EvidenceStore(EvidenceConfig(dir=str(root))).capture("gate-1", clip_of("gate-1", T0 + 5, T0 + 10), ring)
    assert list(outside.iterdir()) == []


def _file(path: Path, size: int, age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_retention_deletes_files_past_the_age_limit(tmp_path):
    old = _file(tmp_path / "a" / "a_1.mp4", 10, age_s=3 * 3600)
    new = _file(tmp_path / "a" / "a_2.jpg", 10, age_s=60)
    store = EvidenceStore(EvidenceConfig(dir=str(tmp_path), max_age_hours=2))
    assert store.prune() == [old]
    assert new.exists()


def test_retention_deletes_the_oldest_until_the_total_fits(tmp_path):
    mib = 2**20
    files = [_file(tmp_path / "a" / f"a_{i}.mp4", mib, age_s=1000 - i) for i in range(5)]
    store = EvidenceStore(EvidenceConfig(dir=str(tmp_path), max_total_mb=3))
    assert store.prune() == files[:2]
    assert all(p.exists() for p in files[2:])


def test_retention_leaves_foreign_files_and_removes_empty_camera_folders(tmp_path):
    notes = _file(tmp_path / "README.txt", 10, age_s=10**7)
    _file(tmp_path / "b" / "b_1.jpg", 10, age_s=10**7)
    EvidenceStore(EvidenceConfig(dir=str(tmp_path), max_age_hours=1)).prune()
    assert notes.exists() and not (tmp_path / "b").exists()


def test_capture_applies_retention_but_keeps_what_it_just_wrote(tmp_path, ring):
    _file(tmp_path / "gate-1" / "gate-1_old.mp4", 2 * 2**20, age_s=100)
    store = EvidenceStore(EvidenceConfig(dir=str(tmp_path), max_total_mb=1))
    evidence = store.capture("gate-1", clip_of("gate-1", T0 + 5, T0 + 10), ring)
    assert not (tmp_path / "gate-1" / "gate-1_old.mp4").exists()
    assert Path(evidence.clip).exists() and Path(evidence.image).exists()
