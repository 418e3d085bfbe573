"""Which clips get described in words: the scheduling layer's decision, the same for every backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from monitor.inference.contract import InferenceRequest

DescribeMode = Literal["always", "on_alert", "every_n"]


class DescribePolicy:
    """always: every clip; on_alert: only when a scored prompt's score reaches `threshold` (the
    backend decides after its scoring pass, which it runs anyway); every_n: every n-th clip of a camera
    (by the clip's sequence number). A request that asks for no description keeps that."""

    def __init__(self, mode: DescribeMode = "always", every: int = 6, threshold: float = 0.5):
        self.mode, self.every, self.threshold = mode, every, threshold

    def apply(self, request: InferenceRequest) -> InferenceRequest:
        if not request.describe:
            return request
        if self.mode == "every_n":
            return replace(request, describe=request.clip.seq % self.every == 0, describe_min_score=None)
        if self.mode == "on_alert":
            return replace(request, describe_min_score=self.threshold)
        return replace(request, describe_min_score=None)

    @classmethod
    def from_config(cls, model) -> "DescribePolicy":
        return cls(model.describe, model.describe_every, model.score_threshold)
