"""Small test videos made with PyAV + numpy: good H.264 MP4s and hostile files for the sources' tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_frame(i: int, width: int, height: int, fps: float) -> np.ndarray:
    """An RGB frame with a gradient background and two shapes that move with `i` (so frames differ)."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    img[..., 2] = 96
    t = i / fps
    bw, bh = max(width // 8, 2), max(height // 6, 2)
    bx = int((t * width / 3) % max(width - bw, 1))
    by = height // 3
    img[by:by + bh, bx:bx + bw] = (250, 250, 40)
    cx = int(width / 2 + width / 4 * np.cos(t * 2))
    cy = int(height / 2 + height / 4 * np.sin(t * 2))
    r = max(min(width, height) // 10, 1)
    img[max(cy - r, 0):cy + r, max(cx - r, 0):cx + r] = (30, 30, 230)
    return img


def write_h264(path: Path | str, *, width: int = 320, height: int = 240, fps: int = 15, seconds: float = 2.0,
               gop: int | None = None, bframes: int = 0, container_format: str | None = None) -> Path:
    """Write an H.264 video of moving shapes; keyframes exactly every `gop` frames (default: 1 s)."""
    path = Path(path)
    gop = gop or fps
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast",
                          "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"}
        for i in range(int(round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(moving_frame(i, width, height, fps), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_zero_bytes(path: Path | str) -> Path:
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_not_video(path: Path | str) -> Path:
    path = Path(path)
    path.write_text("this is a shopping list, not a video\n" * 50)
    return path


def write_truncated(path: Path | str, good: Path, keep: float = 0.5) -> Path:
    """The first `keep` of a good MP4 (its moov box is at the end, so the index is gone)."""
    path = Path(path)
    data = good.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_corrupt(path: Path | str, good: Path, seed: int = 1) -> Path:
    """A good MP4 with garbage written over stretches of its middle (the sample data, mostly)."""
    path = Path(path)
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(seed)
    lo, hi = len(data) // 10, len(data) * 8 // 10
    for start in rng.integers(lo, hi, size=12):
        n = int(rng.integers(50, 400))
        data[start:start + n] = rng.integers(0, 256, size=len(data[start:start + n]), dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path
