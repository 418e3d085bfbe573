"""Where the time goes: the score path's parts, decoding attention by backend, torch.profiler tables."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import torch

from bench.workload import PROMPTS, sync
from monitor.inference.contract import InferenceRequest

logger = logging.getLogger("bench.profiling")

def components(engine, clips, batch: int) -> dict:
    """Milliseconds a clip for each part of the score path: preprocessing, the vision tower, the
    prefix prefill and the prompt pass (profile of the prefill)."""
    from monitor.backends.llava_next_video.kv_cache import Slabs

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
