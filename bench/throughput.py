"""Throughput, latency and fidelity of the fast engine on the LLaVA-NeXT-Video-7B architecture.

Run it on a GPU machine in the same job as the seed baseline, which writes baseline.json:
    python3 .seed/seed_baseline.py && python3 bench/throughput.py --baseline $OUT/baseline.json
Random weights cost the same FLOPs and bytes as the released checkpoint; decoding is pinned to
--new tokens (EOS ignored), as the baseline pins it with min_new_tokens. `--arch tiny` or `medium`
check the bench itself on a CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.arch import build_model, build_processor  # noqa: E402
from monitor.backends.base import InferenceRequest  # noqa: E402
from monitor.backends.engine import Engine  # noqa: E402
from monitor.backends.reference import ReferenceRunner  # noqa: E402
from monitor.clip import Clip  # noqa: E402
from monitor.config.models import DEFAULT_ANOMALY_PROMPT, DEFAULT_ROAD_PROMPT, ModelConfig  # noqa: E402
from monitor.prompts import Prompt  # noqa: E402
from monitor.scheduler import Scheduler  # noqa: E402

logger = logging.getLogger("bench.throughput")
PROMPTS = (Prompt("anomaly", DEFAULT_ANOMALY_PROMPT, scored=True), Prompt("road", DEFAULT_ROAD_PROMPT))


def make_clips(n: int, frames: int, height: int, width: int, seed: int = 0) -> list[Clip]:
    rng = np.random.default_rng(seed)
    return [Clip(camera_id=f"cam-{i}", seq=i, frames=rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8),
                 timestamps=tuple(float(t) for t in range(frames)), window_start=0.0, window_end=float(frames))
            for i in range(n)]


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(engine, clips, batch: int, describe: bool, repeats: int) -> dict:
    """Clips/s over `repeats` batches after one warm-up batch, and per-batch seconds."""
    requests = [InferenceRequest(clip=c, prompts=PROMPTS, describe=describe) for c in clips[:batch]]
    engine.config.max_batch = engine.max_batch = batch
    engine.infer(requests)
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        sync(engine.device)
        t0 = time.perf_counter()
        engine.infer(requests)
        sync(engine.device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**30 if engine.device.type == "cuda" else None
    return {"batch": batch, "clips_per_s": batch * repeats / sum(times), "batch_s": statistics.median(times),
            "peak_gib": peak}


class EngineBackend:
    """The engine as the daemon's scheduler sees it (TransformersBackend without the loading)."""
    name, model_id, streaming = "transformers", "bench", True

    def __init__(self, engine):
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    @property
    def busy(self) -> bool:
        return self.engine.busy

    def close(self) -> None:
        pass


