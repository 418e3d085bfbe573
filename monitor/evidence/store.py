"""The evidence store: a video (MP4, or MKV for codecs MP4 does not take) with pre-roll and a JPEG for each
new alert, under one folder, pruned."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from monitor.clip import Clip
from monitor.config.models import EvidenceConfig
from monitor.evidence.keyframe import encode_jpeg, most_telling
from monitor.evidence.naming import ensure_inside, evidence_base
from monitor.evidence.retention import prune
from monitor.evidence.still import frame_at
from monitor.evidence.urls import EvidenceSigner
from monitor.schema import Evidence, rfc3339
from monitor.sources.ring_export import Exported

logger = logging.getLogger(__name__)

_SLACK_S = 1.0  # packets arrive in bursts; a ring a little behind the window end still holds it


class EvidenceStore:
    """`capture` writes <dir>/<camera>/<camera>_<stamp>.mp4 (or .mkv) and .jpg; paths in the Evidence are
    absolute; its start and end are the first and last frame the video holds."""

    def __init__(self, evidence_cfg: EvidenceConfig):
        if not evidence_cfg.dir:
            raise ValueError("evidence.dir is not set (a loaded MonitorConfig puts it under state_dir)")
        self.cfg = evidence_cfg
        self.root = Path(evidence_cfg.dir).absolute()
        self._lock = threading.Lock()
        self.signer = EvidenceSigner(evidence_cfg.urls, self.root)

    def capture(self, camera_id: str, clip: Clip, ring: Any | None) -> Evidence:
        """Evidence of the clip's window with `pre_roll_seconds` before it. `ring` (a PacketRing) gives
        the MP4 by remuxing; without it, or when it no longer holds that span, only the JPEG is written."""
        if not self.cfg.enabled:
            return Evidence()
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            base = evidence_base(self.root, camera_id, clip.window_end)
            base.parent.mkdir(exist_ok=True)
            ensure_inside(self.root, base.parent)  # again, now that the folder exists and could be a link
            exported = self._write_video(base.with_name(base.name + ".mp4"), ring, clip)
            video = exported.path if exported else None
            image = self._write_jpeg(base.with_name(base.name + ".jpg"), clip, exported)
            self.prune(keep=frozenset(p for p in (image, video) if p is not None))
        # The span the evidence really holds: the video's first and last frame; without one, the clip's own.
        start, end = (exported.start, exported.end) if exported else (clip.timestamps[0], clip.timestamps[-1])
        return Evidence(clip=_str(video), image=_str(image), start=rfc3339(start), end=rfc3339(end),
                        clip_url=self.signer.url(video), image_url=self.signer.url(image))

    def prune(self, now: float | None = None, keep: frozenset[Path] = frozenset()) -> list[Path]:
        """Apply retention (by age, then total size). The daemon may also call this now and then."""
        if not self.root.is_dir():
            return []
        return prune(self.root, self.cfg.max_age_hours * 3600, int(self.cfg.max_total_mb * 2**20),
                     time.time() if now is None else now, keep)

    def _write_jpeg(self, path: Path, clip: Clip, video: Exported | None) -> Path | None:
        index = most_telling(clip.frames)
        still = None
        if video is not None:
            still = frame_at(video.path, clip.timestamps[index] - video.start)
        try:
            data = encode_jpeg(clip.frames[index] if still is None else still, self.cfg.jpeg_quality)
        except ValueError as exc:
            logger.warning("camera %s: no evidence image: %s", clip.camera_id, exc)
            return None
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return path

    def _write_video(self, path: Path, ring: Any | None, clip: Clip) -> Exported | None:
        if ring is None:
            return None
        span = getattr(ring, "span", None)
        # A ring whose packets all predate the window would remux some other stretch of video: refuse it.
        if span is not None and span[1] < clip.window_start - _SLACK_S:
            logger.warning("evidence clip %s not written: the packet ring ends at %.3f, before the window",
                           path.name, span[1])
            return None
        try:
            return ring.export(clip.window_start - self.cfg.pre_roll_seconds, clip.window_end, path)
        except LookupError as exc:
            logger.warning("evidence clip %s not written: %s", path.name, exc)
        except Exception:  # a broken remux must not cost the alert its image
            logger.exception("evidence clip %s not written", path.name)
        return None


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
