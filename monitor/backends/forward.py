"""One batch of clips through the language model, each clip's prefix prefilled and stored once.

The prefix (BOS, "USER:", the video's embeddings) of every clip is prefilled into row c of
clip-major KV slabs; every prompt of the clip then runs from that one
copy (shared_prefix.py): one pass over all prompts' own tokens gives the Yes/No score and the
first greedy token, and decoding goes on with static shapes (static_decode.py). Slabs come from
one pool that grows to the largest batch seen and is reused after that, so captured decoding
graphs stay valid and memory stays flat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from monitor.backends.kv_cache import Slabs
from monitor.backends.prompt_tokens import SplitPrompt
from monitor.backends.shared_prefix import Layout, SharedPrefixLM, suffix_inputs
from monitor.backends.static_decode import StaticDecoder
from monitor.backends.vision import VideoFeatures

logger = logging.getLogger(__name__)
SUFFIX_ROUND = 16  # a prompt's block holds its tokens rounded up to this, then max_new_tokens


def clip_bucket(clips: int) -> int:
    """Clip counts that get a decoding graph: powers of two to 16, then multiples of 8."""
    if clips <= 16:
        return 1 << (clips - 1).bit_length()
    return -(-clips // 8) * 8


@dataclass
class BatchOutput:
    scores: list[list[float]]                 # [clip][slot] P(Yes) / (P(Yes) + P(No)) of the first answer token
    tokens: list[list[list[int]]] | None      # [clip][slot] greedy new tokens, ending at EOS; None: not decoded


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
        self.pool: Slabs | None = None
        self.decoders: dict[tuple, StaticDecoder] = {}

    def release(self) -> None:
        """Drop the pool and its graphs (after an OOM, so that a smaller batch can fit)."""
        self.pool, self.decoders = None, {}

    def slabs(self, rows: int, capacity: int, device, dtype) -> Slabs:
        """A view of the decoding pool with `rows` rows (all positions); growing it drops the graphs
        captured on the old one."""
        pool = self.pool
        if pool is None or pool.rows < rows or pool.capacity < capacity:
            grow_rows = max(rows, pool.rows if pool else 0)
            grow_capacity = max(capacity, pool.capacity if pool else 0)
            self.pool, self.decoders = None, {}
            if device.type == "cuda":
                torch.cuda.empty_cache()
            logger.info("KV pool: %d clips x %d positions", grow_rows, grow_capacity)
            self.pool = Slabs.allocate(self.text_config, grow_rows, grow_capacity, device, dtype)
        return self.pool.view(rows)

    def decoder(self, k, v, clips: int, slots: int, max_new: int, ignore_eos: bool) -> StaticDecoder:
        key = (clips, slots, k[0].shape[2], max_new, ignore_eos)
        if key not in self.decoders:
            try:
                self.decoders[key] = StaticDecoder(self, k, v, clips, slots, max_new, ignore_eos, self.use_graphs)
            except RuntimeError:  # capture refused: decode the same steps eagerly
                logger.warning("CUDA graph capture failed for %s; decoding eagerly", key, exc_info=True)
                self.decoders[key] = StaticDecoder(self, k, v, clips, slots, max_new, ignore_eos, False)
            logger.info("decoder for %d clips x %d prompts ready (graph: %s)", clips, slots,
                        self.decoders[key].graph is not None)
        return self.decoders[key]

    @torch.inference_mode()
    def run(self, pixels: torch.Tensor, prompts: Sequence[Sequence[SplitPrompt]], max_new_tokens: int = 0,
            ignore_eos: bool = False) -> BatchOutput:
        """pixels (n, K, 3, H, W); prompts[c]: the split prompts of clip c, all with one prefix."""
        n, device = pixels.shape[0], pixels.device
        prefix_ids = prompts[0][0].prefix
        if len(prompts) != n or any(not ps or any(p.prefix != prefix_ids for p in ps) for ps in prompts):
            raise ValueError("one non-empty prompt list per clip, all prompts with one prefix")
        slots = max(len(ps) for ps in prompts)
        clips = clip_bucket(n) if max_new_tokens > 0 else n  # padded clips are dropped at the end
        suffixes = [[p.suffix for p in ps] + [None] * (slots - len(ps)) for ps in prompts]
        suffixes += [[None] * slots] * (clips - n)
        feats = self.video_features(pixels)
        prefix = torch.tensor(prefix_ids, device=device)
        x = torch.cat([self.embed(prefix)[None].expand(n, -1, -1), feats.to(self.embed.weight.dtype)], dim=1)
        longest = max(len(s) for row in suffixes for s in row if s is not None)
        layout = Layout(x.shape[1], -(-longest // SUFFIX_ROUND) * SUFFIX_ROUND + max_new_tokens, slots)
        if max_new_tokens > 0:
            slabs = self.slabs(clips, layout.capacity, device, x.dtype)
        else:  # scores only: no graph to keep valid, so no pool sized by this batch either; the
            # prefill writes the prefix columns, so only those after it need zeroing
            slabs = Slabs.allocate(self.text_config, clips, layout.capacity, device, x.dtype, zero_from=layout.prefix_len)
        self.shared.prefill(x, slabs.k, slabs.v)
        del x, feats
        k = [s[:, :, : layout.capacity] for s in slabs.k]
        v = [s[:, :, : layout.capacity] for s in slabs.v]
        ids, pos, cols, mask, t = suffix_inputs(layout, suffixes, self.pad_id, device)
        hidden = self.shared.forward(self.embed(ids), pos, cols, mask, k, v)
        logits = self.lm_head(hidden.view(clips, slots, t, -1)[:, :, -1])       # (clips, slots, vocab)
        scores = self.scorer.scores(logits.flatten(0, 1)).view(clips, slots)[:n].tolist()
        if max_new_tokens <= 0:
            return BatchOutput(scores=scores, tokens=None)
        seen = mask.view(clips, 1, slots, t, -1)[:, :, :, -1]                  # what each slot's last token saw
        first_cols = torch.tensor([layout.start(p) + t for p in range(slots)], device=device)
        table = self.decoder(k, v, clips, slots, max_new_tokens, ignore_eos).decode(
            logits.argmax(-1), seen, pos.view(clips, slots, t)[:, :, -1], first_cols)
        tokens = [[row if ignore_eos else _cut_at_eos(row, self.eos_ids) for row in table[c][: len(prompts[c])]]
                  for c in range(n)]
        return BatchOutput(scores=scores, tokens=tokens)


def _cut_at_eos(row: list[int], eos_ids: list[int]) -> list[int]:
    for i, tok in enumerate(row):
        if tok in eos_ids:
            return row[: i + 1]
    return row
