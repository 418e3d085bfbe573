"""The page in real headless Chromium: tiles, the live feed within 2 s of an XADD, evidence that plays."""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import pytest
from selenium.webdriver.common.by import By

from monitor.pipeline.messages import description
from monitor.inference.contract import PromptResult
from monitor.clip import Clip
from monitor.schema import CameraRef, Status, rfc3339, stable_id, stream_fields
from monitor.tiles import LatestFrames
from tests.ui.conftest import ASSETS, UiServer, evidence_files, make_alert, ui_config, xadd_alert

DOCS = Path(__file__).resolve().parents[2] / "docs"
pytestmark = pytest.mark.slow


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """docs/ when MONITOR_WRITE_SCREENSHOTS=1 (to refresh the README's pictures), else the test's folder."""
    return (DOCS if os.environ.get("MONITOR_WRITE_SCREENSHOTS") else tmp_path) / name


def wait_for(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s: {what}")


def footage_clip(camera: str, asset: str, seconds: float) -> Clip:
    """Eight frames of the bundled footage around `seconds`, as a camera worker would cut them."""
    frames = []
    with av.open(str(ASSETS / asset)) as container:
        for frame in container.decode(video=0):
            if frame.time >= seconds:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == 8:
                break
    import numpy as np

    now = time.time()
    return Clip(camera_id=camera, seq=0, frames=np.stack(frames), timestamps=tuple(now - 8 + i for i in range(8)),
                window_start=now - 10, window_end=now)


def publish_camera_activity(client, config, tmp_path):
    """What a running daemon leaves for the tiles: status with fps, scored descriptions, the latest frame."""
    frames = LatestFrames(config.redis, 60)
    frames.start()
    try:
        scenes = {"street-1": "People cross the street at the zebra crossing", "road-1": "A bus and a car ahead"}
        for camera, asset in (("street-1", "street.mp4"), ("road-1", "road.mp4")):
            cam = next(c for c in config.cameras if c.id == camera)
            status = Status(message_id=stable_id("status", camera), ts=rfc3339(time.time()),
                            camera=CameraRef(id=camera, name=cam.display_name), state="online",
                            stats={"input_fps": 15.0, "decoded_fps": 2.4})
            client.xadd(f"{config.redis.prefix}status", stream_fields("status", status))
            for i, score in enumerate((0.05, 0.1, 0.08, 0.3, 0.62, 0.91, 0.85)):
                clip = footage_clip(camera, asset, 2.0 + i * 2)
                frames.offer(camera, clip.frames[-1])  # as the daemon does: when the clip is cut
                message = description(clip, cam, make_alert(camera).model, PromptResult(
                    "anomaly", f"{'Yes' if score > 0.5 else 'No'}. {scenes[camera]}, clip {i}.", score))
                client.xadd(f"{config.redis.prefix}descriptions", stream_fields("description", message))
        wait_for(lambda: frames.written >= 2, 5, "the latest frames written")
    finally:
        frames.stop()


def test_tiles_show_the_demo_cameras_and_an_alert_reaches_the_feed_within_two_seconds_with_playing_evidence(
        redis_config, redis_client, tmp_path, chromium):
    config = ui_config(redis_config, tmp_path, "ui: {read_only: false}")
    evidence = evidence_files(config)
    with UiServer(config) as server:
        chromium.get(server.url + "/")
        tiles = {el.get_attribute("data-camera") for el in chromium.find_elements(By.CSS_SELECTOR, ".tile")}
        assert tiles == {"street-1", "road-1"}
        wait_for(lambda: chromium.find_element(By.ID, "conn").text == "live", 5, "the event stream connected")

        publish_camera_activity(redis_client, config, tmp_path)
        tile = chromium.find_element(By.CSS_SELECTOR, '.tile[data-camera="street-1"]')
        wait_for(lambda: tile.find_element(By.CSS_SELECTOR, ".spark polyline").get_attribute("points").count(",") == 7,
                 3, "the sparkline of 7 scores")
        assert "clip 6" in tile.find_element(By.CSS_SELECTOR, ".text").text
        wait_for(lambda: chromium.execute_script(
            "return document.querySelector('.tile[data-camera=\"street-1\"] .frame img').naturalWidth") == 320,
            5, "the latest frame in the tile")

        alert = make_alert("street-1", evidence=evidence)
        xadd_alert(redis_client, config, alert)
        added = time.monotonic()
        selector = f'.alert[data-alert="{alert.alert_id}"]'
        wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, selector), 2.0, "the alert in the feed")
        print(f"alert shown {time.monotonic() - added:.3f} s after its XADD")
        item = chromium.find_element(By.CSS_SELECTOR, selector)
        assert item.find_element(By.CSS_SELECTOR, ".title").text == "Person climbs the gate"

        video = item.find_element(By.CSS_SELECTOR, "video")
        chromium.execute_script("arguments[0].play()", video)
        wait_for(lambda: chromium.execute_script("return arguments[0].readyState", video) >= 2, 10,
                 "the evidence MP4 decodable (readyState >= 2)")
        first = chromium.execute_script("return arguments[0].currentTime", video)
        wait_for(lambda: chromium.execute_script("return arguments[0].currentTime", video) > first + 0.3, 10,
                 "the evidence MP4 playing (currentTime advancing)")
        assert chromium.execute_script("return arguments[0].error", video) is None
        wait_for(lambda: chromium.execute_script(
            "return arguments[0].querySelector('img.still').naturalWidth", item) > 0, 5, "the evidence JPEG")

        item.find_element(By.CSS_SELECTOR, ".ack").click()
        wait_for(lambda: redis_client.hget(f"{config.redis.prefix}ui:acks", alert.alert_id), 3, "the ack in Redis")
        wait_for(lambda: "acked" in item.get_attribute("class"), 3, "the alert shown acknowledged")
        chromium.execute_script("arguments[0].pause(); arguments[0].currentTime = 6;", video)
        time.sleep(0.5)
        chromium.save_screenshot(str(screenshot_path(tmp_path, "ui.png")))


