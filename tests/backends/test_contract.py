"""The inference contract, one module for every backend: the LLaVA-NeXT-Video engine, its reference
runner, and the generic transformers backend on tiny Qwen2.5-VL and LLaVA-OneVision checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.config.models import ModelConfig
from monitor.inference.contract import Backend, InferenceRequest, StreamingBackend
from monitor.inference.policy import DescribePolicy
from monitor.inference.prompts import Prompt
from monitor.inference.registry import create_backend
from tests.backends.conftest import BACKEND_CASES, make_clip, model_settings

pytestmark = pytest.mark.slow

ANOMALY = Prompt("anomaly", "Is anything abnormal or dangerous happening? Answer Yes or No first.", scored=True)
ROAD = Prompt("road", "Describe the road situation.")
SMOKE = Prompt("smoke", "Is there smoke or fire? Answer Yes or No first.", scored=True)


@pytest.fixture(scope="module", params=list(BACKEND_CASES))
def backend(request, tiny_checkpoints):
    config = ModelConfig(**model_settings(request.param, tiny_checkpoints), max_new_tokens=6, max_batch=4)
    backend = create_backend(config)
    yield backend
    backend.close()


def requests_for(backend, n=3, prompts=(ANOMALY, ROAD), describe=True):
    side = backend.input_spec.short_side
    return [InferenceRequest(clip=make_clip(i, frames=4, height=side, width=side * 4 // 3, camera=f"cam-{i % 2}"),
                             prompts=prompts, describe=describe) for i in range(n)]


def test_the_backend_implements_the_protocol_it_declares(backend):
    assert isinstance(backend, Backend)
    streaming = isinstance(backend, StreamingBackend)
    assert streaming == (getattr(backend, "options", None) is not None
                         and getattr(backend.options, "engine", None) == "fast")
    assert backend.input_spec.short_side and backend.input_spec.short_side >= 16


def test_results_come_back_in_request_order_with_a_score_per_scored_prompt_and_words(backend):
    requests = requests_for(backend, prompts=(ANOMALY, ROAD, SMOKE))
    results = backend.infer(requests)
    assert [r.request.id for r in results] == [r.id for r in requests]
    for result in results:
        assert [p.prompt_id for p in result.results] == ["anomaly", "road", "smoke"]
        by_id = {p.prompt_id: p for p in result.results}
        assert 0.0 <= by_id["anomaly"].score <= 1.0 and 0.0 <= by_id["smoke"].score <= 1.0
        assert by_id["road"].score is None
        assert all(p.text for p in result.results)


def test_a_request_without_description_gets_scores_only(backend):
    results = backend.infer(requests_for(backend, describe=False))
    for result in results:
        anomaly, road = result.results
        assert anomaly.score is not None and anomaly.text == "" and road.text == ""


def test_scores_do_not_depend_on_whether_words_were_asked_for(backend):
    plain = [r.results[0].score for r in backend.infer(requests_for(backend, describe=False))]
    worded = [r.results[0].score for r in backend.infer(requests_for(backend))]
    assert worded == pytest.approx(plain, abs=1e-4)


def test_on_alert_describes_only_clips_whose_score_reaches_the_threshold(backend):
    scores = [r.results[0].score for r in backend.infer(requests_for(backend, n=4, describe=False))]
    threshold = float(np.median(scores))
    policy = DescribePolicy("on_alert", threshold=threshold)
    for score, result in zip(scores, backend.infer([policy.apply(r) for r in requests_for(backend, n=4)])):
        assert result.results[0].score == pytest.approx(score, abs=1e-4)
        assert all(bool(p.text) == (score >= threshold) for p in result.results)


def test_every_n_describes_every_nth_clip_and_scores_all(backend):
    policy = DescribePolicy("every_n", every=2)
    results = backend.infer([policy.apply(r) for r in requests_for(backend, n=4)])
    assert [bool(r.results[0].text) for r in results] == [r.request.clip.seq % 2 == 0 for r in results]
    assert all(r.results[0].score is not None for r in results)


def test_a_streaming_backend_returns_each_admitted_request_exactly_once(backend):
    if not isinstance(backend, StreamingBackend):
        pytest.skip("a batch backend")
    requests = requests_for(backend, n=5)
    seen = []
    queue = list(requests)
    while queue or backend.busy:
        room = backend.room()
        if queue and room > 0:
            seen += backend.admit(queue[:room])
            queue = queue[room:]
        else:
            seen += backend.advance()
    assert sorted(r.request.id for r in seen) == sorted(r.id for r in requests)
