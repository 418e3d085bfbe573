"""Clips of rendered scenes as the camera would hand them to the model, with their ground truth.

Frames go through what a camera's decoder does to them (4:2:0 chroma, then one libswscale AREA
scale to 336 px on the short side), and sample times follow the clip window's uniform sampler, so
training and evaluation see what `monitor run` sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from monitor.assets.scenes import FPS, SceneSpec
from monitor.pipeline.camera import SHORT_SIDE
from monitor.sources.decode import scaled_size

# A window counts as showing an incident when at least this many of its sampled frames do; with
# none it is normal; in between (the incident barely starts or ends in it) it is left out.
MIN_INCIDENT_FRAMES = 3


@dataclass(frozen=True)
class Window:
    spec: SceneSpec
    start: float
    end: float
    times: tuple[float, ...]
    incident: str | None   # the incident most of the sampled frames show, if any
    incident_frames: int   # how many sampled frames show it

    @property
    def label(self) -> str:
        """'incident', 'normal' or 'ambiguous' (MIN_INCIDENT_FRAMES)."""
        if self.incident_frames >= MIN_INCIDENT_FRAMES:
            return "incident"
        return "normal" if self.incident_frames == 0 else "ambiguous"


def sample_times(start: float, end: float, frames: int) -> tuple[float, ...]:
    """The clip window's sampler (monitor.window.ClipWindow.targets): K points spread uniformly."""
    step = (end - start) / frames
    return tuple(round(start + (i + 0.5) * step, 6) for i in range(frames))


def window(spec: SceneSpec, start: float, end: float, frames: int) -> Window:
    times = sample_times(start, end, frames)
    counts: dict[str, int] = {}
    for t in times:
        hit = spec.incident_at(frame_time(t))
        if hit is not None:
            counts[hit.kind] = counts.get(hit.kind, 0) + 1
    kind = max(counts, key=counts.get) if counts else None
    return Window(spec, start, end, times, kind, counts.get(kind, 0) if kind else 0)


def windows(spec: SceneSpec, seconds: float, stride: float, frames: int) -> list[Window]:
    """Every window a camera playing the scene once would cut: one ending every `stride` seconds."""
    out, n = [], 1
    while n * stride <= spec.seconds - 1.0 / FPS:
        end = n * stride
        out.append(window(spec, max(0.0, end - seconds), end, frames))
        n += 1
    return out


def frame_time(t: float) -> float:
    """The time of the frame a sample at `t` gets: the first frame at or after it."""
    return math.ceil(round(t * FPS, 6)) / FPS


def as_decoded(bgr: np.ndarray) -> np.ndarray:
    """A rendered BGR frame -> RGB at the camera's decode size, through 4:2:0 and libswscale AREA."""
    yuv = av.VideoFrame.from_ndarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), format="rgb24").reformat(format="yuv420p")
    width, height = scaled_size(yuv.width, yuv.height, SHORT_SIDE)
    return yuv.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


def rendered_frames(scene, win: Window) -> np.ndarray:
    """K x H x W x 3 uint8 frames of a scene object at the window's sample times."""
    return np.stack([as_decoded(scene.frame(frame_time(t))) for t in win.times])


def decoded_video(path: Path) -> list[np.ndarray]:
    """Every frame of an MP4, decoded and scaled as the camera does (for held-out encoded footage)."""
    out = []
    with av.open(str(path)) as container:
        for vf in container.decode(video=0):
            width, height = scaled_size(vf.width, vf.height, SHORT_SIDE)
            out.append(vf.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray())
    return out


def decoded_frames(video: list[np.ndarray], win: Window) -> np.ndarray:
    return np.stack([video[min(len(video) - 1, round(frame_time(t) * FPS))] for t in win.times])
