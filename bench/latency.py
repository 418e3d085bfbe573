"""Latency of the engine behind the daemon's own scheduler: cameras' clips arrive on a stride."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from bench.workload import PROMPTS
from monitor.backends.llava_next_video.backend import INPUT
from monitor.inference.contract import InferenceRequest
from monitor.inference.policy import DescribePolicy
from monitor.pipeline.scheduler import Scheduler


class EngineBackend:
    """The engine as the daemon's scheduler sees it (the llava_next_video backend without the loading).
    Every StreamingBackend member is spelled out: on Python 3.12 `isinstance` against a runtime Protocol
    looks members up statically, so members forwarded by `__getattr__` are not seen and the scheduler
    would take the batch-at-a-time path."""
    name, model_id, input_spec = "llava_next_video", "bench", INPUT

    def __init__(self, engine):
        self.engine = engine

    @property
    def busy(self) -> bool:
        return self.engine.busy

    def room(self) -> int:
        return self.engine.room()

    def admit(self, requests):
        return self.engine.admit(requests)

    def advance(self):
        return self.engine.advance()

    def abort(self):
        return self.engine.abort()

    def infer(self, requests):
        return self.engine.infer(requests)

    def warmup(self, prompts, frames: int = 8) -> None:
        self.engine.warmup(prompts, frames)

    def close(self) -> None:
        pass


def latency(engine, clips, cameras: int, stride: float, strides: int, max_batch: int, describe: bool,
            mode: str = "always", threshold: float = 0.5) -> dict:
    """Clips of `cameras` cameras arrive evenly over each stride into the daemon's scheduler (newest
    clip per camera wins, continuous batching). Latency: submitted to result delivered."""
    engine.config.max_batch = engine.max_batch = max_batch
    seconds: list[float] = []
    scheduler = Scheduler(EngineBackend(engine), max_batch=max_batch, max_wait_s=0.05,
                          on_result=lambda result, s: seconds.append(s), policy=DescribePolicy(mode, threshold=threshold))
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
    q = np.quantile(seconds, [0.5, 0.95])
    return {"cameras": cameras, "stride_s": stride, "clips": len(seconds), "max_batch": max_batch,
            "describe": mode if describe else "never", "dropped": stats.dropped, "failed": stats.failed,
            "p50_s": float(q[0]), "p95_s": float(q[1]), "max_s": float(max(seconds))}


def on_alert_latency(engine, clips, args) -> dict:
    """The default policy (describe: on_alert) with the threshold set so that --alert-share of the
    clips cross it: scores for every clip, descriptions for the alerting ones."""
    requests = [InferenceRequest(clip=c, prompts=PROMPTS, describe=False) for c in clips]
    scores = sorted(r.results[0].score for r in engine.infer(requests))
    threshold = float(np.quantile(scores, 1 - args.alert_share))
    out = latency(engine, clips, args.cameras, args.stride, args.strides, args.latency_batch, True, "on_alert", threshold)
    out["alert_share"] = args.alert_share
    return out
