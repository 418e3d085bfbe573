"""Throughput, latency and fidelity of the fast engine on the LLaVA-NeXT-Video-7B architecture.

Run it on a GPU machine in the same job as the seed baseline, which writes baseline.json:
    python3 .seed/seed_baseline.py && python3 bench/throughput.py --baseline $OUT/baseline.json
Random weights cost the same FLOPs and bytes as the released checkpoint; decoding is pinned to
--new tokens (EOS ignored), as the baseline pins it with min_new_tokens. `--arch tiny` or `medium`
check the bench itself on a CPU.
"""

from __future__ import annotations

import argparse
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

from bench import fidelity  # noqa: E402
from bench.arch import build_model, build_processor  # noqa: E402
from bench.latency import latency, on_alert_latency  # noqa: E402
from bench.profiling import components, decode_attention, profile  # noqa: E402
from bench.workload import PROMPTS, make_clips, sync  # noqa: E402
from monitor.inference.contract import InferenceRequest  # noqa: E402
from monitor.backends.llava_next_video.engine import Engine  # noqa: E402
from monitor.backends.llava_next_video.backend import EngineSettings  # noqa: E402

logger = logging.getLogger("bench.throughput")


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
    config = EngineSettings(max_batch=8, max_new_tokens=args.new, compile=args.compile == "on", batch_shapes=[1, 8])
    engine = Engine(model, processor, config, device, dtype)
    engine.ignore_eos = True
    if args.eager_kernels:
        from monitor.backends.llava_next_video.fusions import kernels as plain_kernels
        from monitor.backends.llava_next_video.vision import vision_model

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
        res.update(fidelity.report(engine, model, processor, clips, args.fidelity_clips))
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
    res.update(fidelity.report(engine, model, processor, clips, args.fidelity_clips))
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
