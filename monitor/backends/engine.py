"""The fast engine: batches of clips on the device, video prefix shared across prompts, one-forward
scores, descriptions decoded in batches only when the describe policy asks for them."""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import torch

from monitor.backends.base import InferenceRequest, InferenceResult, PromptResult
from monitor.backends.errors import FatalBackendError
from monitor.backends.forward import BatchRunner
from monitor.backends.fusions import kernels
from monitor.backends.preprocess import FramePreprocessor
from monitor.backends.prompt_tokens import PromptSplitter
from monitor.backends.scoring import YesNoScorer
from monitor.backends.vision import vision_model
from monitor.clip import Clip

logger = logging.getLogger(__name__)
_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class Engine:
    def __init__(self, model, processor, config, device: torch.device, dtype: torch.dtype):
        self.config, self.device = config, device
        self.tokenizer = processor.tokenizer
        self.preprocess = FramePreprocessor(processor.video_processor, device, dtype)
        self.splitter = PromptSplitter(processor)
        eos = model.generation_config.eos_token_id
        eos_ids = [*(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []),
                   self.tokenizer.eos_token_id]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        compiled = bool(config.compile or (config.compile is None and device.type == "cuda"))
        clip_act = vision_model(model.model.vision_tower).encoder.layers[0].mlp.activation_fn
        self.runner = BatchRunner(model, YesNoScorer(self.tokenizer), [e for e in eos_ids if e is not None], pad,
                                  kernels(compiled, clip_act))
        self.max_batch = config.max_batch  # halves on OOM and stays there
        self.ignore_eos = False  # benchmarks only: decode exactly max_new_tokens, as the seed baseline does

    # -- policy -------------------------------------------------------------------------------
    def describe_now(self, request: InferenceRequest) -> bool | None:
        """True/False, or None: decide from the score (on_alert). Requests without a scored prompt
        cannot alert, so on_alert describes them every time rather than never."""
        if not request.describe:
            return False
        mode = self.config.describe
        if mode == "always":
            return True
        if mode == "every_n":
            return request.clip.seq % self.config.describe_every == 0
        return None if any(p.scored for p in request.prompts) else True

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        decisions = [self.describe_now(r) for r in requests]
        done = self.run(requests, [i for i, d in enumerate(decisions) if d is not True], describe=False)
        for i, d in enumerate(decisions):
            if d is None:  # on_alert: the score decides; the published score is the one that decided
                decisions[i] = max(done[i]["scores"].values(), default=0.0) >= self.config.score_threshold
        described = self.run(requests, [i for i, d in enumerate(decisions) if d], describe=True)
        for i, result in described.items():
            result["scores"].update(done.get(i, {}).get("scores", {}))
            done[i] = result
        return [InferenceResult(request=r, results=tuple(
            PromptResult(prompt_id=p.id, text=done.get(i, {}).get("texts", {}).get(p.id, ""),
                         score=done.get(i, {}).get("scores", {}).get(p.id) if p.scored else None)
            for p in r.prompts)) for i, r in enumerate(requests)]

    # -- batching -----------------------------------------------------------------------------
    def run(self, requests, indices: list[int], describe: bool) -> dict[int, dict]:
        """Run requests[indices] in chunks of at most max_batch clips of one frame count:
        {index: {"texts": {prompt id: text}, "scores": {prompt id: score}}}."""
        out: dict[int, dict] = {}
        by_frames: dict[int, list[int]] = {}
        for i in indices:
            by_frames.setdefault(len(requests[i].clip.frames), []).append(i)
        for group in by_frames.values():
            start = 0
            while start < len(group):
                chunk = group[start:start + self.max_batch]
                out.update(self._guarded(requests, chunk, describe))
                start += len(chunk)
        return out

    def _guarded(self, requests, chunk: list[int], describe: bool) -> dict[int, dict]:
        try:
            return self._run_chunk(requests, chunk, describe)
        except _OOM:
            if len(chunk) == 1:
                raise
        except RuntimeError as exc:
            if self.device.type == "cuda" and _is_device_error(exc):
                raise FatalBackendError(f"CUDA error, the device context is lost; restart the process: {exc}") from exc
            raise
        # Retried here, outside the except block: the exception's frames hold the failed batch's
        # tensors, and retrying inside it would keep them alive (seen: OOM cascading to 1 clip).
        self.max_batch = max(1, len(chunk) // 2)
        logger.warning("out of device memory at %d clips; batches are now at most %d", len(chunk), self.max_batch)
        self.runner.release()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        half = len(chunk) // 2
        return {**self._guarded(requests, chunk[:half], describe), **self._guarded(requests, chunk[half:], describe)}

    def _run_chunk(self, requests, chunk: list[int], describe: bool) -> dict[int, dict]:
        prompts = {i: [p for p in requests[i].prompts if describe or p.scored] for i in chunk}
        chunk = [i for i in chunk if prompts[i]]
        if not chunk:
            return {}
        t0 = time.perf_counter()
        pixels = self.preprocess([requests[i].clip.frames for i in chunk])
        splits = [[self.splitter.split(p) for p in prompts[i]] for i in chunk]
        output = self.runner.run(pixels, splits, self.config.max_new_tokens if describe else 0, self.ignore_eos)
        logger.debug("%d clips, describe=%s: %.3f s", len(chunk), describe, time.perf_counter() - t0)
        out = {i: {"texts": {}, "scores": {}} for i in chunk}
        for c, i in enumerate(chunk):
            for slot, prompt in enumerate(prompts[i]):
                if prompt.scored:
                    out[i]["scores"][prompt.id] = output.scores[c][slot]
                if describe:
                    ids = output.tokens[c][slot]
                    out[i]["texts"][prompt.id] = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        return out

    # -- start-up -----------------------------------------------------------------------------
    def warmup(self, prompts, frames: int = 8) -> None:
        """Run each configured batch shape through both paths once, so that kernels are selected and
        memory is reserved before the daemon reports ready."""
        rng = np.random.default_rng(0)
        for size in sorted({min(s, self.max_batch) for s in self.config.batch_shapes}):
            t0 = time.perf_counter()
            requests = [InferenceRequest(clip=_noise_clip(rng, frames, k), prompts=tuple(prompts)) for k in range(size)]
            self.run(requests, list(range(size)), describe=False)
            self.run(requests, list(range(size)), describe=True)
            logger.info("warm-up: batch of %d clips in %.1f s", size, time.perf_counter() - t0)


def _noise_clip(rng, frames: int, seq: int) -> Clip:
    data = rng.integers(0, 256, (frames, 336, 448, 3), dtype=np.uint8)
    return Clip(camera_id="warmup", seq=seq, frames=data, timestamps=tuple(float(i) for i in range(frames)),
                window_start=0.0, window_end=float(frames))


def _is_device_error(exc: BaseException) -> bool:
    accel = getattr(torch, "AcceleratorError", None)
    text = str(exc)
    return (accel is not None and isinstance(exc, accel)) or "CUDA error" in text or "CUBLAS_STATUS" in text \
        or "cuDNN error" in text or "device-side assert" in text
