"""The benchmark's workload: the two default prompts and clips of random frames."""

from __future__ import annotations

import numpy as np
import torch

from monitor.clip import Clip
from monitor.config.models import DEFAULT_ANOMALY_PROMPT, DEFAULT_ROAD_PROMPT
from monitor.inference.prompts import Prompt

PROMPTS = (Prompt("anomaly", DEFAULT_ANOMALY_PROMPT, scored=True), Prompt("road", DEFAULT_ROAD_PROMPT))


def make_clips(n: int, frames: int, height: int, width: int, seed: int = 0) -> list[Clip]:
    rng = np.random.default_rng(seed)
    return [Clip(camera_id=f"cam-{i}", seq=i, frames=rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8),
                 timestamps=tuple(float(t) for t in range(frames)), window_start=0.0, window_end=float(frames))
            for i in range(n)]


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
