"""End to end, in process: real video files and RTSP, the tiny model, the real Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import pytest

from monitor.config import validate
from monitor.app.daemon import Monitor
from monitor.schema import Alert, Description, Status, parse_entry
from tests.fixtures_media import write_corrupt, write_h264


def make_config(redis_config, tiny_model_dir, tmp_path, cameras, **window):
    return validate({
        "redis": redis_config.model_dump(),
        "model": {"id": str(tiny_model_dir), "max_new_tokens": 8, "max_batch": 4, "max_wait_ms": 20},
        "window": {"seconds": 4, "stride": 2, "frames": 4, **window},
        "source": {"backoff_initial": 0.2, "backoff_max": 1.0, "connect_timeout": 2, "read_timeout": 2,
                   "scan_interval": 0.2, "settle_seconds": 0.2},
        "state_dir": str(tmp_path / "state"),
        "metrics": {"listen": "127.0.0.1:0"},
        "cameras": cameras,
    })


def entries(client, stream):
    return [(fields, parse_entry(fields)) for _, fields in client.xrange(stream)]


def run_for(monitor: Monitor, seconds: float | None = None, exit_when_done: bool = False) -> int:
    stop = threading.Event()
    if seconds:
        threading.Timer(seconds, stop.set).start()
    return monitor.run(stop, exit_when_done=exit_when_done)


@pytest.mark.slow
def test_a_file_camera_publishes_one_valid_description_per_stride_and_prompt(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    video = write_h264(tmp_path / "dash.mp4", seconds=12, fps=15)
    cams = [{"id": "truck-7", "url": str(video), "kind": "dashcam", "pace": "fast"}]
    monitor = Monitor(make_config(redis_config, tiny_model_dir, tmp_path, cams))
    assert run_for(monitor, exit_when_done=True) == 0

    got = entries(redis_client, f"{redis_config.prefix}descriptions")
    by_prompt = {}
    for fields, message in got:
        assert isinstance(message, Description)
        assert fields["type"] == "description" and fields["camera"] == "truck-7" and fields["ts"] == message.ts
        assert message.frames.count == 4 and len(message.frames.timestamps) == 4
        assert message.frames.decode == "targeted"
        assert message.model.backend == "llava_next_video"
        by_prompt.setdefault(message.prompt_id, []).append(message)
    # 12 s of video at a 2 s stride: a clip at 2, 4, ... 12 s (the last one may fall on the end).
    assert set(by_prompt) == {"anomaly", "road"}
    assert 5 <= len(by_prompt["anomaly"]) <= 6 and len(by_prompt["road"]) == len(by_prompt["anomaly"])
    assert all(0.0 <= m.score <= 1.0 for m in by_prompt["anomaly"])
    assert all(m.score is None for m in by_prompt["road"])
    assert len({m.message_id for _, m in got}) == len(got)
    ends = [m.window.end for m in by_prompt["anomaly"]]
    assert ends == sorted(ends)


@pytest.mark.slow
def test_metrics_health_and_readiness_are_served(redis_config, tiny_model_dir, tmp_path):
    import urllib.error
    import urllib.request

    video = write_h264(tmp_path / "v.mp4", seconds=4, fps=15)
    monitor = Monitor(make_config(redis_config, tiny_model_dir, tmp_path,
                                  [{"id": "cam-a", "url": str(video), "pace": "fast", "loop": True}]))
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while (monitor._http is None or monitor.scheduler.stats.completed < 2) and time.monotonic() < deadline:
            time.sleep(0.2)
        base = f"http://{monitor._http.address}"
        assert urllib.request.urlopen(f"{base}/readyz").status == 200
        assert urllib.request.urlopen(f"{base}/healthz").status == 200
        text = urllib.request.urlopen(f"{base}/metrics").read().decode()
        assert 'monitor_descriptions_total{camera="cam-a",prompt="anomaly"}' in text
        assert "monitor_clip_latency_seconds_bucket" in text and "monitor_ready 1.0" in text
        published = [line for line in text.splitlines() if line.startswith('monitor_published_total{path="direct"}')]
        assert published and float(published[0].split()[-1]) >= 2  # counted at scrape time, not every 30 s
        assert 'monitor_alerts_suppressed_total{reason="cooldown"}' in text
        assert "monitor_verdicts_unparsed_total" in text and "monitor_clips_failed_total 0.0" in text
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/nothing")
    finally:
        stop.set()
        thread.join(60)


@pytest.mark.slow
def test_an_unreachable_camera_does_not_stop_the_others_and_shows_in_status(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    video = write_h264(tmp_path / "street.mp4", seconds=6, fps=15)
    cams = [{"id": "dead-cam", "url": "rtsp://admin:hunter2@127.0.0.1:9/nothing?user=admin&password=hunter3"},
            {"id": "street", "url": str(video), "pace": "fast", "loop": True}]
    monitor = Monitor(make_config(redis_config, tiny_model_dir, tmp_path, cams))
    assert run_for(monitor, seconds=8) == 0

    descriptions = [m for _, m in entries(redis_client, f"{redis_config.prefix}descriptions")]
    assert descriptions and {m.camera.id for m in descriptions} == {"street"}
    status = [m for _, m in entries(redis_client, f"{redis_config.prefix}status")]
    assert all(isinstance(m, Status) for m in status)
    dead = [m for m in status if m.camera and m.camera.id == "dead-cam"]
    assert any(m.state in ("error", "reconnecting") for m in dead)
    assert "hunter2" not in str([m.model_dump() for m in status])
    assert "hunter3" not in str([m.model_dump() for m in status])  # a query-string password too
    worker = [m.state for m in status if m.camera is None]
    assert worker[0] == "starting" and worker[-1] == "stopped"


@pytest.mark.slow
def test_a_corrupt_upload_is_reported_once_and_the_good_ones_are_processed(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    good = write_h264(uploads / "0001.mp4", seconds=5, fps=15)
    write_corrupt(uploads / "0002.mp4", good)
    (uploads / "0003.mp4").write_bytes(b"")
    write_h264(uploads / "0004.mp4", seconds=5, fps=15)
    cams = [{"id": "truck-7", "url": str(uploads), "kind": "dashcam", "pace": "fast", "prompts": ["anomaly"]}]
    monitor = Monitor(make_config(redis_config, tiny_model_dir, tmp_path, cams))
    assert run_for(monitor, seconds=10) == 0

    status = [m for _, m in entries(redis_client, f"{redis_config.prefix}status") if m.camera]
    failed = [m.detail for m in status if m.state == "file_failed"]
    assert any("0003.mp4" in d for d in failed) and sum("0003.mp4" in d for d in failed) == 1
    done = " ".join(m.detail for m in status if m.state == "file_done")
    assert "0001.mp4" in done and "0004.mp4" in done
    descriptions = [m for _, m in entries(redis_client, f"{redis_config.prefix}descriptions")]
    assert len(descriptions) >= 4  # two good 5 s files at a 2 s stride


@pytest.mark.slow
def test_alerts_are_published_when_the_model_says_yes(redis_config, redis_client, tiny_model_dir, tmp_path):
    video = write_h264(tmp_path / "street.mp4", seconds=8, fps=15)
    cams = [{"id": "street", "url": str(video), "pace": "fast"}]
    config = make_config(redis_config, tiny_model_dir, tmp_path, cams)
    # The tiny model's P(Yes) is noise around 0.5: a threshold of 0 makes every window an anomaly.
    config.alerts.threshold = 0.0
    config.alerts.open_after = 1
    config.evidence.dir = str(tmp_path / "evidence")
    monitor = Monitor(config)
    assert run_for(monitor, exit_when_done=True) == 0
    alerts = [m for _, m in entries(redis_client, f"{redis_config.prefix}alerts")]
    assert alerts and all(isinstance(m, Alert) for m in alerts)
    assert alerts[0].phase == "new"
    assert {m.alert_id for m in alerts} == {alerts[0].alert_id}
    evidence = alerts[0].evidence
    assert evidence.image and Path(evidence.image).is_file()
    assert evidence.clip and Path(evidence.clip).is_file()
    assert Path(evidence.clip).parent.parent == tmp_path / "evidence"
    with av.open(evidence.clip) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0


@pytest.mark.slow
@pytest.mark.rtsp
def test_an_rtsp_camera_yields_schema_valid_entries(redis_config, redis_client, tiny_model_dir, tmp_path):
    from tests.sources.conftest import RtspServer, _gi_problem

    if _gi_problem():
        pytest.skip(_gi_problem())
    server = RtspServer({"/gate": "live:320x240@15/15"})
    try:
        cams = [{"id": "gate-1", "url": server.url("/gate", user="viewer:cam-secret"), "kind": "fixed"}]
        monitor = Monitor(make_config(redis_config, tiny_model_dir, tmp_path, cams))
        assert run_for(monitor, seconds=20) == 0
    finally:
        server.stop()
    got = entries(redis_client, f"{redis_config.prefix}descriptions")
    assert len(got) >= 3  # the first once a full 4 s window is in, then a clip every 2 s
    for fields, message in got:
        assert set(fields) == {"type", "camera", "ts", "data"}
        assert message.camera.id == "gate-1" and message.prompt_id == "anomaly"
        assert message.window.start < message.window.end
        assert message.frames.count == 4
        assert all(message.window.start <= t for t in message.frames.timestamps)
    status = [m for _, m in entries(redis_client, f"{redis_config.prefix}status") if m.camera]
    assert any(m.state == "online" for m in status)
    assert "cam-secret" not in str([m.model_dump() for m in status])
