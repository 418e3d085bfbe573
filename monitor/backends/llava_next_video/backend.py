"""LLaVA-NeXT-Video through Hugging Face transformers, in-process: the fast engine (a streaming
backend) or the reference runner (a batch backend), over one loaded checkpoint."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Sequence

import torch

from monitor.backends.hf_loading import load
from monitor.backends.llava_next_video import LlavaNextVideoOptions
from monitor.backends.llava_next_video.reference import ReferenceRunner
from monitor.config.models import ModelConfig
from monitor.inference.contract import InferenceRequest, InferenceResult, InputSpec

# CLIP ViT-L/14-336: the processor resizes the short side to 336 px; decoding larger is wasted work.
INPUT = InputSpec(short_side=336, frames=None, video=True)


@dataclass
class EngineSettings:
    """What the fast engine reads of the config: the scheduling layer's batch size and the
    backend's own options. Benchmarks change these on a live engine."""

    max_batch: int
    max_new_tokens: int
    compile: bool | None
    batch_shapes: list[int]


class ReferenceBackend:
    """The plain processor + generate path: slow, kept as the reference the engine is checked against."""

    name = "llava_next_video"
    input_spec = INPUT

    def __init__(self, config: ModelConfig, options: LlavaNextVideoOptions):
        from transformers import LlavaNextVideoForConditionalGeneration

        self.config, self.options = config, options
        self.model_id = config.id
        loaded = load(config, LlavaNextVideoForConditionalGeneration)
        self.model, self.processor = loaded.model, loaded.processor
        self.device, self.dtype = loaded.device, loaded.dtype
        self.reference = ReferenceRunner(self.model, self.processor, self.device, self.dtype, config.max_new_tokens)

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        return self.reference.infer(requests)

    def infer_reference(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        """The plain processor + generate path, whatever the engine (fidelity checks)."""
        return self.reference.infer(requests)

    def warmup(self, prompts, frames: int = 8) -> None:
        pass

    def close(self) -> None:
        self.engine = self.reference = self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class EngineBackend(ReferenceBackend):
    """The fast engine. Continuous batching: clips join the decoding batch as rows free up instead of
    waiting for a whole batch to finish (the StreamingBackend protocol)."""

    def __init__(self, config: ModelConfig, options: LlavaNextVideoOptions):
        super().__init__(config, options)
        from monitor.backends.llava_next_video.engine import Engine

        settings = EngineSettings(config.max_batch, config.max_new_tokens, options.compile, list(options.batch_shapes))
        self.engine = Engine(self.model, self.processor, settings, self.device, self.dtype)

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        return self.engine.infer(requests)

    @property
    def busy(self) -> bool:
        return self.engine.busy

    def room(self) -> int:
        return self.engine.room()

    def admit(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        return self.engine.admit(requests)

    def advance(self) -> list[InferenceResult]:
        return self.engine.advance()

    def abort(self) -> list[InferenceRequest]:
        return self.engine.abort()

    def warmup(self, prompts, frames: int = 8) -> None:
        """Run every configured batch shape once (compiling it when compile is on) before readiness."""
        self.engine.warmup(prompts, frames)