def latency(engine, clips, cameras: int, stride: float, strides: int, max_batch: int, describe: bool,
            mode: str = "always") -> dict:
    """Clips of `cameras` cameras arrive evenly over each stride into the daemon's scheduler (newest
    clip per camera wins, continuous batching). Latency: submitted to result delivered."""
    engine.config.max_batch = engine.max_batch = max_batch
    engine.config.describe = mode
    seconds: list[float] = []
    scheduler = Scheduler(EngineBackend(engine), max_batch=max_batch, max_wait_s=0.05,
                          on_result=lambda result, s: seconds.append(s))
    scheduler.start()
    start = time.monotonic()
    total = cameras * strides
    for k in range(total):
        time.sleep(max(0.0, start + k * stride / cameras - time.monotonic()))
        clip = dataclasses.replace(clips[k % len(clips)], camera_id=f"cam-{k % cameras}", seq=k // cameras)
        scheduler.submit(InferenceRequest(clip=clip, prompts=PROMPTS, describe=describe))
    deadline = time.monotonic() + 120
    stats = scheduler.stats
    while stats.completed + stats.dropped + stats.failed < stats.submitted and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop()
    engine.config.describe = "always"
    q = np.quantile(seconds, [0.5, 0.95])
    return {"cameras": cameras, "stride_s": stride, "clips": len(seconds), "max_batch": max_batch,
            "describe": mode if describe else "never", "dropped": stats.dropped, "failed": stats.failed,
            "p50_s": float(q[0]), "p95_s": float(q[1]), "max_s": float(max(seconds))}


def on_alert_latency(engine, clips, args) -> dict:
    """The default policy (describe: on_alert) with the threshold set so that --alert-share of the
    clips cross it: scores for every clip, descriptions for the alerting ones."""
    requests = [InferenceRequest(clip=c, prompts=PROMPTS, describe=False) for c in clips]
    scores = sorted(r.results[0].score for r in engine.infer(requests))
    keep = engine.config.score_threshold
    engine.config.score_threshold = float(np.quantile(scores, 1 - args.alert_share))
    try:
        out = latency(engine, clips, args.cameras, args.stride, args.strides, args.latency_batch, True, "on_alert")
    finally:
        engine.config.score_threshold = keep
    out["alert_share"] = args.alert_share
    return out


def fidelity(engine, reference: ReferenceRunner, clips) -> dict:
    """Share of clips whose first greedy token (every prompt) and score (within 1e-2) agree with
    plain `generate` in the same dtype on the HF processor's inputs."""
    tokens_ok = score_ok = 0
    diffs = []
    splits = [[engine.splitter.split(p) for p in PROMPTS] for _ in clips]
    out = engine.runner.run(engine.preprocess([c.frames for c in clips]), splits, max_new_tokens=1)
    n = len(clips)
    for i, clip in enumerate(clips):
        request = InferenceRequest(clip=clip, prompts=PROMPTS)
        same = True
        for j, prompt in enumerate(PROMPTS):
            ids, score = reference.run_prompt(request, prompt)  # transformers' own arithmetic
            same &= out.tokens[i][j][0] == ids[0]
            if prompt.scored:
                diffs.append(abs(out.scores[i][j] - score))
        tokens_ok += same
        score_ok += diffs[-1] <= 1e-2
    return {"clips": n, "first_token_agree": tokens_ok / n, "score_within_1e-2": score_ok / n,
            "score_abs_diff_max": max(diffs), "score_abs_diff_median": statistics.median(diffs)}


def decode_agreement(engine, model, processor, clips, new: int = 20) -> dict:
    """Greedy continuations of `new` tokens from the engine (shared prefix, static graph decoding)
    against plain `generate`, both in the model dtype: exact matches and mean agreeing prefix."""
    splits = [[engine.splitter.split(p) for p in PROMPTS] for _ in clips]
    out = engine.runner.run(engine.preprocess([c.frames for c in clips]), splits, max_new_tokens=new,
                            ignore_eos=True)
    reference = ReferenceRunner(model, processor, engine.device, next(model.parameters()).dtype, new)
    exact, prefix = 0, []
    for i, clip in enumerate(clips):
        for j, prompt in enumerate(PROMPTS):
            want, _ = reference.run_prompt(InferenceRequest(clip=clip, prompts=PROMPTS), prompt)
            got = out.tokens[i][j][: len(want)]
            exact += got == want
            prefix.append(next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), len(want)))
    return {"sequences": len(prefix), "new_tokens": new, "exact": exact / len(prefix),
            "mean_agreeing_prefix": statistics.mean(prefix)}


