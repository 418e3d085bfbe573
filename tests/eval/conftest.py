"""Labelled clips made of the bundled footage, and a backend that plays back scripted scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from monitor.assets.make_footage import BUNDLED, scene_frames, write_mp4

from monitor.inference.registry import InferenceResult, PromptResult, register
from monitor.config import parse_config

ASSETS = Path(__file__).resolve().parents[2] / "monitor" / "assets"
SCRIPTED: dict[tuple[str, int], float] = {}  # (camera id, clip seq) -> P(Yes)


class ScriptedBackend:
    """Stands in for a model whose answers a test has to know exactly: returns the score scripted for each
    clip and fails loudly for a clip it has no score for. The real path is tests/eval/test_tiny_eval.py."""

    name = "scripted"
    model_id = "scripted"

    def __init__(self, config):
        self.requests = []

    def infer(self, requests):
        out = []
        for request in requests:
            self.requests.append(request)
            score = SCRIPTED[(request.clip.camera_id, request.clip.seq)]
            out.append(InferenceResult(request, tuple(PromptResult(p.id, "", score) for p in request.prompts)))
        return out

    def close(self):
        pass


register("scripted")(ScriptedBackend)


@pytest.fixture
def clips(tmp_path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    for name, spec in BUNDLED.items():  # the bundled scenes, 20 s long: the numbers here are worked out for that
        write_mp4(folder / name, scene_frames(replace(spec, seconds=20.0)), preset="veryfast")
    return folder


def eval_config(tmp_path: Path, backend: str, model_id: str = "scripted", alerts: str = "") -> object:
    return parse_config(f"""
model: {{id: "{model_id}", backend: {backend}, max_batch: 4}}
window: {{seconds: 4, stride: 2, frames: 4}}
state_dir: "{tmp_path}"
alerts: {{threshold: 0.5, open_after: 2, close_after: 1, smoothing: 1.0 {alerts}}}
""", "<test>", {})
