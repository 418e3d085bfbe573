"""The evidence image: the clip frame that differs most from the rest of the clip, as a JPEG."""

from __future__ import annotations

import cv2
import numpy as np


def most_telling(frames: np.ndarray) -> int:
    """Index of the frame farthest from the clip's median frame: the median is the scene as it usually
    looks over the window, so the frame farthest from it shows the event best. Ties go to the newest."""
    if len(frames) <= 2:
        return len(frames) - 1
    median = np.median(frames, axis=0)
    distance = np.abs(frames.astype(np.float32) - median).mean(axis=(1, 2, 3))
    return int(len(frames) - 1 - np.argmax(distance[::-1]))


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} frame as JPEG")
    return data.tobytes()
