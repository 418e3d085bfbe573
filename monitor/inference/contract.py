"""The inference contract: what every backend takes and returns, written down in one place.

A request carries an id (the scheduler and the backends key their bookkeeping by it, never by object
identity), one clip and the prompts to ask of it, and the describe decision the scheduling layer made
(`monitor.inference.policy`). A backend declares the input it wants (`InputSpec`) so cameras decode
to that size. Batch backends implement `Backend`; backends that let clips join while others decode
(continuous batching) implement `StreamingBackend` as well, and the scheduler drives them step by step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

from monitor.clip import Clip
from monitor.inference.prompts import Prompt

_ids = itertools.count(1)


@dataclass(frozen=True, eq=False)  # eq=False: clips hold arrays; requests are told apart by id
class InferenceRequest:
    clip: Clip
    prompts: tuple[Prompt, ...]
    # False: scored prompts return their score only (text may be empty). True: describe, unless
    # describe_min_score is set: then describe only when a scored prompt's score reaches it.
    describe: bool = True
    describe_min_score: float | None = None
    id: int = field(default_factory=lambda: next(_ids))


def wants_description(request: InferenceRequest, scores: dict[str, float] | None = None) -> bool | None:
    """Whether the clip's prompts are answered in words: True/False, or None while the answer
    depends on scores not known yet. A request without a scored prompt cannot alert, so a score
    condition describes it every time rather than never."""
    if not request.describe:
        return False
    if request.describe_min_score is None or not any(p.scored for p in request.prompts):
        return True
    if scores is None:
        return None
    return max(scores.values(), default=0.0) >= request.describe_min_score


@dataclass(frozen=True)
class PromptResult:
    prompt_id: str
    text: str
    score: float | None = None  # P(Yes) / (P(Yes) + P(No)) of the first answer token, scored prompts only


@dataclass(frozen=True)
class InferenceResult:
    request: InferenceRequest
    results: tuple[PromptResult, ...]


@dataclass(frozen=True)
class InputSpec:
    """What a backend wants of a clip. Cameras decode frames to `short_side` (no larger: the model
    would only shrink them again); `frames` is the count the model was made for (None: any);
    `video` False means the frames are sent as separate images."""

    short_side: int | None = 336
    frames: int | None = None
    video: bool = True


@runtime_checkable
class Backend(Protocol):
    name: str
    model_id: str
    input_spec: InputSpec

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        """Run a batch; results come back in the order of `requests`."""

    def warmup(self, prompts: Sequence[Prompt], frames: int) -> None:
        """Run the configured shapes once before readiness (may do nothing)."""

    def close(self) -> None:
        """Free the model and its device memory."""


@runtime_checkable
class StreamingBackend(Backend, Protocol):
    """Continuous batching: `admit` scores clips at once and starts the ones to describe; `advance`
    runs a few decoding steps; each returns the results finished by then (each request once)."""

    @property
    def busy(self) -> bool:
        """Clips are in flight (decoding, or waiting for a decoding row)."""

    def room(self) -> int:
        """How many new clips `admit` should take now."""

    def admit(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]: ...

    def advance(self) -> list[InferenceResult]: ...

    def abort(self) -> list[InferenceRequest]:
        """Drop every clip in flight (after an error) and return them, so they can be reported."""
