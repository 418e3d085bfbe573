"""The interface every model backend implements: clips and prompts in, texts and scores out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from monitor.clip import Clip
from monitor.inference.prompts import Prompt


@dataclass(frozen=True)
class InferenceRequest:
    clip: Clip
    prompts: tuple[Prompt, ...]
    describe: bool = True  # False: scored prompts return their score only, text may be empty


@dataclass(frozen=True)
class PromptResult:
    prompt_id: str
    text: str
    score: float | None = None  # P(Yes) / (P(Yes) + P(No)) of the first answer token, scored prompts only


@dataclass(frozen=True)
class InferenceResult:
    request: InferenceRequest
    results: tuple[PromptResult, ...]


class Backend(Protocol):
    name: str
    model_id: str

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        """Run a batch; results come back in the order of `requests`."""

    def close(self) -> None:
        """Free the model and its device memory."""
