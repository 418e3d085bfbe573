"""Dashcam uploads and file cameras on real recordings (Debian's opencv-doc): slow faststart uploads, old AVI
codecs, reused names, files that grow, recording time."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import av
import pytest

from monitor.clip import SegmentEnd
from monitor.config.models import CameraConfig
from monitor.sources import PacketRing, open_source
from monitor.sources.complete import missing
from tests.fixtures_media import full_decode_times

pytestmark = pytest.mark.slow


def dashcam(folder: Path, state: Path, settings, ring=None, **camera):
    cam = CameraConfig(id="truck-7", url=str(folder) + "/", kind="dashcam", pace="fast", **camera)
    return lambda **kw: open_source(cam, settings, state_dir=state, packet_ring=ring, **kw)


def done(run) -> list[str]:
    return [s.detail for s in run.statuses if s.state == "file_done"]


def test_a_faststart_upload_that_pauses_longer_than_settle_seconds_is_read_to_its_last_frame(
        tmp_path, real_media, fast_settings, run_source):
    # given a 30 s faststart H.264 recording (index at the front), uploaded in 4 pieces with 1 s pauses
    source = real_media.variant("h264-faststart.mp4", 30)
    data = source.read_bytes()
    folder = tmp_path / "up"
    folder.mkdir()
    settings = fast_settings.model_copy(update={"settle_seconds": 0.3, "upload_timeout_seconds": 60})
    run = run_source(dashcam(folder, tmp_path / "state", settings))
    target = folder / "20261201_120000.mp4"
    for i in range(1, 5):
        with open(target, "ab") as f:
            f.write(data[len(data) * (i - 1) // 4: len(data) * i // 4])
        if i < 4:
            assert missing(target) is not None  # its index promises bytes that are not there yet
            time.sleep(1.0)
    assert run.wait_for(lambda: len(done(run)) == 1, 30)
    time.sleep(0.5)
    run.finish()
    # then nothing was read before the last piece came, and the file was read once, to its last frame
    assert "file_failed" not in run.states()
    assert any("waiting for the rest" in s.detail for s in run.statuses)
    times = full_decode_times(source)
    frames = sorted(f.ts for f in run.frames)
    assert frames[-1] - frames[0] == pytest.approx(times[-1] - times[0], abs=1e-3)
    assert len(frames) == len(times)
    ledger = json.loads((tmp_path / "state" / "truck-7" / "dashcam-ledger.json").read_text())
    assert ledger["files"][str(target)]["size"] == len(data)


def test_an_msmpeg4_avi_upload_is_read_with_evidence(tmp_path, real_media, fast_settings, run_source):
    # given vtest.avi (msmpeg4v3 in AVI, which MP4 cannot hold) uploaded under an upper-case name
    folder = tmp_path / "up"
    folder.mkdir()
    shutil.copy(real_media.variant("msmpeg4.avi", 30), folder / "FILE0001.AVI")
    ring = PacketRing(seconds=60, max_bytes=2**30)
    run = run_source(dashcam(folder, tmp_path / "state", fast_settings, ring))
    assert run.wait_for(lambda: len(done(run)) == 1, 30), run.states()
    run.finish()
    assert "file_failed" not in run.states() and len(run.frames) == 300
    assert [type(m) for m in run.marks] == [SegmentEnd]
    # then evidence of its middle is a Matroska remux that decodes
    first = run.frames[0].ts
    evidence = ring.export(first + 10, first + 20, tmp_path / "ev.mp4")
    assert evidence.path.suffix == ".mkv"
    with av.open(str(evidence.path)) as container:
        assert container.streams.video[0].codec_context.name == "msmpeg4"
        assert sum(1 for _ in container.decode(video=0)) >= 100


def test_an_msmpeg4_file_camera_plays_to_its_end_instead_of_retrying(tmp_path, real_media, fast_settings,
                                                                    run_source):
    cam = CameraConfig(id="hall", url=str(real_media.original("vtest.avi")), pace="fast")
    ring = PacketRing(seconds=120, max_bytes=2**30)
    run = run_source(lambda **kw: open_source(cam, fast_settings, state_dir=tmp_path, packet_ring=ring, **kw))
    assert run.wait_for(lambda: "file_done" in run.states(), 60), run.states()
    run.finish()
    assert "error" not in run.states() and len(run.frames) == 795
    assert ring.export(run.frames[0].ts, run.frames[0].ts + 5, tmp_path / "ev.mp4").path.exists()


def test_a_cinepak_file_camera_plays_and_its_evidence_is_re_encoded(tmp_path, real_media, fast_settings,
                                                                   run_source):
    cam = CameraConfig(id="tree", url=str(real_media.original("tree.avi")), pace="fast")
    ring = PacketRing(seconds=120, max_bytes=2**30)
    run = run_source(lambda **kw: open_source(cam, fast_settings, state_dir=tmp_path, packet_ring=ring, **kw))
    assert run.wait_for(lambda: "file_done" in run.states(), 60), run.states()
    run.finish()
    exported = ring.export(run.frames[0].ts, run.frames[0].ts + 10, tmp_path / "ev.mp4")
    with av.open(str(exported.path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) > 10


def test_a_reused_name_with_new_content_and_another_folder_are_read_again(tmp_path, real_media, fast_settings,
                                                                         run_source):
    folder, other, state = tmp_path / "card", tmp_path / "other", tmp_path / "state"
    folder.mkdir()
    other.mkdir()
    first, second = real_media.variant("h264-bframes.mp4", 10), real_media.variant("mjpeg.avi", 10)
    shutil.copy(first, folder / "FILE0001.MP4")
    run = run_source(dashcam(folder, state, fast_settings))
    assert run.wait_for(lambda: len(done(run)) == 1, 20)
    # when the card is formatted and the same name holds new footage
    time.sleep(0.3)
    (folder / "FILE0001.MP4").write_bytes(second.read_bytes())
    assert run.wait_for(lambda: len(done(run)) == 2, 20), run.states()
    run.finish()
    assert len(run.frames) == 200
    # and a camera with the same state pointed at another folder that holds a file of the same name
    shutil.copy(first, other / "FILE0001.MP4")
    again = run_source(dashcam(other, state, fast_settings))
    assert again.wait_for(lambda: len(done(again)) == 1, 20)
    again.finish()


def test_a_file_that_grows_after_it_was_read_has_only_its_new_part_read(tmp_path, real_media, fast_settings,
                                                                        run_source):
    # given an MPEG-TS recording (no index: complete once settled), first uploaded half
    ts_file = tmp_path / "rec.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(real_media.variant("h264-bframes.mp4", 20)),
                    "-c", "copy", str(ts_file)], check=True, timeout=120)
    data = ts_file.read_bytes()
    half = len(data) // 2 // 188 * 188
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "rec.ts").write_bytes(data[:half])
    run = run_source(dashcam(folder, tmp_path / "state", fast_settings))
    assert run.wait_for(lambda: len(done(run)) == 1, 20)
    read_first = len(run.frames)
    # when the rest arrives
    with open(folder / "rec.ts", "ab") as f:
        f.write(data[half:])
    assert run.wait_for(lambda: len(done(run)) == 2, 20), run.states()
    run.finish()
    # then every frame was read once: the second pass hands on only frames after the first one's
    assert 50 < read_first < 200
    ts = [f.ts for f in run.frames]
    assert len(ts) == len(set(ts)) and len(ts) >= 195
    assert any("grew" in s.detail for s in run.statuses if s.state == "online")


def test_uploads_are_timed_when_they_were_recorded(tmp_path, real_media, fast_settings, run_source):
    # given two uploads named by recording time (local time in Berlin), the later one uploaded first,
    # and one whose time only its container's creation_time says
    folder = tmp_path / "up"
    folder.mkdir()
    clip = real_media.variant("h264-bframes.mp4", 10)
    shutil.copy(clip, folder / "B_20261201_101000.mp4")
    shutil.copy(clip, folder / "C_20261201_100000.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c", "copy", "-metadata",
                    "creation_time=2026-12-01T08:30:00Z", str(folder / "A_trip.mp4")], check=True, timeout=60)
    run = run_source(dashcam(folder, tmp_path / "state", fast_settings, file_name_time="%Y%m%d_%H%M%S",
                             file_name_time_zone="Europe/Berlin"))
    assert run.wait_for(lambda: len(done(run)) == 3, 30)
    run.finish()
    # then each file's frames start at its recording time, and each file is a segment of its own
    starts = [datetime.fromtimestamp(run.frames[i].ts, tz=timezone.utc).strftime("%H:%M:%S")
              for i in (0, 100, 200)]
    assert starts == ["08:30:00", "09:10:00", "09:00:00"]
    assert len(run.marks) == 3
