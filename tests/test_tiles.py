"""The daemon's hook for the UI's tiles: each camera's latest sampled frame as a small JPEG in Redis."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import av
import cv2
import numpy as np
import pytest

from monitor.app.daemon import Monitor
from monitor.evidence.urls import EvidenceSigner
from monitor.schema import Alert
from monitor.tiles import LatestFrames
from tests.fixtures_media import write_h264
from tests.app.test_daemon import entries, make_config, run_for
from tests.ui.conftest import ASSETS


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_the_latest_offered_frame_of_each_camera_lands_in_redis_as_a_small_jpeg_with_a_ttl(redis_config):
    import redis

    with av.open(str(ASSETS / "street.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(3), container.decode(video=0))]
    writer = LatestFrames(redis_config, ttl_seconds=30)
    writer.start()
    try:
        for frame in frames:  # latest wins: only the last one need be written
            writer.offer("street-1", frame)
        deadline = time.monotonic() + 5
        client = redis.Redis.from_url(redis_config.url)
        key = f"{redis_config.prefix}frame:street-1"
        while client.get(key) is None:
            assert time.monotonic() < deadline, "no frame written"
            time.sleep(0.05)
        image = decode(client.get(key))
        assert image.shape == (180, 320, 3)
        assert 0 < client.ttl(key) <= 30
        client.close()
    finally:
        writer.stop()


@pytest.mark.slow
def test_the_daemon_leaves_each_cameras_latest_frame_and_signs_its_evidence_urls(
        redis_config, redis_client, tiny_model_dir, tmp_path):
    import redis

    video = write_h264(tmp_path / "gate.mp4", seconds=8, fps=15)
    config = make_config(redis_config, tiny_model_dir, tmp_path,
                         [{"id": "gate-1", "url": str(video), "pace": "fast"}])
    config = config.model_copy(update={
        "alerts": config.alerts.model_copy(update={"threshold": 0.0, "open_after": 1}),
        "evidence": config.evidence.model_copy(update={"urls": config.evidence.urls.model_copy(
            update={"base_url": "https://monitor.example.org", "signing_key": "s3cret-for-the-test-only"})})})
    monitor = Monitor(config)
    assert run_for(monitor, exit_when_done=True) == 0

    jpeg = redis.Redis.from_url(redis_config.url).get(f"{redis_config.prefix}frame:gate-1")
    assert jpeg is not None and decode(jpeg).shape[1] <= 320
    alert = next(m for _, m in entries(redis_client, f"{redis_config.prefix}alerts") if isinstance(m, Alert))
    url = urlparse(alert.evidence.image_url)
    assert (url.scheme, url.netloc) == ("https", "monitor.example.org") and url.path.startswith("/evidence/gate-1/")
    query = parse_qs(url.query)
    signer = EvidenceSigner(config.evidence.urls, config.evidence.dir)
    path = signer.resolve(url.path[len("/evidence/"):], query["exp"][0], query["sig"][0])
    assert str(path) == alert.evidence.image
