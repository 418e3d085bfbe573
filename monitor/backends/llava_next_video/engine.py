"""The fast engine: batches of clips on the device, video prefix shared across prompts, one-forward
scores, descriptions decoded only when the describe policy asks for them, with continuous batching:
clips join the decoding pool as rows free up and leave it as soon as they finish."""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections import deque
from typing import Sequence

import numpy as np
import torch

from monitor.inference.contract import InferenceRequest, InferenceResult, PromptResult, wants_description
from monitor.inference.errors import FatalBackendError
from monitor.backends.llava_next_video.forward import BatchRunner, cut_at_eos
from monitor.backends.llava_next_video.fusions import kernels
from monitor.backends.llava_next_video.preprocess import FramePreprocessor
from monitor.backends.llava_next_video.prompt_tokens import PromptSplitter
from monitor.backends.scoring import YesNoScorer
from monitor.backends.llava_next_video.vision import vision_model
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
        self.max_batch = config.max_batch  # halves on OOM and stays there; also the decoding pool's rows
        self.waiting: deque = deque()          # (request, scores) to describe, waiting for pool rows
        self.inflight: dict[int, tuple] = {}   # pool tag -> (request, scores, prompts)
        self.decode_floor = (1, 0)             # (prompt slots, suffix tokens) the pool's layout holds at least
        self._serial = itertools.count()
        self.describes_all = False             # the last admitted clips all wanted words whatever their score
        self.ignore_eos = False  # benchmarks only: decode exactly max_new_tokens, as the seed baseline does

    # -- streaming: clips join while others decode -----------------------------------------------
    @property
    def busy(self) -> bool:
        """Clips are decoding or waiting for a row of the decoding pool."""
        return bool(self.waiting) or self._decoding()

    def room(self) -> int:
        """How many new clips admit() should take now: free pool rows when every clip is described,
        else a batch (scores first; the described ones wait for rows)."""
        pool = self.runner.pool
        if self.describes_all and pool is not None and pool.rows == self.max_batch:
            return max(0, pool.free - len(self.waiting))
        return max(0, self.max_batch - len(self.waiting))

    def admit(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        """Score the clips now; the ones to describe join the decoding pool. Returns the results that
        are complete already (no description wanted)."""
        with self._device_errors():
            # The describe policy is the scheduler's, written on each request; on_alert leaves it to
            # the score, which this engine computes first anyway.
            decisions = [wants_description(r) for r in requests]
            self.describes_all = bool(decisions) and all(d is True for d in decisions)
            scored = self._score(requests, [i for i, d in enumerate(decisions) if d is not True])
            ready = []
            for i, (request, d) in enumerate(zip(requests, decisions)):
                scores = scored.get(i, {})
                if d is None:  # on_alert: the score decides; the published score is the one that decided
                    d = wants_description(request, scores)
                if d:
                    self.waiting.append((request, scores))
                else:
                    ready.append(self._result(request, scores, {}))
            self._fill()
            return ready

    def advance(self) -> list[InferenceResult]:
        """A few decoding steps; returns the clips whose descriptions finished."""
        with self._device_errors():
            done = []
            if self._decoding():
                for finished in self.runner.pool.advance():
                    request, scores, prompts = self.inflight.pop(finished.tag)
                    texts = {p.id: self._text(row) for p, row in zip(prompts, finished.tokens)}
                    done.append(self._result(request, scores, texts))
            self._fill()
            return done

    def abort(self) -> list[InferenceRequest]:
        """Drop every clip in flight (after an error) and return them, so they can be reported."""
        lost = [r for r, _, _ in self.inflight.values()] + [r for r, _ in self.waiting]
        self.inflight.clear()
        self.waiting.clear()
        self.runner.release()
        return lost

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        """A batch start to finish (tests, warm-up, benchmarks, the synchronous scheduler)."""
        out: dict[int, InferenceResult] = {}
        queue = list(requests)
        while queue or self.busy:
            room = self.room()
            if queue and (room > 0 or not self.busy):
                take, queue = queue[: max(room, 1)], queue[max(room, 1):]
                results = self.admit(take)
            else:
                results = self.advance()
            out.update((r.request.id, r) for r in results)
        return [out[r.id] for r in requests]

    # -- scores ---------------------------------------------------------------------------------
    def _score(self, requests, indices: list[int]) -> dict[int, dict[str, float]]:
        """Scores of the scored prompts of requests[indices], in chunks of at most max_batch clips
        of one frame count: {index: {prompt id: score}}."""
        out: dict[int, dict[str, float]] = {}
        by_frames: dict[int, list[int]] = {}
        for i in indices:
            if any(p.scored for p in requests[i].prompts):
                by_frames.setdefault(len(requests[i].clip.frames), []).append(i)
        for group in by_frames.values():
            start = 0
            while start < len(group):
                chunk = group[start:start + self.max_batch]
                out.update(self._score_guarded(requests, chunk))
                start += len(chunk)
        return out

    def _score_guarded(self, requests, chunk: list[int]) -> dict[int, dict[str, float]]:
        try:
            return self._score_chunk(requests, chunk)
        except _OOM:
            if len(chunk) == 1:
                raise
        # Retried here, outside the except block: the exception's frames hold the failed batch's
        # tensors, and retrying inside it would keep them alive (seen: OOM cascading to 1 clip).
        self._shrink(len(chunk))
        half = len(chunk) // 2
        return {**self._score_guarded(requests, chunk[:half]), **self._score_guarded(requests, chunk[half:])}

    def _score_chunk(self, requests, chunk: list[int]) -> dict[int, dict[str, float]]:
        prompts = [[p for p in requests[i].prompts if p.scored] for i in chunk]
        t0 = time.perf_counter()
        scores = self.runner.scores(self._prepare([requests[i] for i in chunk], prompts, 0))
        logger.debug("scored %d clips in %.3f s", len(chunk), time.perf_counter() - t0)
        return {i: {p.id: scores[c][slot] for slot, p in enumerate(prompts[c])} for c, i in enumerate(chunk)}

    def _prepare(self, requests, prompts, max_new: int, at_least: tuple[int, int] = (1, 0)):
        pixels = self.preprocess([r.clip.frames for r in requests])
        return self.runner.prepare(pixels, [[self.splitter.split(p) for p in ps] for ps in prompts], max_new,
                                   at_least)

    def _shrink(self, failed_size: int) -> None:
        self.max_batch = max(1, failed_size // 2)
        logger.warning("out of device memory at %d clips; batches are now at most %d", failed_size, self.max_batch)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- descriptions ---------------------------------------------------------------------------
    def _fill(self) -> None:
        """Move waiting clips into free rows of the decoding pool (clips of one frame count a time)."""
        while self.waiting:
            free = self._free_rows()
            frames = len(self.waiting[0][0].clip.frames)
            group = []
            for item in list(self.waiting):
                if len(group) >= min(free, self.max_batch):
                    break
                if len(item[0].clip.frames) == frames:
                    group.append(item)
            if not group:
                return
            try:
                if not self._join(group):
                    return
            except _OOM:
                idle = not self._decoding()
                if len(group) == 1 and idle:
                    self._forget(group)
                    raise
                self._shrink(len(group))
                if idle:
                    self.runner.release()
                return  # the group stays waiting; it is tried again, smaller, after the next steps

    # No reference to the pool is held across _join: a pool being replaced by a larger one must be
    # freed before the larger one is allocated (seen: 48 rows after 32 ran out of memory on an H100).
    def _free_rows(self) -> int:
        pool = self.runner.pool
        return self.max_batch if pool is None or not pool.active else pool.free

    def _decoding(self) -> bool:
        pool = self.runner.pool
        return pool is not None and pool.active > 0

    def _join(self, group) -> bool:
        requests = [r for r, _ in group]
        prompts = [list(r.prompts) for r in requests]
        # The pool's layout is the largest seen (warm-up runs every configured prompt), so a dashcam's
        # two prompts and a fixed camera's one share it instead of waiting for each other to drain.
        splits = [self.splitter.split(p) for ps in prompts for p in ps]
        self.decode_floor = (max(self.decode_floor[0], max(len(ps) for ps in prompts)),
                             max(self.decode_floor[1], max(len(s.suffix) for s in splits)))
        prepared = self._prepare(requests, prompts, self.config.max_new_tokens, self.decode_floor)
        pool = self.runner.pool_for(prepared.layout, self.max_batch, self.config.max_new_tokens, self.ignore_eos)
        if pool is None or pool.free < len(group):
            return False  # the pool is busy with clips of another shape; these wait for it to drain
        tags = [next(self._serial) for _ in group]
        scores = pool.admit(prepared, tags)
        for tag, (request, earlier), ps, row in zip(tags, group, prompts, scores):
            merged = {p.id: row[slot] for slot, p in enumerate(ps) if p.scored} | earlier
            self.inflight[tag] = (request, merged, ps)
        self._forget(group)
        return True

    def _forget(self, group) -> None:
        gone = {id(item) for item in group}  # by identity: requests hold arrays, equality is no use
        self.waiting = deque(item for item in self.waiting if id(item) not in gone)

    # -- results --------------------------------------------------------------------------------
    def _text(self, row: list[int]) -> str:
        ids = row if self.ignore_eos else cut_at_eos(row, self.runner.eos_ids)
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    @staticmethod
    def _result(request: InferenceRequest, scores: dict, texts: dict) -> InferenceResult:
        return InferenceResult(request=request, results=tuple(
            PromptResult(prompt_id=p.id, text=texts.get(p.id, ""), score=scores.get(p.id) if p.scored else None)
            for p in request.prompts))

    @contextlib.contextmanager
    def _device_errors(self):
        try:
            yield
        except RuntimeError as exc:
            if self.device.type == "cuda" and not isinstance(exc, _OOM) and _is_device_error(exc):
                raise FatalBackendError(f"CUDA error, the device context is lost; restart the process: {exc}") from exc
            raise

    # -- start-up -----------------------------------------------------------------------------
    def warmup(self, prompts, frames: int = 8) -> None:
        """Run each configured batch shape through both paths once, so that kernels are selected and
        compiled, decoding graphs captured and memory reserved before the daemon reports ready."""
        rng = np.random.default_rng(0)
        for size in sorted({min(s, self.max_batch) for s in self.config.batch_shapes}):
            t0 = time.perf_counter()
            for describe in (False, True):
                self.infer([InferenceRequest(clip=_noise_clip(rng, frames, k), prompts=tuple(prompts),
                                             describe=describe) for k in range(size)])
            logger.info("warm-up: batch of %d clips in %.1f s", size, time.perf_counter() - t0)
        if self.runner.pool is not None:
            t0 = time.perf_counter()
            self.runner.pool.capture_all()
            logger.info("warm-up: decoding graphs for up to %d clips in %.1f s", self.runner.pool.rows,
                        time.perf_counter() - t0)


def _noise_clip(rng, frames: int, seq: int) -> Clip:
    data = rng.integers(0, 256, (frames, 336, 448, 3), dtype=np.uint8)
    return Clip(camera_id="warmup", seq=seq, frames=data, timestamps=tuple(float(i) for i in range(frames)),
                window_start=0.0, window_end=float(frames))


def _is_device_error(exc: BaseException) -> bool:
    accel = getattr(torch, "AcceleratorError", None)
    text = str(exc)
    return (accel is not None and isinstance(exc, accel)) or "CUDA error" in text or "CUBLAS_STATUS" in text \
        or "cuDNN error" in text or "device-side assert" in text
