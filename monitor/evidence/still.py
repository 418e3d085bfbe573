"""The evidence image at full resolution: the chosen clip frame, found again in the evidence MP4."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)


def frame_at(video: Path, seconds_from_start: float) -> np.ndarray | None:
    """RGB frame of `video` nearest to `seconds_from_start` after its first frame; None if it cannot be
    decoded. The clip's own frames are downscaled to the model's input; operators want the camera's pixels."""
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stamps = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None]
            if not stamps:
                return None
            target = min(stamps) + seconds_from_start
            container.seek(int(max(target, min(stamps)) / stream.time_base), stream=stream, backward=True)
            best = None
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base)
                if best is None or abs(t - target) < best[0]:
                    best = (abs(t - target), frame)
                if t >= target:
                    break
            return None if best is None else best[1].to_ndarray(format="rgb24")
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        logger.warning("no full-resolution still from %s: %s", video.name, exc)
        return None
