"""Per-camera gauges follow each source's status and leave with a removed camera; health endpoints
answer 503 when the process is unhealthy or not ready."""

from __future__ import annotations

import urllib.error
import urllib.request

from monitor.metrics import HealthServer, Metrics


def series(metrics: Metrics, camera: str) -> dict[str, float]:
    found = {}
    for line in metrics.render().decode().splitlines():
        if not line.startswith("#") and f'camera="{camera}"' in line:
            name, value = line.rsplit(" ", 1)
            found[name.split("{")[0]] = float(value)
    return found


def test_source_status_sets_each_cameras_gauges():
    metrics = Metrics()
    metrics.source_status("gate", "online", {"input_fps": 15.0, "decoded_fps": 1.5, "last_frame_age_s": 0.2,
                                             "reconnects": 3, "stalls": 1, "corrupt_packets": 0})
    metrics.source_status("yard", "reconnecting", {"reconnects": 7})
    gate, yard = series(metrics, "gate"), series(metrics, "yard")
    assert gate == {"monitor_camera_up": 1.0, "monitor_camera_input_fps": 15.0, "monitor_camera_decoded_fps": 1.5,
                    "monitor_camera_last_frame_age_s": 0.2, "monitor_camera_reconnects_total": 3.0,
                    "monitor_camera_stalls_total": 1.0, "monitor_camera_corrupt_packets_total": 0.0}
    assert yard == {"monitor_camera_up": 0.0, "monitor_camera_reconnects_total": 7.0}


def test_a_forgotten_camera_leaves_no_series_and_the_others_stay():
    metrics = Metrics()
    for camera in ("gate", "yard"):
        metrics.source_status(camera, "online", {"input_fps": 10.0, "reconnects": 1, "files_failed": 2})
    metrics.forget("gate")
    metrics.forget("never-seen")                      # forgetting an unknown camera is harmless
    assert series(metrics, "gate") == {}
    assert series(metrics, "yard")["monitor_camera_input_fps"] == 10.0
    assert series(metrics, "yard")["monitor_camera_files_failed_total"] == 2.0


def test_a_failing_refresh_does_not_break_the_scrape():
    metrics = Metrics()
    metrics.on_scrape(lambda: 1 / 0)
    metrics.on_scrape(lambda: metrics.pending.set(4))
    assert "monitor_clips_pending 4.0" in metrics.render().decode()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_and_readyz_answer_503_while_false():
    state = {"healthy": True, "ready": False}
    server = HealthServer("127.0.0.1:0", Metrics(), lambda: state["healthy"], lambda: state["ready"])
    server.start()
    base = f"http://{server.address}"
    try:
        assert get(f"{base}/readyz") == (503, "not ready\n")
        assert get(f"{base}/healthz") == (200, "ok\n")
        state.update(ready=True)
        assert get(f"{base}/readyz") == (200, "ready\n")
        state.update(healthy=False)
        assert get(f"{base}/healthz") == (503, "unhealthy\n")
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.stop()
