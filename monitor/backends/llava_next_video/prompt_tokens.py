"""Splits each rendered prompt at its video token: the part before is shared by every prompt of a clip.

Splitting the token ids of the whole rendered prompt (rather than tokenizing the two halves apart)
keeps the ids exactly those of the plain path, whatever the tokenizer does at the boundary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitPrompt:
    prefix: tuple[int, ...]   # ids before the video, e.g. BOS "USER:"
    suffix: tuple[int, ...]   # ids after the video: the question and "ASSISTANT:"


class PromptSplitter:
    def __init__(self, processor):
        self.processor = processor
        self.video_id = processor.tokenizer.convert_tokens_to_ids(getattr(processor, "video_token", "<video>"))
        self._cache: dict[str, SplitPrompt] = {}

    def split(self, prompt) -> SplitPrompt:
        key = prompt.question
        if key not in self._cache:
            text = self.processor.apply_chat_template(prompt.messages(), add_generation_prompt=True)
            ids = self.processor.tokenizer(text, add_special_tokens=True)["input_ids"]
            if ids.count(self.video_id) != 1:
                raise ValueError(f"prompt {prompt.id!r} renders {ids.count(self.video_id)} video tokens; the fast "
                                 "engine needs exactly one (use model.options.engine: reference, or model.backend: transformers, for other templates)")
            at = ids.index(self.video_id)
            if at + 1 >= len(ids):
                raise ValueError(f"prompt {prompt.id!r}: nothing follows the video; the question must come after it")
            self._cache[key] = SplitPrompt(prefix=tuple(ids[:at]), suffix=tuple(ids[at + 1:]))
        return self._cache[key]
