"""Video sources: RTSP/HTTP/HLS cameras, local files and dashcam folders, turned into downscaled Frames.

The contract the daemon uses: `open_source(...)` returns a `Source`; `Source.run(emit, stop)` blocks until
`stop` is set or the source is finished and never raises for camera faults; it reports them as
`SourceStatus` through `on_status` and retries with capped exponential backoff and jitter. `emit` gets
`Frame`s in time order and, where footage ends (the end of a file, an upload, an HLS VOD), a
`SegmentEnd`: the window analyses the last partial stride at once, and what follows is a new segment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from monitor.config.models import CameraConfig, SourceConfig

from .base import STATES, Source, SourceStatus
from .dashcam import DashcamSource
from .file import FileSource
from .live import LiveSource
from .media import local_path, url_kind
from .packet_ring import PacketRing

__all__ = ["STATES", "PacketRing", "Source", "SourceStatus", "open_source"]


def open_source(camera: CameraConfig, settings: SourceConfig, *, state_dir: Path, short_side: int = 336,
                wants: Callable[[float], bool] = lambda ts: True,
                on_status: Callable[[SourceStatus], None] = lambda s: None,
                packet_ring: PacketRing | None = None) -> Source:
    """The source for `camera.url`: a live stream (any scheme but file://), a dashcam folder (kind dashcam,
    or any directory) or a video file. Nothing is opened until `run` is called."""
    kind = url_kind(camera.url)
    if kind in ("rtsp", "http", "stream"):
        cls: type[Source] = LiveSource
    elif _is_folder(camera):
        cls = DashcamSource
    else:
        cls = FileSource
    return cls(camera, settings, state_dir=Path(state_dir), short_side=short_side, wants=wants,
               on_status=on_status, packet_ring=packet_ring)


def _is_folder(camera: CameraConfig) -> bool:
    """A directory, or one that does not exist yet but is named like one (trailing slash, or a dashcam url
    without a file suffix)."""
    path = local_path(camera.url)
    if path.is_dir() or camera.url.endswith(("/", "\\")):
        return True
    return camera.kind == "dashcam" and not path.exists() and not path.suffix