def components(engine, clips, batch: int) -> dict:
    """Milliseconds a clip for each part of the score path: preprocessing, the vision tower, the
    prefix prefill and the prompt pass (profile of the prefill)."""
    from monitor.backends.kv_cache import Slabs

    runner = engine.runner
    frames = [c.frames for c in clips[:batch]]
    with torch.inference_mode():
        pixels = engine.preprocess(frames)
        feats = runner.video_features(pixels)
        prefix = runner.embed(torch.tensor(engine.splitter.split(PROMPTS[0]).prefix, device=pixels.device))
        x = torch.cat([prefix[None].expand(batch, -1, -1), feats], dim=1)
        slabs = Slabs.allocate(runner.text_config, batch, x.shape[1] + 64, pixels.device, x.dtype)
        parts = {"preprocess": lambda: engine.preprocess(frames), "vision": lambda: runner.video_features(pixels),
                 "prefix_prefill": lambda: runner.shared.prefill(x, slabs.k, slabs.v)}
        out = {}
        for name, fn in parts.items():
            fn()
            sync(engine.device)
            t0 = time.perf_counter()
            for _ in range(3):
                fn()
            sync(engine.device)
            out[f"{name}_ms_per_clip"] = (time.perf_counter() - t0) / 3 / batch * 1000
    out["batch"] = batch
    return out


def decode_attention(device, rows: int = 32, slots: int = 2, capacity: int = 1456, heads: int = 32,
                     dim: int = 128, calls: int = 50) -> dict:
    """Microseconds of one decoding step's attention (one layer) with each SDPA backend that takes
    a boolean mask, and flash attention without one as the floor: the describe path's largest cost."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if device.type != "cuda":
        return {}
    gen = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(rows, heads, n, dim, device=device, dtype=torch.bfloat16, generator=gen)
               for n in (slots, capacity, capacity))
    mask = torch.zeros(rows, 1, slots, capacity, dtype=torch.bool, device=device)
    mask[..., : capacity - 256] = True
    out = {"rows": rows, "slots": slots, "capacity": capacity, "kv_gb": 2 * k.numel() * 2 / 1e9}
    variants = {"default": (None, mask), "efficient": ([SDPBackend.EFFICIENT_ATTENTION], mask),
                "cudnn": ([SDPBackend.CUDNN_ATTENTION], mask), "flash_no_mask": ([SDPBackend.FLASH_ATTENTION], None)}
    for name, (backends, m) in variants.items():
        try:
            with sdpa_kernel(backends) if backends else contextlib.nullcontext():
                torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)
                sync(device)
                t0 = time.perf_counter()
                for _ in range(calls):
                    torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)
                sync(device)
            out[f"{name}_us"] = (time.perf_counter() - t0) / calls * 1e6
        except RuntimeError as exc:
            out[f"{name}_us"] = None
            logger.info("decode attention %s: %s", name, str(exc).splitlines()[0])
    return out


def profile(engine, clips, batch: int, new: int, out_dir: str) -> None:
    """One score batch and one describe batch under torch.profiler: where device time goes."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    keep = engine.config.max_new_tokens
    engine.config.max_new_tokens = new
    engine.config.max_batch = engine.max_batch = batch
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if engine.device.type == "cuda" else [])
    sort = "self_cuda_time_total" if engine.device.type == "cuda" else "self_cpu_time_total"
    for describe in (False, True):
        requests = [InferenceRequest(clip=c, prompts=PROMPTS, describe=describe) for c in clips[:batch]]
        engine.infer(requests)
        with torch_profile(activities=activities) as prof:
            engine.infer(requests)
            sync(engine.device)
        table = prof.key_averages().table(sort_by=sort, row_limit=25)
        name = "describe" if describe else "score"
        Path(out_dir, f"profile_{name}.txt").write_text(table)
        print(f"profile {name}, {batch} clips" + (f", {new} new tokens" if describe else ""))
        print(table)
    engine.config.max_new_tokens = keep


def versions() -> dict:
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cuda": torch.version.cuda, "numpy": np.__version__}


