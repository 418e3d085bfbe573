"""Runs the configured backend over a video exactly as the daemon would: the file source at fast pace,
the same clip window and sampler, the same anomaly prompt; only the score is asked for."""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import av

from monitor.inference.contract import Backend, InferenceRequest
from monitor.pipeline.camera import SHORT_SIDE
from monitor.config.models import CameraConfig, MonitorConfig
from monitor.evidence.keyframe import encode_jpeg
from monitor.inference.prompts import ANOMALY, prompts_for
from monitor.tiles import thumbnail
from monitor.window import ClipWindow

logger = logging.getLogger(__name__)

THUMB_WIDTH = 192


@dataclass
class ScoredWindow:
    video: str
    seq: int
    start: float  # seconds after the video's first frame
    end: float
    frame_times: tuple[float, ...]
    score: float
    thumb: bytes  # a small JPEG of the clip's middle frame, for the report's worst cases


def camera_id_for(name: str) -> str:
    return (re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem).strip("._-") or "video")[:64]


def video_fps(path: Path) -> float:
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else 25.0


def score_video(config: MonitorConfig, backend: Backend, path: Path, name: str) -> list[ScoredWindow]:
    camera = CameraConfig(id=camera_id_for(name), url=str(path), pace="fast")
    prompts = tuple(p for p in prompts_for(camera, config.prompts, verdict=config.alerts.structured_verdict)
                    if p.id == ANOMALY)
    window = ClipWindow(camera.id, config.window.seconds, config.window.stride, config.window.frames)
    scored: list[ScoredWindow] = []
    batch: list[InferenceRequest] = []
    origin: list[float] = []

    def run_batch() -> None:
        for result in backend.infer(batch):
            clip = result.request.clip
            score = next(r.score for r in result.results if r.prompt_id == ANOMALY)
            t0 = origin[0]
            scored.append(ScoredWindow(name, clip.seq, clip.window_start - t0, clip.window_end - t0,
                                       tuple(t - t0 for t in clip.timestamps), float(score or 0.0),
                                       encode_jpeg(thumbnail(clip.frames[len(clip.frames) // 2], THUMB_WIDTH), 70)))
        batch.clear()

    def on_frame(frame) -> None:
        if not origin:
            origin.append(frame.ts)
        for clip in window.push(frame):
            batch.append(InferenceRequest(clip=clip, prompts=prompts, describe=False))
            if len(batch) >= config.model.max_batch:
                run_batch()

    from monitor.sources import open_source

    with tempfile.TemporaryDirectory(prefix="monitor-eval-") as state_dir:
        source = open_source(camera, config.source, state_dir=Path(state_dir), short_side=SHORT_SIDE,
                             wants=window.wants, on_status=_log_status)
        source.run(on_frame, threading.Event())
    if batch:
        run_batch()
    if not scored:
        logger.warning("%s: no clip (shorter than one stride of %.1f s, or unreadable)", name, config.window.stride)
    return scored


def _log_status(status) -> None:
    if status.state in ("error", "file_failed"):
        logger.warning("%s: %s", status.camera_id, status.detail)
