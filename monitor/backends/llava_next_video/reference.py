"""The plain transformers path: HF processor, then `generate` per clip and prompt.

Slow, and kept on purpose: it is the reference the fast engine is checked against.
"""

from __future__ import annotations

import logging
from typing import Sequence

import torch

from monitor.inference.contract import InferenceRequest, InferenceResult, PromptResult
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
    def run_prompt(self, request: InferenceRequest, prompt) -> tuple[list[int], float | None]:
        """Greedy new token ids (empty when no text is wanted) and the score of scored prompts."""
        batch = self.inputs(request, prompt)
        if not request.describe:
            if not prompt.scored:
                return [], None
            logits = self.model(**batch, logits_to_keep=1).logits[:, -1]
            return [], float(self.scorer.scores(logits)[0])
        tok = self.processor.tokenizer
        out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                                  output_logits=True, return_dict_in_generate=True,
                                  pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        new = out.sequences[0, batch["input_ids"].shape[1]:].tolist()
        score = float(self.scorer.scores(out.logits[0])[0]) if prompt.scored else None
        return new, score

    def infer(self, requests: Sequence[InferenceRequest]) -> list[InferenceResult]:
        results = []
        for request in requests:
            prompt_results = []
            for prompt in request.prompts:
                ids, score = self.run_prompt(request, prompt)
                text = self.processor.tokenizer.decode(ids, skip_special_tokens=True).strip()
                prompt_results.append(PromptResult(prompt_id=prompt.id, text=text, score=score))
            results.append(InferenceResult(request=request, results=tuple(prompt_results)))
        return results
