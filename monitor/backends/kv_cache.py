"""KV caches in preallocated slabs, so that nothing ever copies the whole cache.

transformers' DynamicLayer appends with torch.cat: every decoding step reads and rewrites the
whole cache (at 64 sequences of 1,200 tokens on the 7B model, about 40 GB a step, three times
what attention itself reads). Here each layer owns a (clips, kv heads, capacity, head dim) slab.
SlabLayer lets transformers' own model prefill the prefix into it: `update` writes in place and
returns views of the filled part, and as a DynamicLayer subclass every other part of transformers
(masks, lengths) sees an ordinary dynamic cache.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer


class SlabLayer(DynamicLayer):
    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int = 0):
        super().__init__()
        self.k_slab, self.v_slab, self.length = keys, values, length
        self.device, self.dtype = keys.device, keys.dtype
        self.is_initialized = True
        self._views()

    def _views(self) -> None:
        self.keys = self.k_slab[:, :, : self.length]
        self.values = self.v_slab[:, :, : self.length]

    def lazy_initialization(self, key_states, value_states) -> None:  # the slab exists already
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        end = self.length + key_states.shape[-2]
        if end > self.k_slab.shape[-2]:
            raise RuntimeError(f"KV slab full: {end} > {self.k_slab.shape[-2]} positions")
        self.k_slab[:, :, self.length:end].copy_(key_states)
        self.v_slab[:, :, self.length:end].copy_(value_states)
        self.length = end
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length


class Slabs:
    """The K and V slabs of every layer: (rows, kv heads, capacity, head dim) each."""

    def __init__(self, k: list[torch.Tensor], v: list[torch.Tensor]):
        self.k, self.v = k, v

    @classmethod
    def allocate(cls, text_config, rows: int, capacity: int, device, dtype) -> "Slabs":
        heads = getattr(text_config, "num_key_value_heads", None) or text_config.num_attention_heads
        head_dim = getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads
        shape = (rows, heads, capacity, head_dim)
        layers = range(text_config.num_hidden_layers)
        # Zeroed, not empty: static decoding attends over the whole capacity with masked positions,
        # and a masked NaN left in fresh memory still poisons the output (0 * NaN).
        return cls([torch.zeros(shape, device=device, dtype=dtype) for _ in layers],
                   [torch.zeros(shape, device=device, dtype=dtype) for _ in layers])

    @property
    def rows(self) -> int:
        return self.k[0].shape[0]

    @property
    def capacity(self) -> int:
        return self.k[0].shape[2]

    def view(self, rows: int) -> "Slabs":
        """The first `rows` rows; same memory, so graphs captured on a view stay valid."""
        return Slabs([k[:rows] for k in self.k], [v[:rows] for v in self.v])

    def cache(self, rows: int | None = None, length: int = 0) -> Cache:
        """A cache over the first `rows` sequences (all when None), already holding `length` positions."""
        cut = slice(None) if rows is None else slice(0, rows)
        return Cache(layers=[SlabLayer(k[cut], v[cut], length) for k, v in zip(self.k, self.v)])
