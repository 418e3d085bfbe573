"""The plain transformers path on the tiny checkpoint: loading, scores, determinism, errors."""

from __future__ import annotations

import pytest
import torch

from monitor.inference.registry import InferenceRequest, create_backend
from monitor.inference.errors import ModelLoadError
from monitor.config.models import ModelConfig
from monitor.inference.prompts import Prompt
from tests.backends.conftest import make_clip

ANOMALY = Prompt("anomaly", "Is anything abnormal or dangerous happening? Answer Yes or No first.", scored=True)
ROAD = Prompt("road", "Describe the road situation.")


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    backend = create_backend(ModelConfig(id=str(tiny_model_dir), options={"engine": "reference"}, max_new_tokens=12))
    yield backend
    backend.close()


def test_loads_on_cpu_in_float32(reference):
    assert reference.device.type == "cpu"
    assert reference.model.dtype == torch.float32


def test_results_follow_request_and_prompt_order_with_scores_in_unit_interval(reference):
    requests = [InferenceRequest(clip=make_clip(i, height=h, width=w), prompts=(ANOMALY, ROAD))
                for i, (h, w) in enumerate([(336, 448), (336, 597), (448, 336), (240, 320)])]
    results = reference.infer(requests)
    assert [r.request for r in results] == requests
    for result in results:
        assert [p.prompt_id for p in result.results] == ["anomaly", "road"]
        anomaly, road = result.results
        assert 0.0 <= anomaly.score <= 1.0
        assert road.score is None
        assert anomaly.text and road.text


def test_same_clip_gives_same_text_and_score(reference):
    request = InferenceRequest(clip=make_clip(7), prompts=(ANOMALY,))
    first, second = reference.infer([request])[0].results[0], reference.infer([request])[0].results[0]
    assert first == second


def test_scores_differ_between_clips(reference):
    scores = {reference.infer([InferenceRequest(clip=make_clip(i), prompts=(ANOMALY,), describe=False)])[0]
              .results[0].score for i in range(3)}
    assert len(scores) == 3


def test_score_only_request_returns_score_without_text(reference):
    request = InferenceRequest(clip=make_clip(3), prompts=(ANOMALY, ROAD), describe=False)
    anomaly, road = reference.infer([request])[0].results
    full = reference.infer([InferenceRequest(clip=make_clip(3), prompts=(ANOMALY,))])[0].results[0]
    assert anomaly.text == "" and road.text == "" and road.score is None
    assert anomaly.score == pytest.approx(full.score, abs=1e-5)


@pytest.mark.parametrize("model_id", ["/nonexistent/model-folder", "./no/such/dir"])
def test_missing_folder_gives_a_clear_error(model_id):
    with pytest.raises(ModelLoadError, match="make-tiny"):
        create_backend(ModelConfig(id=model_id))


def test_folder_without_checkpoint_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        create_backend(ModelConfig(id=str(tmp_path)))


def test_unreachable_hub_id_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        create_backend(ModelConfig(id="nobody-here/no-such-model-xyz", device="cpu"))
