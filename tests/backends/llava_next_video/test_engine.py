"""The fast engine computes what the plain path computes: same greedy tokens, same scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monitor.inference.registry import InferenceRequest, create_backend
from monitor.inference.contract import StreamingBackend
from monitor.inference.errors import FatalBackendError
from monitor.config.models import ModelConfig
from monitor.inference.policy import DescribePolicy
from monitor.inference.prompts import Prompt
from tests.backends.conftest import make_clip

ANOMALY = Prompt("anomaly", "Is anything abnormal or dangerous happening? Answer Yes or No first.", scored=True)
ROAD = Prompt("road", "Describe the road situation: traffic, weather and hazards.")
SIZES = [(336, 448), (336, 597), (448, 336), (240, 320), (336, 336), (200, 500)]


def backend_for(tiny_model_dir, **overrides):
    options = {"engine": "fast"} | {k: overrides.pop(k) for k in ("compile", "batch_shapes") if k in overrides}
    settings = dict(id=str(tiny_model_dir), options=options, max_new_tokens=16, max_batch=4) | overrides
    return create_backend(ModelConfig(**settings))


@pytest.fixture(scope="module")
def fast(tiny_model_dir):
    backend = backend_for(tiny_model_dir)
    yield backend
    backend.close()


def mixed_requests(describe=True, frames=8):
    return [InferenceRequest(clip=make_clip(i, frames=frames, height=h, width=w), describe=describe,
                             prompts=(ANOMALY, ROAD) if i % 2 else (ANOMALY,))
            for i, (h, w) in enumerate(SIZES)]


def test_same_greedy_text_and_score_as_the_plain_path(fast):
    requests = mixed_requests()
    for got, want in zip(fast.infer(requests), fast.infer_reference(requests), strict=True):
        assert got.request is want.request
        for g, w in zip(got.results, want.results, strict=True):
            assert g.prompt_id == w.prompt_id and g.text == w.text and g.text
            assert (g.score is None) == (w.score is None)
            if g.score is not None:
                assert g.score == pytest.approx(w.score, abs=1e-4)


def test_same_greedy_tokens_as_generate(fast):
    request = mixed_requests()[1]
    engine, reference = fast.engine, fast.reference
    splits = [[engine.splitter.split(p) for p in request.prompts]]
    out = engine.runner.run(engine.preprocess([request.clip.frames]), splits, max_new_tokens=16)
    for row, prompt in zip(out.tokens[0], request.prompts, strict=True):
        want, _ = reference.run_prompt(request, prompt)
        assert row == want


def test_score_only_requests_get_scores_without_text(fast):
    got = fast.infer(mixed_requests(describe=False))
    want = fast.infer_reference(mixed_requests(describe=False))
    for g, w in zip(got, want, strict=True):
        for gp, wp in zip(g.results, w.results, strict=True):
            assert gp.text == "" and wp.text == ""
            assert (gp.score is None) == (wp.score is None)
            if gp.score is not None:
                assert 0.0 <= gp.score <= 1.0 and gp.score == pytest.approx(wp.score, abs=1e-4)


def test_clips_of_different_frame_counts_in_one_call(fast):
    requests = mixed_requests(frames=4)[:3] + mixed_requests(frames=8)[3:]
    for got, want in zip(fast.infer(requests), fast.infer_reference(requests), strict=True):
        assert [p.text for p in got.results] == [p.text for p in want.results]


def test_on_alert_describes_only_clips_at_or_over_the_threshold(tiny_model_dir, fast):
    scores = [r.results[0].score for r in fast.infer(mixed_requests(describe=False))]
    threshold = float(np.median(scores))
    policy = DescribePolicy("on_alert", threshold=threshold)
    for score, result in zip(scores, fast.infer([policy.apply(r) for r in mixed_requests()]), strict=True):
        assert result.results[0].score == pytest.approx(score, abs=1e-5)
        assert all(bool(p.text) == (score >= threshold) for p in result.results)


def test_every_n_describes_every_nth_clip_of_a_camera(fast):
    policy = DescribePolicy("every_n", every=3)
    requests = [policy.apply(r) for r in mixed_requests()]
    results = fast.infer(requests)
    assert [r.request.id for r in results] == [r.id for r in requests]  # one result per clip, in order
    assert [bool(r.results[0].text) for r in results] == [r.request.clip.seq % 3 == 0 for r in results]
    assert all(r.results[0].score is not None for r in results)


def test_out_of_memory_halves_the_batch_and_finishes(tiny_model_dir, monkeypatch):
    backend = backend_for(tiny_model_dir, max_batch=4)
    real_prepare = backend.engine.runner.prepare

    def prepare_small_only(pixels, prompts, *args, **kwargs):
        if pixels.shape[0] > 1:
            raise torch.OutOfMemoryError("simulated")
        return real_prepare(pixels, prompts, *args, **kwargs)

    monkeypatch.setattr(backend.engine.runner, "prepare", prepare_small_only)
    requests = mixed_requests()
    results = backend.infer(requests)
    assert backend.engine.max_batch == 1
    assert [id(r.request) for r in results] == [id(r) for r in requests]  # one result per clip, in order
    assert all(p.text for r in results for p in r.results)


def test_cuda_errors_other_than_oom_are_fatal(tiny_model_dir, monkeypatch):
    backend = backend_for(tiny_model_dir)

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(backend.engine.runner, "prepare", broken)
    monkeypatch.setattr(backend.engine, "device", torch.device("cuda"))
    with pytest.raises(FatalBackendError):
        backend.infer(mixed_requests()[:1])


def test_benchmark_mode_decodes_exactly_max_new_tokens(fast):
    request = mixed_requests()[0]
    splits = [[fast.engine.splitter.split(ANOMALY)]]
    out = fast.engine.runner.run(fast.engine.preprocess([request.clip.frames]), splits, 16, ignore_eos=True)
    assert len(out.tokens[0][0]) == 16


def test_warmup_runs_every_batch_shape(tiny_model_dir, caplog):
    backend = backend_for(tiny_model_dir, batch_shapes=[1, 2])
    with caplog.at_level("INFO", logger="monitor.backends.llava_next_video.engine"):
        backend.warmup((ANOMALY, ROAD), frames=2)
    assert sum("warm-up: batch of" in m for m in caplog.messages) == 2


def test_kv_pool_grows_for_longer_clips_after_a_larger_batch(tiny_model_dir):
    backend = backend_for(tiny_model_dir, max_batch=4)
    first = mixed_requests(frames=2)[:4]
    later = mixed_requests(frames=4)[:2]
    backend.infer(first)
    rows_before = backend.engine.runner.pool.rows
    for got, want in zip(backend.infer(later), backend.infer_reference(later), strict=True):
        assert [p.text for p in got.results] == [p.text for p in want.results]
    assert backend.engine.runner.pool.rows == rows_before


@pytest.mark.slow
def test_compiled_kernels_keep_tokens_and_scores_and_leave_transformers_alone(tiny_model_dir):
    from transformers.models.llama import modeling_llama

    rotary_before = modeling_llama.apply_rotary_pos_emb
    backend = backend_for(tiny_model_dir, compile=True)
    plain = backend_for(tiny_model_dir)
    requests = mixed_requests()[:3]
    for got, want in zip(backend.infer(requests), plain.infer(requests), strict=True):
        for g, w in zip(got.results, want.results, strict=True):
            assert g.text == w.text
            assert (g.score is None) or g.score == pytest.approx(w.score, abs=1e-4)
    assert backend.engine.runner.shared.k.compiled
    assert modeling_llama.apply_rotary_pos_emb is rotary_before  # the reference path stays the library's


def test_score_only_clips_return_at_once_while_others_decode(tiny_model_dir):
    backend = backend_for(tiny_model_dir)
    describe, score_only = mixed_requests()[1], mixed_requests(describe=False)[0]
    assert isinstance(backend, StreamingBackend) and backend.admit([describe]) == []
    assert backend.busy
    ready = backend.admit([score_only])
    assert [r.request for r in ready] == [score_only] and ready[0].results[0].score is not None
    done = []
    while backend.busy:
        done += backend.advance()
    assert [r.request for r in done] == [describe]
    want = backend.infer_reference([describe])[0]
    assert [p.text for p in done[0].results] == [p.text for p in want.results]
    assert done[0].results[0].score == pytest.approx(want.results[0].score, abs=1e-4)


def test_abort_hands_back_every_clip_in_flight(tiny_model_dir):
    backend = backend_for(tiny_model_dir, max_batch=2)
    requests = mixed_requests()[:3]
    backend.admit(requests[:2])
    backend.engine.waiting.append((requests[2], {}))
    assert {id(r) for r in backend.abort()} == {id(r) for r in requests}
    assert not backend.busy and backend.engine.runner.pool is None


@pytest.mark.slow
def test_after_warmup_new_batch_sizes_compile_nothing(tiny_model_dir):
    from torch._dynamo.utils import counters

    backend = backend_for(tiny_model_dir, compile=True, batch_shapes=[1, 2], max_batch=4)
    backend.warmup((ANOMALY, ROAD), frames=2)
    compiled = counters["stats"]["unique_graphs"]
    assert compiled > 0  # the warm-up compiled the kernels
    requests = [InferenceRequest(clip=make_clip(40 + i, frames=2), prompts=(ANOMALY, ROAD)) for i in range(3)]
    backend.infer(requests)                                    # 3 clips: a size warm-up never ran
    backend.infer([InferenceRequest(clip=r.clip, prompts=r.prompts, describe=False) for r in requests])
    assert counters["stats"]["unique_graphs"] == compiled


def test_clips_with_fewer_prompts_join_the_pool_beside_clips_with_more(tiny_model_dir):
    backend = backend_for(tiny_model_dir, batch_shapes=[1])
    backend.warmup((ANOMALY, ROAD), frames=8)                 # as the daemon does, with every prompt
    dashcam = InferenceRequest(clip=make_clip(51), prompts=(ANOMALY, ROAD))
    fixed = InferenceRequest(clip=make_clip(52), prompts=(ANOMALY,))
    backend.admit([dashcam])
    backend.admit([fixed])                                    # the dashcam clip is still decoding
    assert len(backend.engine.inflight) == 2 and not backend.engine.waiting
    done = []
    while backend.busy:
        done += backend.advance()
    assert sorted(id(r.request) for r in done) == sorted([id(dashcam), id(fixed)])
    want = {id(r.request): r for r in backend.infer_reference([dashcam, fixed])}
    for got in done:
        assert [p.text for p in got.results] == [p.text for p in want[id(got.request)].results]
