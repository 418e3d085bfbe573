"""KV caches in preallocated slabs, so that nothing ever copies the whole cache.

transformers' DynamicLayer appends with torch.cat: every decoding step reads and rewrites the
whole cache (at 64 sequences of 1,200 tokens on the 7B model, about 40 GB a step, three times
what attention itself reads). Here each layer owns a (clips, kv heads, capacity, head dim) slab,
written in place by the prefill and by every decoding step (shared_prefix.py).
"""

from __future__ import annotations

import torch


class Slabs:
    """The K and V slabs of every layer: (rows, kv heads, capacity, head dim) each."""

    def __init__(self, k: list[torch.Tensor], v: list[torch.Tensor]):
        self.k, self.v = k, v

    @classmethod
    def allocate(cls, text_config, rows: int, capacity: int, device, dtype, zero_from: int = 0) -> "Slabs":
        """Slabs with columns [zero_from, capacity) zeroed; the caller writes the columns before."""
        heads = getattr(text_config, "num_key_value_heads", None) or text_config.num_attention_heads
        head_dim = getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads
        shape = (rows, heads, capacity, head_dim)
        layers = range(text_config.num_hidden_layers)
        # Zeroed, not empty: attention runs over the whole capacity with masked positions, and a
        # masked NaN left in fresh memory still poisons the output (0 * NaN).
        slabs = [torch.empty(shape, device=device, dtype=dtype) for _ in range(2 * len(layers))]
        for slab in slabs:
            slab[:, :, zero_from:].zero_()
        return cls(slabs[: len(layers)], slabs[len(layers):])

    @property
    def rows(self) -> int:
        return self.k[0].shape[0]

    @property
    def capacity(self) -> int:
        return self.k[0].shape[2]

    def view(self, rows: int) -> "Slabs":
        """The first `rows` rows; same memory, so graphs captured on a view stay valid."""
        return Slabs([k[:rows] for k in self.k], [v[:rows] for v in self.v])
