"""The `transformers` backend: LLaVA-NeXT-Video through Hugging Face transformers, in-process."""

from __future__ import annotations

import gc
import logging
from typing import Sequence

import torch

from monitor.inference.registry import register
from monitor.inference.contract import InferenceRequest, InferenceResult
from monitor.backends.hf_loading import load
from monitor.backends.llava_next_video.reference import ReferenceRunner
from monitor.config.models import ModelConfig

logger = logging.getLogger(__name__)


class TransformersBackend:
    name = "transformers"

    def __init__(self, config: ModelConfig):
        self.config = config
        self.model_id = config.id
        loaded = load(config)
        self.model, self.processor = loaded.model, loaded.processor
        self.device, self.dtype = loaded.device, loaded.dtype
        self.reference = ReferenceRunner(self.model, self.processor, self.device, self.dtype, config.max_new_tokens)
        self.engine = None
        if config.engine == "fast":
            from monitor.backends.llava_next_video.engine import Engine
            self.engine = Engine(self.model, self.processor, config, self.device, self.dtype)

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        if self.engine is None:
            return self.reference.infer(requests)
        return self.engine.infer(requests)

    # Continuous batching (the scheduler uses these when `streaming` is true): clips join the
    # decoding batch as rows free up instead of waiting for a whole batch to finish.
    @property
    def streaming(self) -> bool:
        return self.engine is not None

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

    def infer_reference(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        """The plain processor + generate path, whatever the configured engine (fidelity checks)."""
        return self.reference.infer(requests)

    def warmup(self, prompts, frames: int = 8) -> None:
        """Run every configured batch shape once (compiling it when compile is on) before readiness."""
        if self.engine is not None:
            self.engine.warmup(prompts, frames)

    def close(self) -> None:
        self.engine = self.reference = self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


@register("transformers")
def create(config: ModelConfig) -> TransformersBackend:
    return TransformersBackend(config)
