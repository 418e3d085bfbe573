"""What flows from the sources to the model: decoded, downscaled frames and sampled clips."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded frame, already downscaled to the model's input size (RGB, uint8, H x W x 3).

    `ts` is the frame's time on the camera's clock in seconds since the Unix epoch: live streams map
    presentation timestamps onto the wall clock; files map them onto the time playback started.
    """

    camera_id: str
    ts: float
    image: np.ndarray
    keyframe: bool = False


@dataclass(frozen=True)
class Clip:
    """`frames` (K x H x W x 3 uint8) spread uniformly over [window_start, window_end] of one camera.

    A window with a gap holds fewer frames than it asked for (`expected`): never a frame from outside it,
    never one twice. `final` marks the last clip of a segment that ended (the end of a file)."""

    camera_id: str
    seq: int
    frames: np.ndarray
    timestamps: tuple[float, ...]
    window_start: float
    window_end: float
    source: str = ""
    decode: str = ""  # the decode mode that picked the frames: targeted, keyframes or all
    expected: int = 0  # samples the window asked for (0: as many as it holds)
    final: bool = False
    created: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"clip frames must be K x H x W x 3 uint8, got {self.frames.shape} {self.frames.dtype}")
        if len(self.timestamps) != len(self.frames):
            raise ValueError("one timestamp per frame")


@dataclass(frozen=True)
class SegmentEnd:
    """What a source emits between frames when a segment ends: the end of a file (its last partial stride
    is analysed at once) or a jump to footage that does not continue the previous one."""

    camera_id: str
    ts: float  # camera time of the end (the last frame's)
    reason: str = "end of file"