def commit() -> str:
    if os.environ.get("COMMIT"):
        return os.environ["COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["7b", "medium", "tiny"], default="7b")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--score-batches", default="8,16,32", help="clip batch sizes for score-only throughput")
    ap.add_argument("--describe-batches", default="8,16,24", help="clip batch sizes for describe-always throughput")
    ap.add_argument("--repeats", type=int, default=2, help="timed batches per point, after one warm-up batch")
    ap.add_argument("--new", type=int, default=100, help="new tokens a description (EOS ignored)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="336x597", help="frame HxW reaching the engine (the decoder downscales "
                    "1280x720 to 597x336)")
    ap.add_argument("--fidelity-clips", type=int, default=16)
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument("--stride", type=float, default=5.0)
    ap.add_argument("--strides", type=int, default=3)
    ap.add_argument("--latency-batch", type=int, default=32)
    ap.add_argument("--alert-share", type=float, default=0.1, help="share of clips over the threshold in the "
                    "on_alert latency run")
    ap.add_argument("--compile", choices=["on", "off"], default="on", help="model.compile: the engine's fused kernels")
    ap.add_argument("--eager-kernels", default="", help="comma-separated Kernels fields to run uncompiled "
                    "(rms_norm, add_rms_norm, silu_mul, rotary, clip_layer): which compiled kernel moves the numbers")
    ap.add_argument("--fidelity-only", action="store_true", help="only the fidelity checks (e.g. with --compile off, "
                    "to tell the compiled kernels' rounding from the rest)")
    ap.add_argument("--tag", default="", help="suffix of the output file name (throughput<tag>.json)")
    ap.add_argument("--profile", type=int, default=0, help="also profile one describe batch of this many clips")
    ap.add_argument("--baseline", default=None, help="baseline.json written by the seed baseline in the same job")
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for throughput.json")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    h, w = (int(x) for x in args.size.split("x"))
    processor = build_processor()
    model = build_model(args.arch, processor, device, dtype)
    config = ModelConfig(id=f"random-{args.arch}", max_new_tokens=args.new, device=str(device),
                         compile=args.compile == "on")
    engine = Engine(model, processor, config, device, dtype)
    engine.ignore_eos = True
    if args.eager_kernels:
        from monitor.backends.fusions import kernels as plain_kernels
        from monitor.backends.vision import vision_model

        plain = plain_kernels(False, vision_model(model.model.vision_tower).encoder.layers[0].mlp.activation_fn)
        for name in args.eager_kernels.split(","):
            setattr(engine.runner.shared.k, name, getattr(plain, name))
    score_b = [int(b) for b in args.score_batches.split(",")]
    describe_b = [int(b) for b in args.describe_batches.split(",")]
    clips = make_clips(max(score_b + describe_b + [args.fidelity_clips]), args.frames, h, w)
    res: dict = {"card": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
                 "arch": args.arch, "dtype": str(dtype).replace("torch.", ""), "frames": args.frames,
                 "frame_size": args.size, "new_tokens": args.new, "compile": args.compile == "on",
                 "eager_kernels": args.eager_kernels, "prompts": [p.id for p in PROMPTS],
                 "versions": versions(), "commit": commit(), "command": " ".join(sys.argv)}
    if args.fidelity_only:
        engine.config.max_new_tokens = 1
        res["fidelity"] = fidelity(engine, ReferenceRunner(model, processor, device, dtype, max_new_tokens=1),
                                   clips[: args.fidelity_clips])
        res["decode_agreement"] = decode_agreement(engine, model, processor, clips[: min(4, len(clips))])
        print("fidelity", json.dumps(res["fidelity"]), "\ndecode agreement", json.dumps(res["decode_agreement"]))
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"throughput{args.tag}.json").write_text(json.dumps(res, indent=1))
        return res
    res["components"] = components(engine, clips, min(8, len(clips)))
    res["decode_attention"] = decode_attention(device)
    logger.info("decode attention %s", res["decode_attention"])
    logger.info("components %s", res["components"])
    res["score"] = [throughput(engine, clips, b, False, args.repeats) for b in score_b]
    logger.info("score %s", res["score"])
    res["describe"] = [throughput(engine, clips, b, True, args.repeats) for b in describe_b]
    logger.info("describe %s", res["describe"])
    res["score_clips_per_s"] = max(r["clips_per_s"] for r in res["score"])
    res["describe_clips_per_s"] = max(r["clips_per_s"] for r in res["describe"])
    engine.config.max_new_tokens = 1
    ref = ReferenceRunner(model, processor, device, dtype, max_new_tokens=1)
    res["fidelity"] = fidelity(engine, ref, clips[: args.fidelity_clips])
    logger.info("fidelity %s", res["fidelity"])
    res["decode_agreement"] = decode_agreement(engine, model, processor, clips[: min(4, len(clips))])
    logger.info("decode agreement %s", res["decode_agreement"])
    engine.config.max_new_tokens = args.new
    # As the daemon does before it reports ready: every admission size compiled, every decoding
    # graph of the pool captured, so that no compilation lands inside the timed stream.
    engine.config.max_batch = engine.max_batch = args.latency_batch
    engine.config.batch_shapes = [1, 2, 4, args.latency_batch]
    engine.runner.release()
    t0 = time.perf_counter()
    engine.warmup(PROMPTS, args.frames)
    res["latency_warmup_s"] = time.perf_counter() - t0
    res["latency_describe"] = latency(engine, clips, args.cameras, args.stride, args.strides, args.latency_batch, True)
    res["latency_score"] = latency(engine, clips, args.cameras, args.stride, args.strides, args.latency_batch, False)
    res["latency_on_alert"] = on_alert_latency(engine, clips, args)
    res["p95_latency_s"] = res["latency_describe"]["p95_s"]
    add_baseline(res, args.baseline)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.profile:
        profile(engine, clips, args.profile, 20, args.out)
    (Path(args.out) / f"throughput{args.tag}.json").write_text(json.dumps(res, indent=1))
    print_table(res)
    return res


