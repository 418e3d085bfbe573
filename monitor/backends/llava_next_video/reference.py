"""The plain transformers path: HF processor, then `generate` per clip and prompt.

Slow, and kept on purpose: it is the reference the fast engine is checked against.
"""

from __future__ import annotations

import logging
from typing import Sequence

import torch

from monitor.inference.contract import InferenceRequest, InferenceResult, PromptResult, wants_description
from monitor.backends.scoring import YesNoScorer

logger = logging.getLogger(__name__)


class ReferenceRunner:
    def __init__(self, model, processor, device: torch.device, dtype: torch.dtype, max_new_tokens: int):
        self.model, self.processor = model, processor
        self.device, self.dtype = device, dtype
        self.max_new_tokens = max_new_tokens
        self.scorer = YesNoScorer(processor.tokenizer)

    def inputs(self, request: InferenceRequest, prompt) -> dict:
        text = self.processor.apply_chat_template(prompt.messages(), add_generation_prompt=True)
        batch = self.processor(text=text, videos=[request.clip.frames], return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        batch["pixel_values_videos"] = batch["pixel_values_videos"].to(self.dtype)
        return batch

    @torch.inference_mode()
    def score(self, request: InferenceRequest, prompt) -> float:
        """P(Yes) of the first answer token, from one forward."""
        logits = self.model(**self.inputs(request, prompt), logits_to_keep=1).logits[:, -1]
        return float(self.scorer.scores(logits)[0])

    @torch.inference_mode()
    def generate(self, request: InferenceRequest, prompt) -> tuple[list[int], float | None]:
        """Greedy new token ids and, for scored prompts, the score of the first answer token."""
        batch = self.inputs(request, prompt)
        tok = self.processor.tokenizer
        out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                                  output_logits=True, return_dict_in_generate=True,
                                  pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        new = out.sequences[0, batch["input_ids"].shape[1]:].tolist()
        score = float(self.scorer.scores(out.logits[0])[0]) if prompt.scored else None
        return new, score

    def run_prompt(self, request: InferenceRequest, prompt) -> tuple[list[int], float | None]:
        """One prompt as the request asks: words and score, or (describe False) the score only."""
        if not request.describe:
            return [], self.score(request, prompt) if prompt.scored else None
        return self.generate(request, prompt)

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        return [self.infer_one(request) for request in requests]

    def infer_one(self, request: InferenceRequest) -> InferenceResult:
        """Scores first when the describe decision waits for them (on_alert), then words if wanted."""
        decision = wants_description(request)
        scores: dict[str, float] = {}
        if decision is not True:
            scores = {p.id: self.score(request, p) for p in request.prompts if p.scored}
            decision = wants_description(request, scores)
        texts: dict[str, str] = {}
        if decision:
            for prompt in request.prompts:
                ids, score = self.generate(request, prompt)
                texts[prompt.id] = self.processor.tokenizer.decode(ids, skip_special_tokens=True).strip()
                if score is not None:
                    scores[prompt.id] = score
        return InferenceResult(request=request, results=tuple(
            PromptResult(prompt_id=p.id, text=texts.get(p.id, ""), score=scores.get(p.id)) for p in request.prompts))
