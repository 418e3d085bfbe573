"""Clips through the language model, each clip's prefix prefilled and stored once.

The prefix (BOS, "USER:", the video's embeddings) of every clip is prefilled into one row of
clip-major KV slabs; every prompt of the clip then runs from that one copy (shared_prefix.py):
one pass over all prompts' own tokens gives the Yes/No score and the first greedy token. Scores
alone need nothing more, so score batches use slabs of their own for the batch. Descriptions
decode in the pool (decode_pool.py), whose slabs come from one buffer that grows to the largest
pool seen and is reused after that, so captured decoding graphs stay valid and memory stays flat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from monitor.backends.llava_next_video.decode_pool import DecodePool
from monitor.backends.llava_next_video.kv_cache import Slabs
from monitor.backends.llava_next_video.prompt_tokens import SplitPrompt
from monitor.backends.llava_next_video.shared_prefix import Layout, SharedPrefixLM, suffix_inputs
from monitor.backends.llava_next_video.vision import VideoFeatures

logger = logging.getLogger(__name__)
SUFFIX_ROUND = 16  # a prompt's block holds its tokens rounded up to this, then max_new_tokens


@dataclass
class BatchOutput:
    scores: list[list[float]]                 # [clip][slot] P(Yes) / (P(Yes) + P(No)) of the first answer token
    tokens: list[list[list[int]]] | None      # [clip][slot] greedy new tokens, ending at EOS; None: not decoded


@dataclass
class Prepared:
    """A group of clips ready for the language model: prefix embeddings and prompt suffixes."""
    x: torch.Tensor                           # (n, prefix length, hidden)
    suffixes: list[list[tuple[int, ...] | None]]
    layout: Layout


@dataclass
class FirstPass:
    """Prefix prefilled and every prompt's own tokens run: what scores and decoding start from."""
    logits: torch.Tensor                      # (n, slots, vocab) at each slot's last token
    scores: list[list[float]]                 # [clip][slot]
    positions: torch.Tensor                   # (n, slots * t) positions of the prompt tokens
    mask: torch.Tensor                        # (n, 1, slots * t, capacity) what each prompt token saw
    t: int                                    # prompt tokens a slot (left-padded)


