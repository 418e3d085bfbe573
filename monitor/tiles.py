"""The latest sampled frame of each camera as a small JPEG in Redis, for the UI's tiles.

Camera threads only hand over a reference (latest wins); a thread of its own encodes and writes, so
neither a camera nor the GPU thread ever waits for JPEG encoding or for Redis.
"""

from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np
import redis

from monitor.config.models import RedisConfig
from monitor.evidence.keyframe import encode_jpeg
from monitor.keys import Keys

logger = logging.getLogger(__name__)

TILE_WIDTH = 320
JPEG_QUALITY = 70


class LatestFrames:
    def __init__(self, redis_cfg: RedisConfig, ttl_seconds: float):
        self.keys = Keys(redis_cfg.prefix)
        self.ttl = max(1, int(round(ttl_seconds)))
        kwargs = {"socket_timeout": redis_cfg.socket_timeout, "socket_connect_timeout": redis_cfg.socket_timeout}
        if redis_cfg.password:
            kwargs["password"] = redis_cfg.password
        self._redis = redis.Redis.from_url(redis_cfg.url, **kwargs)  # bytes in and out
        self._pending: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latest-frames", daemon=True)
        self._warned = 0.0
        self.written = 0

    def offer(self, camera_id: str, rgb: np.ndarray) -> None:
        """Called from a camera thread for every clip: remembers the frame, nothing more."""
        with self._lock:
            self._pending[camera_id] = rgb
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._redis.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, {}
            for camera_id, rgb in batch.items():
                self._write(camera_id, rgb)

    def _write(self, camera_id: str, rgb: np.ndarray) -> None:
        try:
            self._redis.set(self.keys.frame(camera_id), encode_jpeg(thumbnail(rgb), JPEG_QUALITY), ex=self.ttl)
            self.written += 1
        except (redis.RedisError, ValueError) as exc:
            if time.monotonic() - self._warned > 60:  # Redis away: say so once a minute, not per frame
                self._warned = time.monotonic()
                logger.warning("latest frame of %s not written: %s", camera_id, exc)


def thumbnail(rgb: np.ndarray, width: int = TILE_WIDTH) -> np.ndarray:
    h, w = rgb.shape[:2]
    if w <= width:
        return rgb
    return cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
