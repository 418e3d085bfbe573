"""Any video LLM that transformers' Auto classes and the checkpoint's chat template serve
(Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, LLaVA-NeXT-Video, ...): the processor, one batched forward
for scores (P(Yes) of the first answer token), batched greedy `generate` for descriptions.

Plain and portable rather than fast: no shared video prefix, no continuous batching. A family that
needs speed gets a folder of its own, as llava_next_video/ has.
"""

from __future__ import annotations

import math
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field


class TransformersOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    video: bool = Field(True, description="Send a clip's frames as one video (the processor's video path); "
                        "false sends them as separate images, for models without a video input.")
    short_side: int | None = Field(None, ge=16, le=4096, description="Short side, in pixels, cameras decode "
                                   "frames to. Unset: read from the processor's size settings (336 if it has none).")


class TransformersBackend:
    """A batch backend (the Backend protocol): clips x prompts in chunks of model.max_batch."""

    name = "transformers"

    def __init__(self, config, options: TransformersOptions):
        from transformers import AutoModelForImageTextToText

        from monitor.backends.hf_loading import load
        from monitor.backends.scoring import YesNoScorer
        from monitor.inference.contract import InputSpec

        self.config, self.options = config, options
        self.model_id = config.id
        loaded = load(config, AutoModelForImageTextToText)
        self.model, self.processor = loaded.model, loaded.processor
        self.device, self.dtype = loaded.device, loaded.dtype
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched generate continues every row from its last token
        self.scorer = YesNoScorer(self.tokenizer)
        self.input_spec = InputSpec(short_side=options.short_side or _processor_short_side(self.processor),
                                    video=options.video)

    def infer(self, requests: Sequence) -> list:
        from monitor.inference.contract import InferenceResult, PromptResult, wants_description

        decisions = [wants_description(r) for r in requests]
        scores: list[dict[str, float]] = [{} for _ in requests]
        first = [(i, p) for i, r in enumerate(requests) if decisions[i] is not True for p in r.prompts if p.scored]
        for (i, prompt), score in zip(first, self._scores(requests, first)):
            scores[i][prompt.id] = score
        decisions = [d if d is not None else wants_description(r, scores[i])
                     for i, (r, d) in enumerate(zip(requests, decisions))]
        wanted = [(i, p) for i, r in enumerate(requests) if decisions[i] for p in r.prompts]
        texts: list[dict[str, str]] = [{} for _ in requests]
        for (i, prompt), (text, score) in zip(wanted, self._generate(requests, wanted)):
            texts[i][prompt.id] = text
            if score is not None:
                scores[i][prompt.id] = score
        return [InferenceResult(request=r, results=tuple(
            PromptResult(prompt_id=p.id, text=texts[i].get(p.id, ""), score=scores[i].get(p.id) if p.scored else None)
            for p in r.prompts)) for i, r in enumerate(requests)]

    def warmup(self, prompts, frames: int = 8) -> None:
        pass

    def close(self) -> None:
        import gc

        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- model math -----------------------------------------------------------------------------
    def _chunks(self, pairs):
        step = self.config.max_batch
        return (pairs[k:k + step] for k in range(0, len(pairs), step))

    def _inputs(self, requests, pairs) -> dict:
        """One padded batch of (clip, prompt) pairs, rendered by the checkpoint's own chat template."""
        video = self.options.video
        texts = [self.processor.apply_chat_template(p.messages(video=video, frames=len(requests[i].clip.frames)),
                                                    add_generation_prompt=True, tokenize=False)
                 for i, p in pairs]
        clips = [requests[i].clip for i, _ in pairs]
        media = {"videos": [c.frames for c in clips]} if video else {"images": [list(c.frames) for c in clips]}
        batch = self.processor(text=texts, padding=True, return_tensors="pt", **media)
        return {k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
                for k, v in batch.items()}

    def _scores(self, requests, pairs) -> list[float]:
        import torch

        out: list[float] = []
        with torch.inference_mode():
            for chunk in self._chunks(pairs):
                logits = self.model(**self._inputs(requests, chunk), logits_to_keep=1).logits[:, -1]
                out.extend(float(s) for s in self.scorer.scores(logits))
        return out

    def _generate(self, requests, pairs) -> list[tuple[str, float | None]]:
        import torch

        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        out: list[tuple[str, float | None]] = []
        with torch.inference_mode():
            for chunk in self._chunks(pairs):
                batch = self._inputs(requests, chunk)
                gen = self.model.generate(**batch, max_new_tokens=self.config.max_new_tokens, do_sample=False,
                                          output_logits=True, return_dict_in_generate=True, pad_token_id=pad)
                new = gen.sequences[:, batch["input_ids"].shape[1]:]
                first = self.scorer.scores(gen.logits[0])
                for row, (_, prompt) in enumerate(chunk):
                    text = tok.decode(new[row], skip_special_tokens=True).strip()
                    out.append((text, float(first[row]) if prompt.scored else None))
        return out


def _processor_short_side(processor) -> int:
    """The short side the checkpoint's processor resizes frames to, where its settings say it."""
    for part in (getattr(processor, "video_processor", None), getattr(processor, "image_processor", None)):
        size = getattr(part, "size", None) or {}
        get = size.get if isinstance(size, dict) else lambda key: getattr(size, key, None)
        if hasattr(part, "merge_size") and get("longest_edge"):  # Qwen: pixel counts, not sides
            return int(math.sqrt(get("longest_edge")))
        for key in ("shortest_edge", "height"):
            value = get(key)
            if value:
                return int(value)
    return 336


def create(model, options: TransformersOptions) -> TransformersBackend:
    return TransformersBackend(model, options)


create.options = TransformersOptions
