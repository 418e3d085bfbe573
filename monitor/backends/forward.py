"""One batch through the language model with the video prefix shared by every prompt of a clip.

Rows 0..n-1 are the first prompt of each clip: the prefix (BOS, "USER:", the video's embeddings)
is prefilled there once, then copied to the rows of the clip's other prompts. Each prompt's own
tokens then run in one forward over all rows, whose last logits give the Yes/No score and the
first greedy token; decoding goes on from there with static shapes (static_decode.py).
KV slabs come from one pool that grows to the largest batch seen and is reused after that, so
captured decoding graphs stay valid and memory stays flat.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from monitor.backends.kv_cache import Slabs
from monitor.backends.prompt_tokens import SplitPrompt
from monitor.backends.static_decode import StaticDecoder
from monitor.backends.vision import video_features

logger = logging.getLogger(__name__)
SUFFIX_ROUND = 64  # pool capacity leaves room for suffixes up to a multiple of this


def row_bucket(rows: int) -> int:
    """Row counts that get a decoding graph: powers of two to 16, then multiples of 16."""
    if rows <= 16:
        return 1 << (rows - 1).bit_length()
    return -(-rows // 16) * 16


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
        self.use_graphs = next(model.parameters()).device.type == "cuda"
        self.pool: Slabs | None = None
        self.decoders: dict[tuple, StaticDecoder] = {}

    def slabs(self, rows: int, capacity: int, device, dtype) -> Slabs:
        """A view of the pool with at least `rows` rows and `capacity` positions; growing it drops
        the graphs captured on the old one."""
        pool = self.pool
        if pool is None or pool.rows < rows or pool.capacity < capacity:
            grow_rows = max(rows, pool.rows if pool else 0)
            grow_capacity = max(capacity, pool.capacity if pool else 0)
            self.pool, self.decoders = None, {}
            if device.type == "cuda":
                torch.cuda.empty_cache()
            logger.info("KV pool: %d rows x %d positions", grow_rows, grow_capacity)
            self.pool = Slabs.allocate(self.text_config, grow_rows, grow_capacity, device, dtype)
        return self.pool.view(rows)

    def decoder(self, rows: int, max_new: int, ignore_eos: bool) -> StaticDecoder:
        key = (rows, self.pool.capacity, max_new, ignore_eos)
        if key not in self.decoders:
            view = self.pool.view(rows)
            try:
                self.decoders[key] = StaticDecoder(self, view.k, view.v, max_new, ignore_eos, self.use_graphs)
            except RuntimeError:  # capture refused: decode the same steps eagerly
                logger.warning("CUDA graph capture failed for %d rows; decoding eagerly", rows, exc_info=True)
                self.decoders[key] = StaticDecoder(self, view.k, view.v, max_new, ignore_eos, False)
            logger.info("decoder for %d rows ready (graph: %s)", rows, self.decoders[key].graph is not None)
        return self.decoders[key]

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
        real = len(rows)
        if max_new_tokens > 0:  # pad rows to a graph bucket with copies of row 0, dropped at the end
            rows = list(rows) + [rows[0]] * (row_bucket(real) - real)
        feats = video_features(self.model, pixels)
        prefix = torch.tensor(rows[0].split.prefix, device=device)
        x = torch.cat([self.embed(prefix)[None].expand(n, -1, -1), feats.to(self.embed.weight.dtype)], dim=1)
        prefix_len = x.shape[1]
        longest = max(len(r.split.suffix) for r in rows)
        room = -(-longest // SUFFIX_ROUND) * SUFFIX_ROUND
        slabs = self.slabs(len(rows), prefix_len + room + max_new_tokens, device, x.dtype)
        self._lm(x, slabs.cache(rows=n), torch.arange(prefix_len, device=device)[None])
        del x, feats
        if len(rows) > n:
            slabs.branch(torch.tensor([r.clip for r in rows[n:]], device=device), prefix_len)
        cache = slabs.cache(length=prefix_len)
        ids, mask, pos = self._suffix_inputs(rows, prefix_len, longest, device)
        hidden = self._lm(self.embed(ids), cache, pos, mask)
        logits = self.lm_head(hidden[:, -1])
        scores = self.scorer.scores(logits[:real])
        tokens = None
        if max_new_tokens > 0:
            real_mask = mask.bool() if mask is not None else torch.ones_like(ids[:, :1], dtype=torch.bool).expand(
                -1, prefix_len + longest)
            table = self.decoder(len(rows), max_new_tokens, ignore_eos).decode(
                logits.argmax(-1), real_mask, pos[:, -1], prefix_len + longest)
            tokens = [row if ignore_eos else _cut_at_eos(row, self.eos_ids) for row in table[:real]]
        return BatchOutput(scores=scores, tokens=tokens)

    def _suffix_inputs(self, rows, prefix_len, longest, device):
        """Suffixes left-padded to one length, so every row's last position is its next token.
        Pads sit between prefix and suffix; a mask hides them and the positions skip them, so each
        row computes exactly what it would alone. No pads: no mask, and SDPA takes its causal path."""
        pads = [longest - len(r.split.suffix) for r in rows]
        ids = torch.tensor([[self.pad_id] * p + list(r.split.suffix) for p, r in zip(pads, rows)], device=device)
        pad_t = torch.tensor(pads, device=device)[:, None]
        pos = (prefix_len + torch.arange(longest, device=device)[None] - pad_t).clamp(min=0)
        mask = None
        if any(pads):
            mask = torch.ones(len(rows), prefix_len + longest, dtype=torch.long, device=device)
            mask[:, prefix_len:] = (torch.arange(longest, device=device)[None] >= pad_t).long()
        return ids, mask, pos


def _cut_at_eos(row: list[int], eos_ids: list[int]) -> list[int]:
    for i, tok in enumerate(row):
        if tok in eos_ids:
            return row[: i + 1]
    return row