def test_a_real_alert_of_the_daemon_plays_its_remuxed_evidence_in_the_page(
        redis_config, redis_client, tmp_path, tiny_model_dir, chromium):
    """The whole path: the bundled footage, the tiny model, a threshold of 0 that forces an alert, the
    evidence MP4 remuxed from the packet ring, the tile's latest frame, the page."""
    import threading

    from monitor.app.daemon import Monitor

    config = ui_config(redis_config, tmp_path, "ui: {read_only: true}")
    cameras = [config.cameras[0].model_copy(update={"url": str(ASSETS / "street.mp4"), "loop": True})]
    config = config.model_copy(update={
        "cameras": cameras,
        "model": config.model.model_copy(update={"id": str(tiny_model_dir), "max_new_tokens": 8, "max_batch": 2}),
        "window": config.window.model_copy(update={"seconds": 4, "stride": 2, "frames": 4}),
        "alerts": config.alerts.model_copy(update={"threshold": 0.0, "open_after": 1}),
        "evidence": config.evidence.model_copy(update={"pre_roll_seconds": 2}),
        "metrics": config.metrics.model_copy(update={"enabled": False})})
    monitor, stop = Monitor(config), threading.Event()
    daemon = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
    with UiServer(config) as server:
        chromium.get(server.url + "/")
        daemon.start()
        try:
            item = wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, ".alert"), 90, "the daemon's alert")[0]
            wait_for(lambda: chromium.execute_script(
                "return document.querySelector('.tile .frame img').naturalWidth") > 0, 10, "the tile's frame")
        finally:
            stop.set()
            daemon.join(60)
        video = item.find_element(By.CSS_SELECTOR, "video")
        assert video.get_attribute("src").startswith(server.url + "/evidence/street-1/")
        chromium.execute_script("arguments[0].play()", video)
        wait_for(lambda: chromium.execute_script("return arguments[0].readyState", video) >= 2, 10,
                 "the remuxed evidence decodable")
        first = chromium.execute_script("return arguments[0].currentTime", video)
        wait_for(lambda: chromium.execute_script("return arguments[0].currentTime", video) > first + 0.3, 10,
                 "the remuxed evidence playing")
