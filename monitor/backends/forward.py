"""One batch through the language model with the video prefix shared by every prompt of a clip.

Rows 0..n-1 are the first prompt of each clip: the prefix (BOS, "USER:", the video's embeddings)
is prefilled there once, then copied to the rows of the clip's other prompts. Each prompt's own
tokens then run in one forward over all rows, whose last logits give the Yes/No score and the
first greedy token; decoding goes on from there in place, in preallocated KV slabs.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from monitor.backends.kv_cache import Slabs
from monitor.backends.prompt_tokens import SplitPrompt
from monitor.backends.vision import video_features

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    clip: int            # index of the clip in the batch
    split: SplitPrompt


@dataclass
class BatchOutput:
    scores: torch.Tensor                 # (rows,) P(Yes) / (P(Yes) + P(No)) of the first answer token
    tokens: list[list[int]] | None       # greedy new tokens per row, ending at EOS; None: not decoded


class BatchRunner:
    def __init__(self, model, scorer, eos_ids: Sequence[int], pad_id: int):
        self.model = model
        self.lm = model.model.language_model
        self.embed = model.get_input_embeddings()
        self.lm_head = model.get_output_embeddings()
        self.text_config = model.config.text_config
        self.scorer = scorer
        self.eos_ids = sorted(set(eos_ids))
        self.pad_id = pad_id
        # transformers 5.24 renamed past_key_values to cache; 5.17 knows only the old name.
        params = inspect.signature(self.lm.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"

    def _lm(self, embeds, cache, position_ids, attention_mask=None) -> torch.Tensor:
        out = self.lm(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                      use_cache=True, **{self.cache_kw: cache})
        return out.last_hidden_state

    @torch.inference_mode()
    def run(self, pixels: torch.Tensor, rows: Sequence[Row], max_new_tokens: int = 0,
            ignore_eos: bool = False) -> BatchOutput:
        n, device = pixels.shape[0], pixels.device
        if [r.clip for r in rows[:n]] != list(range(n)) or any(r.split.prefix != rows[0].split.prefix for r in rows):
            raise ValueError("rows must start with one row per clip, in order, and share one prefix")
        feats = video_features(self.model, pixels)
        prefix = torch.tensor(rows[0].split.prefix, device=device)
        x = torch.cat([self.embed(prefix)[None].expand(n, -1, -1), feats.to(self.embed.weight.dtype)], dim=1)
        prefix_len = x.shape[1]
        longest = max(len(r.split.suffix) for r in rows)
        slabs = Slabs(self.text_config, len(rows), prefix_len + longest + max_new_tokens, device, x.dtype)
        self._lm(x, slabs.cache(rows=n), torch.arange(prefix_len, device=device)[None])
        del x, feats
        if len(rows) > n:
            slabs.branch(torch.tensor([r.clip for r in rows[n:]], device=device), prefix_len)
        cache = slabs.cache(length=prefix_len)
        ids, mask, pos = self._suffix_inputs(rows, prefix_len, longest, max_new_tokens, device)
        hidden = self._lm(self.embed(ids), cache, pos, None if mask is None else mask[:, : prefix_len + longest])
        logits = self.lm_head(hidden[:, -1])
        scores = self.scorer.scores(logits)
        tokens = None
        if max_new_tokens > 0:
            tokens = self._decode(logits, cache, mask, pos[:, -1], prefix_len + longest, max_new_tokens, ignore_eos)
        return BatchOutput(scores=scores, tokens=tokens)

    def _suffix_inputs(self, rows, prefix_len, longest, max_new, device):
        """Suffixes left-padded to one length, so every row's last position is its next token.
        Pads sit between prefix and suffix; a mask hides them and the positions skip them, so each
        row computes exactly what it would alone. No pads: no mask, and SDPA takes its causal path."""
        pads = [longest - len(r.split.suffix) for r in rows]
        ids = torch.tensor([[self.pad_id] * p + list(r.split.suffix) for p, r in zip(pads, rows)], device=device)
        pad_t = torch.tensor(pads, device=device)[:, None]
        pos = (prefix_len + torch.arange(longest, device=device)[None] - pad_t).clamp(min=0)
        mask = None
        if any(pads):
            mask = torch.ones(len(rows), prefix_len + longest + max_new, dtype=torch.long, device=device)
            cols = torch.arange(longest, device=device)[None]
            mask[:, prefix_len: prefix_len + longest] = (cols >= pad_t).long()
        return ids, mask, pos

    def _decode(self, logits, cache, mask, last_pos, length, max_new, ignore_eos) -> list[list[int]]:
        eos = torch.tensor(self.eos_ids, device=logits.device)
        token = logits.argmax(-1)
        done = torch.isin(token, eos) if not ignore_eos else torch.zeros_like(token, dtype=torch.bool)
        out = [token]
        for step in range(1, max_new):
            # Checking for "all done" costs a device sync; every 8 steps keeps the queue full.
            if not ignore_eos and step % 8 == 0 and bool(done.all()):
                break
            attn = None if mask is None else mask[:, : length + step]
            hidden = self._lm(self.embed(token[:, None]), cache, (last_pos + step)[:, None], attn)
            token = self.lm_head(hidden[:, -1]).argmax(-1)
            if not ignore_eos:
                token = torch.where(done, torch.full_like(token, self.pad_id), token)
                done |= torch.isin(token, eos)
            out.append(token)
        table = torch.stack(out, dim=1).tolist()
        return [_cut_at_eos(row, self.eos_ids) if not ignore_eos else row for row in table]


def _cut_at_eos(row: list[int], eos_ids: list[int]) -> list[int]:
    for i, tok in enumerate(row):
        if tok in eos_ids:
            return row[: i + 1]
    return row
