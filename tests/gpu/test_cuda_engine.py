"""The fast engine on CUDA, checked against the CPU fp32 path: bf16 selection, compile on by default,
decoding graphs captured at warm-up and replayed, out-of-memory halving under a real allocator limit,
and a real CUDA error turning fatal through the scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from monitor.inference.registry import InferenceRequest, create_backend  # noqa: E402
from monitor.config.models import ModelConfig  # noqa: E402
from monitor.inference.prompts import Prompt  # noqa: E402
from tests.backends.conftest import make_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ANOMALY = Prompt("anomaly", "Is anything abnormal or dangerous happening? Answer Yes or No first.", scored=True)
ROAD = Prompt("road", "Describe the road situation: traffic, weather and hazards.")
SIZES = [(336, 448), (240, 320), (336, 336), (200, 500)]
# bf16 keeps 8 mantissa bits; the tiny model's Yes and No logits sit a few tenths apart, so its score
# moves by a few hundredths at most between bf16 on CUDA and fp32 on the CPU.
BF16_SCORE_BOUND = 0.05
FP32_SCORE_BOUND = 1e-3


def backend_for(model_dir, **overrides):
    options = {"engine": "fast", "batch_shapes": [1, 4]} | {k: overrides.pop(k) for k in ("compile", "batch_shapes")
                                                            if k in overrides}
    settings = dict(id=str(model_dir), options=options, max_new_tokens=12, max_batch=4) | overrides
    return create_backend(ModelConfig(**settings))


def requests(describe=True, frames=4):
    return [InferenceRequest(clip=make_clip(i, frames=frames, height=h, width=w), describe=describe,
                             prompts=(ANOMALY, ROAD) if i % 2 else (ANOMALY,))
            for i, (h, w) in enumerate(SIZES)]


def pairs(got, want):
    assert len(got) == len(want) == len(SIZES)
    for g, w in zip(got, want, strict=True):
        assert g.request is w.request
        yield from zip(g.results, w.results, strict=True)


@pytest.fixture(scope="module")
def cpu_fp32(tiny_model_dir):
    backend = backend_for(tiny_model_dir, device="cpu", dtype="float32", compile=False)
    yield backend
    backend.close()


@pytest.fixture(autouse=True)
def no_tf32():
    """fp32 comparisons need fp32 products: TF32 (cuDNN's default for convolutions) rounds to 10 bits."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_auto_places_the_model_on_cuda_in_bfloat16_with_compiled_kernels(tiny_model_dir):
    backend = backend_for(tiny_model_dir)
    try:
        assert backend.device.type == "cuda" and backend.dtype == torch.bfloat16
        assert {p.dtype for p in backend.model.parameters()} == {torch.bfloat16}
        assert backend.engine.runner.shared.k.compiled            # compile: unset means on with CUDA
        assert backend.engine.runner.use_graphs
    finally:
        backend.close()


def test_cuda_fp32_gives_the_cpu_fp32_tokens_and_scores(tiny_model_dir, cpu_fp32):
    cuda = backend_for(tiny_model_dir, device="cuda", dtype="float32", compile=False)
    try:
        batch = requests()
        for g, w in pairs(cuda.infer(batch), cpu_fp32.infer(batch)):
            assert g.prompt_id == w.prompt_id and g.text == w.text and g.text
            assert (g.score is None) == (w.score is None)
            if g.score is not None:
                assert abs(g.score - w.score) <= FP32_SCORE_BOUND
    finally:
        cuda.close()


def test_cuda_bf16_compiled_scores_stay_within_bounds_of_cpu_fp32(tiny_model_dir, cpu_fp32):
    cuda = backend_for(tiny_model_dir)                             # auto: bf16, compiled, graphs
    try:
        cuda.warmup((ANOMALY, ROAD), frames=4)
        batch = requests(describe=False)
        diffs = [abs(g.score - w.score) for g, w in pairs(cuda.infer(batch), cpu_fp32.infer(batch))
                 if g.score is not None]
        assert len(diffs) == len(SIZES) and max(diffs) <= BF16_SCORE_BOUND, diffs
    finally:
        cuda.close()


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_rigged_yes_and_no_models_decide_the_same_in_bf16_on_cuda(request, answer):
    model_dir = request.getfixturevalue("yes_model_dir" if answer == "Yes" else "no_model_dir")
    cuda = backend_for(model_dir)
    try:
        results = cuda.infer(requests())
        assert len(results) == len(SIZES)
        for result in results:
            score = result.results[0].score
            assert score > 0.99 if answer == "Yes" else score < 0.01
    finally:
        cuda.close()


def test_decoding_graphs_are_captured_at_warm_up_and_replayed_with_the_eager_results(tiny_model_dir, monkeypatch):
    graphed = backend_for(tiny_model_dir, compile=False, describe="always")
    eager = backend_for(tiny_model_dir, compile=False, describe="always")
    eager.engine.runner.use_graphs = False
    try:
        graphed.warmup((ANOMALY, ROAD), frames=4)
        captured = dict(graphed.engine.runner.pool.graphs)
        assert captured and all(isinstance(g, torch.cuda.CUDAGraph) for g in captured.values())
        replays = []
        real_replay = torch.cuda.CUDAGraph.replay
        monkeypatch.setattr(torch.cuda.CUDAGraph, "replay", lambda self: replays.append(1) or real_replay(self))
        batch = requests()
        got = graphed.infer(batch)
        assert replays, "no decoding step replayed a graph"
        assert graphed.engine.runner.pool.graphs.keys() == captured.keys()  # nothing captured mid-stream
        for g, w in pairs(got, eager.infer(batch)):
            assert g.text == w.text
            assert (g.score is None) or abs(g.score - w.score) <= 1e-3
    finally:
        graphed.close()
        eager.close()


def test_a_real_out_of_memory_halves_the_batch_and_every_clip_is_scored(tiny_model_dir):
    backend = backend_for(tiny_model_dir, compile=False, max_batch=64)
    many = [InferenceRequest(clip=make_clip(i, frames=8), prompts=(ANOMALY,), describe=False) for i in range(64)]
    want = [r.results[0].score for r in backend.infer(many[:2])]
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    # A limit of what is allocated now plus 512 MiB: a clip of 8 frames needs tens of MiB in flight,
    # so 64 at once cannot fit and a few at once can.
    allowed = torch.cuda.memory_allocated() + 512 * 2**20
    torch.cuda.set_per_process_memory_fraction(allowed / total)
    try:
        results = backend.infer(many)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    try:
        assert backend.engine.max_batch < 64
        assert len(results) == 64 and all(r.request is q for r, q in zip(results, many, strict=True))
        assert all(r.results[0].score is not None for r in results)
        for got, w in zip([r.results[0].score for r in results[:2]], want, strict=True):
            assert abs(got - w) <= BF16_SCORE_BOUND        # other batch sizes, other bf16 roundings
    finally:
        backend.close()


CHILD = textwrap.dedent("""
    import sys, torch
    from monitor.inference.registry import InferenceRequest, create_backend
    from monitor.config.models import ModelConfig
    from monitor.inference.prompts import Prompt
    from monitor.pipeline.scheduler import Scheduler
    from tests.backends.conftest import make_clip
    from tests.waiting import wait_for

    backend = create_backend(ModelConfig(id=sys.argv[1], options={"compile": False}, max_new_tokens=4, describe="always"))
    prompt = Prompt("anomaly", "Is anything abnormal happening?", scored=True)
    real_prepare = backend.engine.runner.prepare

    def prepare_with_an_out_of_bounds_gather(pixels, *args, **kwargs):
        # A real device-side assert: an index past the end of a CUDA tensor, as a corrupt token id
        # reaching the embedding would be. It poisons the CUDA context, hence this child process.
        torch.zeros(4, device=pixels.device)[torch.tensor([99], device=pixels.device)].sum().item()
        return real_prepare(pixels, *args, **kwargs)

    backend.engine.runner.prepare = prepare_with_an_out_of_bounds_gather
    errors = []
    scheduler = Scheduler(backend, max_batch=4, max_wait_s=0.01, on_result=lambda r, s: None,
                          on_error=lambda reqs, exc: errors.append(type(exc).__name__))
    scheduler.start()
    scheduler.submit(InferenceRequest(make_clip(1, frames=2), (prompt,)))
    assert wait_for(lambda: scheduler.fatal is not None, 120)
    assert wait_for(lambda: not scheduler.alive, 10)
    print("FATAL", type(scheduler.fatal).__name__, errors, str(scheduler.fatal)[:200])
""")


def test_a_device_side_assert_is_fatal_through_the_scheduler(tiny_model_dir):
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)  # keep the caller's too
    env = {**os.environ, "PYTHONPATH": path, "CUDA_LAUNCH_BLOCKING": "0"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tiny_model_dir)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("FATAL")]
    assert line and line[0].startswith("FATAL FatalBackendError ['FatalBackendError']"), done.stdout
    assert "CUDA error" in line[0] or "device-side assert" in line[0]
