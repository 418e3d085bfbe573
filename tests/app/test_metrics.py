"""Counters are counters, read at scrape time, and the exposition passes promtool's lint."""

from __future__ import annotations

from monitor.app.metrics import Metrics, Snapshot
from tests.deploy.validators import check_metrics


def test_counters_are_read_at_scrape_time_and_typed_as_counters():
    numbers = Snapshot(dropped=3, failed=1, unparsed=2, published={"direct": 5, "queued": 1},
                       suppressed={"cooldown": 4}, trimmed_pending={"descriptions": 7}, pending=1, outbox_bytes=99)
    metrics = Metrics()
    metrics.collect_from(lambda: numbers)
    metrics.source_status("cam-a", "online", {"reconnects": 2, "last_frame_age_s": 0.5, "input_fps": 15.0})
    metrics.clips.labels("cam-a").inc()
    text = metrics.render().decode()
    assert "# TYPE monitor_clips_dropped_total counter" in text and "monitor_clips_dropped_total 3.0" in text
    assert 'monitor_published_total{path="direct"} 5.0' in text
    assert 'monitor_stream_trimmed_pending_total{stream="descriptions"} 7.0' in text
    assert 'monitor_camera_reconnects_total{camera="cam-a"} 2.0' in text
    assert 'monitor_camera_last_frame_age_seconds{camera="cam-a"} 0.5' in text
    numbers.dropped = 4  # the next scrape sees the new number, no refresh step in between
    assert "monitor_clips_dropped_total 4.0" in metrics.render().decode()
    check_metrics(text)


def test_a_removed_camera_leaves_no_series():
    metrics = Metrics()
    metrics.collect_from(Snapshot)
    metrics.source_status("cam-a", "online", {"reconnects": 1})
    metrics.forget("cam-a")
    assert "cam-a" not in metrics.render().decode()