def add_baseline(res: dict, path: str | None) -> None:
    if not path or not Path(path).exists():
        res["seed_clips_per_s"] = None
        return
    base = json.loads(Path(path).read_text())
    res["baseline"] = base
    res["seed_clips_per_s"] = base["seed_clips_per_s"]
    for key in ("score", "describe"):
        res[f"{key}_x_seed"] = res[f"{key}_clips_per_s"] / base["seed_clips_per_s"]
    if base.get("gpu") and base["gpu"] != res["card"]:
        res["baseline_card_mismatch"] = True


def print_table(res: dict) -> None:
    seed = res.get("seed_clips_per_s")
    print(f"\ncard {res['card']}  arch {res['arch']}  compile {res['compile']}  {res['dtype']}  {res['frames']} frames  {res['new_tokens']} new tokens")
    print(f"{'mode':<10}{'batch':>6}{'clips/s':>10}{'s/batch':>9}{'peak GiB':>10}{'x seed':>8}")
    for key in ("score", "describe"):
        for r in res[key]:
            ratio = f"{r['clips_per_s'] / seed:.1f}" if seed else "-"
            peak = f"{r['peak_gib']:.1f}" if r["peak_gib"] is not None else "-"
            print(f"{key:<10}{r['batch']:>6}{r['clips_per_s']:>10.2f}{r['batch_s']:>9.2f}{peak:>10}{ratio:>8}")
    print(f"seed {seed}")
    for key in ("latency_describe", "latency_score", "latency_on_alert"):
        lat = res[key]
        print(f"{key}: {lat['cameras']} cameras / {lat['stride_s']} s stride, batch <= {lat['max_batch']}: "
              f"p50 {lat['p50_s']:.2f} s  p95 {lat['p95_s']:.2f} s  max {lat['max_s']:.2f} s")
    print("fidelity", json.dumps(res["fidelity"]))
    print("decode agreement", json.dumps(res["decode_agreement"]))
    print("components", json.dumps(res["components"]))


if __name__ == "__main__":
    main()
