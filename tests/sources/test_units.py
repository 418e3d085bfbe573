"""Small parts of the sources: backoff, the live clock, the dashcam ledger, url kinds, masked errors."""

from __future__ import annotations

import json
import random
import time

import pytest

from monitor.config.models import SourceConfig
from monitor.sources.backoff import Backoff
from monitor.sources.ledger import DONE, FAILED, Ledger, Plan, Seen
from monitor.sources.media import describe_error, input_options, url_kind
from monitor.sources.timeline import FileClock, LiveClock


def test_backoff_doubles_up_to_the_cap_with_jitter_and_resets():
    backoff = Backoff(1.0, 8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))
    assert len(set(delays)) == len(delays)  # jittered: cameras failing together spread out
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_live_clock_maps_pts_onto_the_wall_clock_from_the_first_packet():
    clock = LiveClock()
    now = time.time()
    first = clock.observe(100.0)
    assert abs(first - now) < 0.05
    # a packet 0.5 s of pts later that arrives at once (a burst): its time keeps the stream's spacing and it
    # is held until then
    second = clock.observe(100.5)
    assert second - first == pytest.approx(0.5)
    assert 0.4 < clock.delay(second) <= 0.5


def test_live_clock_reanchors_on_a_jump_and_never_goes_back():
    clock = LiveClock()
    before = clock.observe(105.0)
    assert clock.observe(3.0) >= before  # the stream clock went back (camera reboot)
    assert abs(clock.observe(1e6) - time.time()) < 0.05  # or far ahead (pts wrap): re-anchored at arrival


def test_file_clock_continues_across_passes():
    clock = FileClock(base=1000.0, mono=0.0)
    clock.start(2.0)
    assert clock.ts(2.0) == 1000.0 and clock.ts(3.5) == 1001.5
    following = clock.following(10.0)
    following.start(2.0)
    assert following.ts(2.0) == 1010.0


def test_ledger_survives_a_restart_and_writes_atomically(tmp_path):
    path = tmp_path / "cam" / "dashcam-ledger.json"
    ledger = Ledger(path)
    ledger.mark("a.mp4", DONE, seen=Seen(10, 1, "h"), next_ts=123.0)
    ledger.mark("b.mp4", FAILED, reason="empty file (0 bytes)")
    again = Ledger(path)
    assert again.state("a.mp4") == DONE and again.state("b.mp4") == FAILED and again.state("c.mp4") is None
    assert again.next_ts == 123.0
    assert [p.name for p in path.parent.iterdir()] == ["dashcam-ledger.json"]  # no temp file left behind


def test_a_damaged_ledger_is_moved_aside_not_fatal(tmp_path):
    path = tmp_path / "dashcam-ledger.json"
    path.write_text('{"files": {"a.mp4": ')
    ledger = Ledger(path)
    assert ledger.entries == {}
    assert any(p.name.startswith("dashcam-ledger.json.damaged-") for p in tmp_path.iterdir())


def test_ledger_forgets_deleted_files_but_not_on_an_empty_listing(tmp_path):
    ledger = Ledger(tmp_path / "l.json")
    ledger.mark("a.mp4", DONE)
    ledger.mark("b.mp4", DONE)
    ledger.forget_missing(set())  # an unmounted share lists nothing: keep everything
    assert set(ledger.entries) == {"a.mp4", "b.mp4"}
    ledger.forget_missing({"b.mp4"})
    assert set(json.loads((tmp_path / "l.json").read_text())["files"]) == {"b.mp4"}


def test_ledger_reads_a_reused_name_again_and_a_grown_file_from_where_it_stopped(tmp_path):
    ledger = Ledger(tmp_path / "l.json", tmp_path / "card")
    ledger.mark("FILE0001.MP4", DONE, seen=Seen(1000, 5, "head-a"), read_s=60.0)
    assert ledger.plan("FILE0001.MP4", Seen(1000, 5, "head-a")) == Plan(False)
    assert ledger.plan("FILE0001.MP4", Seen(900, 9, "head-b")).resume_s == 0.0  # new footage, same name
    grown = ledger.plan("FILE0001.MP4", Seen(1500, 9, "head-a"))
    assert grown.read and grown.resume_s == 60.0 and "grew" in grown.why
    # another folder's file of the same name is another file
    assert Ledger(tmp_path / "l.json", tmp_path / "other").plan("FILE0001.MP4", Seen(1000, 5, "head-a")).read


def test_a_version_1_ledger_keyed_by_name_is_read_as_this_folders(tmp_path):
    path = tmp_path / "l.json"
    path.write_text(json.dumps({"version": 1, "next_ts": 5.0, "files": {
        "a.mp4": {"state": "done", "size": 10, "reason": "", "at": 1.0}}}))
    ledger = Ledger(path, tmp_path / "up")
    assert ledger.state("a.mp4") == DONE and ledger.plan("a.mp4", Seen(10, 7, "x")) == Plan(False)


@pytest.mark.parametrize("url, kind", [("rtsp://h/s", "rtsp"), ("RTSPS://h/s", "rtsp"), ("http://h/a.m3u8", "http"),
                                       ("https://h/v.mp4", "http"), ("srt://h:9000", "stream"),
                                       ("/data/v.mp4", "file"), ("v.mp4", "file")])
def test_url_kinds(url, kind):
    assert url_kind(url) == kind


def test_rtsp_uses_tcp_and_microsecond_timeouts():
    options = input_options("rtsp://cam/s", SourceConfig(read_timeout=2.5))
    assert options["rtsp_transport"] == "tcp" and options["timeout"] == "2500000"
    assert input_options("https://cam/live.m3u8", SourceConfig(read_timeout=2))["rw_timeout"] == "2000000"


def test_errors_never_carry_the_password():
    url = "rtsp://admin:s3cret@cam.local/stream1"
    text = describe_error(ConnectionRefusedError(111, "Connection refused", url), url)
    assert "s3cret" not in text and "admin:***@cam.local" in text