class BatchRunner:
    def __init__(self, model, scorer, eos_ids: Sequence[int], pad_id: int, kernels):
        self.model = model
        self.lm = model.model.language_model
        self.embed = model.get_input_embeddings()
        self.lm_head = model.get_output_embeddings()
        self.shared = SharedPrefixLM(self.lm, kernels)
        self.video_features = VideoFeatures(model, kernels)
        self.text_config = model.config.text_config
        self.scorer = scorer
        self.eos_ids = sorted(set(eos_ids))
        self.pad_id = pad_id
        self.use_graphs = next(model.parameters()).device.type == "cuda"
        self.buffer: Slabs | None = None
        self.pool: DecodePool | None = None

    def release(self) -> None:
        """Drop the KV buffer, the pool and its graphs (after an OOM, so that a smaller batch fits)."""
        self.buffer, self.pool = None, None

    def slabs(self, rows: int, capacity: int, device, dtype) -> Slabs:
        """A view of the decoding buffer with `rows` rows; growing it drops the pool built on the old one."""
        buffer = self.buffer
        if buffer is None or buffer.rows < rows or buffer.capacity < capacity:
            grow_rows = max(rows, buffer.rows if buffer else 0)
            grow_capacity = max(capacity, buffer.capacity if buffer else 0)
            self.buffer, self.pool = None, None
            if device.type == "cuda":
                torch.cuda.empty_cache()
            logger.info("KV buffer: %d clips x %d positions", grow_rows, grow_capacity)
            self.buffer = Slabs.allocate(self.text_config, grow_rows, grow_capacity, device, dtype)
        return self.buffer.view(rows)

    # -- preparation ----------------------------------------------------------------------------
    @torch.inference_mode()
    def prepare(self, pixels: torch.Tensor, prompts: Sequence[Sequence[SplitPrompt]], max_new_tokens: int,
                at_least: tuple[int, int] = (1, 0)) -> Prepared:
        """pixels (n, K, 3, H, W); prompts[c]: the split prompts of clip c, all with one prefix. The layout
        has at least at_least = (prompt slots, suffix tokens), so clips of cameras with fewer or shorter
        prompts fit the decoding pool sized for the largest."""
        n, device = pixels.shape[0], pixels.device
        prefix_ids = prompts[0][0].prefix
        if len(prompts) != n or any(not ps or any(p.prefix != prefix_ids for p in ps) for ps in prompts):
            raise ValueError("one non-empty prompt list per clip, all prompts with one prefix")
        slots = max(max(len(ps) for ps in prompts), at_least[0])
        suffixes = [[p.suffix for p in ps] + [None] * (slots - len(ps)) for ps in prompts]
        feats = self.video_features(pixels)
        prefix = torch.tensor(prefix_ids, device=device)
        x = torch.cat([self.embed(prefix)[None].expand(n, -1, -1), feats.to(self.embed.weight.dtype)], dim=1)
        longest = max(max(len(s) for row in suffixes for s in row if s is not None), at_least[1])
        layout = Layout(x.shape[1], -(-longest // SUFFIX_ROUND) * SUFFIX_ROUND + max_new_tokens, slots)
        return Prepared(x, suffixes, layout)

    # -- scores ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def first_pass(self, prepared: Prepared, k_slabs, v_slabs) -> FirstPass:
        """Prefill the prefixes into the slabs' rows and run every prompt's tokens after them."""
        x, layout = prepared.x, prepared.layout
        n = x.shape[0]
        self.shared.prefill(x, k_slabs, v_slabs)
        ids, pos, cols, mask, t = suffix_inputs(layout, prepared.suffixes, self.pad_id, x.device)
        hidden = self.shared.forward(self.embed(ids), pos, cols, mask, k_slabs, v_slabs)
        logits = self.lm_head(hidden.view(n, layout.slots, t, -1)[:, :, -1])
        scores = self.scorer.scores(logits.flatten(0, 1)).view(n, layout.slots).tolist()
        return FirstPass(logits, scores, pos, mask, t)

    @torch.inference_mode()
    def scores(self, prepared: Prepared) -> list[list[float]]:
        """Scores [clip][slot] in one pass, in slabs of this batch's own (nothing to keep valid)."""
        x, layout = prepared.x, prepared.layout
        # The prefill writes the prefix columns, so only those after it need zeroing.
        slabs = Slabs.allocate(self.text_config, x.shape[0], layout.capacity, x.device, x.dtype,
                               zero_from=layout.prefix_len)
        return self.first_pass(prepared, slabs.k, slabs.v).scores

    # -- descriptions ---------------------------------------------------------------------------
    def pool_for(self, layout: Layout, rows: int, max_new: int, ignore_eos: bool) -> DecodePool | None:
        """The pool for this layout: the current one, or a new one if the current is idle. None: the
        current pool is busy with another layout (the clips wait until it drains)."""
        pool = self.pool
        if pool is not None and pool.fits(layout) and pool.rows >= rows and pool.max_new == max_new \
                and pool.ignore_eos == ignore_eos:
            return pool
        if pool is not None and pool.active:
            return None
        rows = max(rows, pool.rows if pool else 0)
        # Let go of the old pool (its graphs and slab views) before the buffer may grow: holding it
        # here kept both buffers alive (seen: a 48-clip pool after a 32-clip one ran out of memory).
        self.pool = pool = None
        self.pool = DecodePool(self, layout, rows, max_new, ignore_eos, self.use_graphs)
        return self.pool

    @torch.inference_mode()
    def run(self, pixels: torch.Tensor, prompts: Sequence[Sequence[SplitPrompt]], max_new_tokens: int = 0,
            ignore_eos: bool = False) -> BatchOutput:
        """One batch start to finish: scores, and with max_new_tokens > 0 the greedy continuations."""
        prepared = self.prepare(pixels, prompts, max_new_tokens)
        if max_new_tokens <= 0:
            return BatchOutput(scores=self.scores(prepared), tokens=None)
        n = prepared.x.shape[0]
        pool = self.pool_for(prepared.layout, n, max_new_tokens, ignore_eos)
        if pool is None or pool.free < n:
            raise RuntimeError("the decoding pool is busy; run() needs it to itself")
        scores = pool.admit(prepared, list(range(n)))
        table: dict[Any, list[list[int]]] = {}
        while len(table) < n:
            table.update((f.tag, f.tokens) for f in pool.advance())
        tokens = [[row if ignore_eos else cut_at_eos(row, self.eos_ids) for row in table[c][: len(prompts[c])]]
                  for c in range(n)]
        return BatchOutput(scores=scores, tokens=tokens)


def cut_at_eos(row: list[int], eos_ids: list[int]) -> list[int]:
    for i, tok in enumerate(row):
        if tok in eos_ids:
            return row[: i + 1]
    return row


