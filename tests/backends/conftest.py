"""Fixtures for backend tests: the tiny offline checkpoint, built once per session, and clip makers."""

from __future__ import annotations

import numpy as np

from monitor.clip import Clip


def make_clip(seed: int, frames: int = 8, height: int = 336, width: int = 448, camera: str = "cam") -> Clip:
    """Smooth random frames (a few blobs, not white noise), so resizing and scores behave like video."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (frames, 6, 8, 3)).astype(np.float32)
    ys = np.linspace(0, 5, height)[:, None]
    xs = np.linspace(0, 7, width)[None, :]
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, 5), np.minimum(x0 + 1, 7)
    wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
    img = (small[:, y0, x0] * (1 - wy) * (1 - wx) + small[:, y1, x0] * wy * (1 - wx)
           + small[:, y0, x1] * (1 - wy) * wx + small[:, y1, x1] * wy * wx)
    img += rng.normal(0, 8, img.shape)
    data = np.clip(img, 0, 255).astype(np.uint8)
    ts = tuple(float(i) for i in range(frames))
    return Clip(camera_id=camera, seq=seed, frames=data, timestamps=ts, window_start=0.0, window_end=float(frames))


# Every backend the contract tests and the end-to-end runs cover: (backend, options, checkpoint family).
BACKEND_CASES = {
    "llava_next_video-fast": ("llava_next_video", {"engine": "fast"}, "llava_next_video"),
    "llava_next_video-reference": ("llava_next_video", {"engine": "reference"}, "llava_next_video"),
    "transformers-qwen2_5_vl": ("transformers", {}, "qwen2_5_vl"),
    "transformers-llava_onevision": ("transformers", {}, "llava_onevision"),
}


def model_settings(case: str, checkpoints: dict) -> dict:
    """The `model:` section of a config for one backend case."""
    backend, options, family = BACKEND_CASES[case]
    return {"backend": backend, "options": options, "id": str(checkpoints[family]), "device": "cpu"}
