"""A deterministic backend that plays back scripted scores and answers, for the alert rules only."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from monitor.inference.contract import InferenceRequest, InferenceResult, PromptResult
from monitor.clip import Clip
from monitor.config.models import AlertsConfig, CameraConfig, default_prompts
from monitor.inference.prompts import prompts_for
from monitor.pipeline.messages import descriptions
from monitor.schema import ModelRef

T0 = 1_790_000_000.0  # camera clock of the first window's end
STRIDE = 5.0
MODEL = ModelRef(id="scripted", backend="scripted")


class ScriptedBackend:
    """Answers the anomaly prompt of the n-th clip with script[n]: a score, or (score, text)."""

    name = "scripted"
    model_id = "scripted"

    def __init__(self, script: Sequence[float | None | tuple[float | None, str]]):
        self.script = list(script)
        self.calls = 0

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        out = []
        for request in requests:
            item = self.script[self.calls]
            self.calls += 1
            score, text = item if isinstance(item, tuple) else (item, "Yes. Someone is at the gate.")
            out.append(InferenceResult(request, tuple(PromptResult(p.id, text, score) for p in request.prompts)))
        return out

    def close(self) -> None:
        pass


def make_clip(camera_id: str, n: int, frames: np.ndarray | None = None, t0: float = T0) -> Clip:
    end = t0 + n * STRIDE
    frames = frames if frames is not None else np.zeros((4, 8, 8, 3), np.uint8)
    stamps = tuple(float(t) for t in np.linspace(end - 10.0, end, len(frames)))
    return Clip(camera_id, n, frames, stamps, end - 10.0, end)


def run_script(engine, camera: CameraConfig, script, first: int = 0):
    """Feed the script through backend -> descriptions -> engine; returns [(window index, alert)]."""
    backend = ScriptedBackend(script)
    prompts = prompts_for(camera, default_prompts())
    out = []
    for i in range(first, first + len(script)):
        clip = make_clip(camera.id, i)
        (result,) = backend.infer([InferenceRequest(clip, prompts)])
        anomaly = descriptions(result, camera, MODEL)[0]
        out.extend((i, alert) for alert in engine.process(camera, clip, anomaly))
    return out


@pytest.fixture
def camera() -> CameraConfig:
    return CameraConfig(id="gate-1", url="rtsp://cam.local/stream1")


@pytest.fixture
def rules() -> AlertsConfig:
    # No smoothing and no dedupe unless a test asks: each test states the rule it checks.
    return AlertsConfig(threshold=0.5, open_after=2, close_after=2, cooldown_seconds=60, smoothing=1.0,
                        dedupe_seconds=0)
