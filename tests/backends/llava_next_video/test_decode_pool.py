"""Continuous batching: clips that join a decoding batch late, or stay after others leave, decode
exactly what they decode alone."""

from __future__ import annotations

import pytest

from monitor.inference.registry import InferenceRequest, create_backend
from monitor.backends.llava_next_video.decode_pool import bucket
from monitor.config.models import ModelConfig
from monitor.inference.prompts import Prompt
from tests.backends.conftest import make_clip

ANOMALY = Prompt("anomaly", "Is anything abnormal or dangerous happening? Answer Yes or No first.", scored=True)
ROAD = Prompt("road", "Describe the road situation: traffic, weather and hazards.")
NEW = 12


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    b = create_backend(ModelConfig(id=str(tiny_model_dir), options={"engine": "fast"}, max_new_tokens=NEW, max_batch=4))
    yield b
    b.close()


def reference_tokens(backend, clip, prompts):
    request = InferenceRequest(clip=clip, prompts=prompts)
    return [backend.reference.run_prompt(request, p)[0] for p in prompts]


def prepared(backend, clips, prompts):
    engine = backend.engine
    pixels = engine.preprocess([c.frames for c in clips])
    return engine.runner.prepare(pixels, [[engine.splitter.split(p) for p in prompts] for _ in clips], NEW)


def test_late_joiners_and_rows_moved_into_holes_decode_as_alone(backend):
    runner, prompts = backend.engine.runner, (ANOMALY, ROAD)
    clips = [make_clip(s, frames=2) for s in (11, 12, 13)]
    first = prepared(backend, clips[:1], prompts)
    pool = runner.pool_for(first.layout, 4, NEW, ignore_eos=True)
    pool.admit(first, ["a"])
    got = {f.tag: f.tokens for f in pool.advance(5)}          # a is 6 tokens ahead of b and c
    later = prepared(backend, clips[1:], prompts)
    pool.admit(later, ["b", "c"])
    assert pool.active == 3
    while pool.active:
        finished = pool.advance()
        if "a" in {f.tag for f in finished}:
            assert pool.tags == ["c", "b"]                       # c moved down into a's row
        got.update((f.tag, f.tokens) for f in finished)
    for tag, clip in zip("abc", clips, strict=True):
        assert got[tag] == reference_tokens(backend, clip, prompts)


def test_eos_ends_a_row_early_and_frees_it(backend, monkeypatch):
    runner, prompts = backend.engine.runner, (ANOMALY,)
    clip = make_clip(21, frames=2)
    want = reference_tokens(backend, clip, prompts)[0]
    monkeypatch.setattr(runner, "eos_ids", sorted(set(runner.eos_ids) | {want[2]}))  # the third token ends it
    runner.pool = None
    item = prepared(backend, [clip], prompts)
    pool = runner.pool_for(item.layout, 4, NEW, ignore_eos=False)
    pool.admit(item, ["x"])
    finished = []
    while not finished:
        finished = pool.advance(2)
    assert finished[0].tokens[0][:3] == want[:3]
    assert set(finished[0].tokens[0][3:]) <= {runner.pad_id}    # pads after EOS
    assert pool.active == 0 and pool.free == 4
    runner.pool = None


def test_buckets_cover_every_row_count():
    assert [bucket(n) for n in (1, 2, 3, 5, 16, 17, 24, 25)] == [1, 2, 4, 8, 16, 24, 24, 32]
