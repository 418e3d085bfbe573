"""The real model path: the tiny checkpoint's answers (noise) go through the alert rules unharmed."""

from __future__ import annotations

import pytest

from monitor.alerts import AlertEngine
from monitor.inference.registry import create_backend
from monitor.inference.contract import InferenceRequest
from monitor.config.models import AlertsConfig, ModelConfig, default_prompts
from monitor.inference.prompts import prompts_for
from monitor.pipeline.messages import descriptions
from monitor.schema import ModelRef, parse_entry, stream_fields
from tests.alerts.conftest import make_clip
from tests.backends.conftest import make_clip as model_clip


@pytest.mark.slow
def test_tiny_model_answers_become_valid_alerts(tiny_model_dir, camera):  # noqa: F811
    backend = create_backend(ModelConfig(id=str(tiny_model_dir), device="cpu", max_new_tokens=24))
    # threshold 0: every window counts as anomalous, so the model's words reach every phase
    engine = AlertEngine(AlertsConfig(threshold=0.0, open_after=1, close_after=1, dedupe_seconds=0))
    prompts = prompts_for(camera, default_prompts())
    alerts = []
    try:
        for n in range(3):
            frames = model_clip(n, frames=4, height=120, width=160).frames
            clip = make_clip(camera.id, n, frames=frames)
            (result,) = backend.infer([InferenceRequest(clip, prompts)])
            anomaly = descriptions(result, camera, ModelRef(id="tiny", backend="transformers"))[0]
            assert anomaly.score is not None
            alerts += engine.process(camera, clip, anomaly)
    finally:
        backend.close()
    assert [a.phase for a in alerts] == ["new", "update", "update"]
    for alert in alerts:
        assert parse_entry(stream_fields("alert", alert)) == alert
        assert alert.title and 0 <= alert.severity <= 2
