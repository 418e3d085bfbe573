"""The evidence image at full resolution: the chosen clip frame, found again in the evidence MP4."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)


def frame_before_end(mp4: Path, seconds_before_end: float) -> np.ndarray | None:
    """RGB frame of `mp4` nearest to `seconds_before_end` before its last frame; None if it cannot be
    decoded. The clip's own frames are downscaled to the model's input; operators want the camera's pixels.
    The MP4 ends at the window's end, so time before the end maps a clip timestamp into the MP4."""
    try:
        with av.open(str(mp4)) as container:
            stream = container.streams.video[0]
            stamps = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None]
            if not stamps:
                return None
            target = max(stamps) - seconds_before_end
            container.seek(int(max(target, min(stamps)) / stream.time_base), stream=stream, backward=True)
            best = None
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base)
                if best is None or abs(t - target) < best[0]:
                    best = (abs(t - target), frame)
                if t >= target:
                    break
            return None if best is None else best[1].to_ndarray(format="rgb24")
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        logger.warning("no full-resolution still from %s: %s", mp4.name, exc)
        return None
