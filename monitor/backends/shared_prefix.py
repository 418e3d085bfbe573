"""Every prompt of a clip attends to one copy of the clip's prefix KV, in prefill and in decoding.

KV lives clip-major: slab row c holds clip c's prefix (BOS, "USER:", video) in [0, L), then one
block per prompt slot p at [L + p * B, L + (p + 1) * B) for that prompt's own tokens and its
generated ones. The queries of all prompts of a clip go through one attention call over that row,
with a mask letting prompt p see the prefix and its own block only. So the prefix is stored once
and read once a step for all prompts (half the KV bytes of one row per prompt, for two prompts),
and no prefix copy is made. Shapes are fixed per (clips, prompt slots, capacity), so decoding
steps are captured once as a CUDA graph and replayed.

The layer arithmetic is transformers' Llama layer (its own modules: norms, projections, rotary
embedding, MLP); attention is torch's SDPA with a boolean mask.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


def _rotary():
    from transformers.models.llama import modeling_llama

    return modeling_llama.apply_rotary_pos_emb  # looked up late: fusions.py may swap it


class SharedPrefixLM:
    """Runs query tokens laid out (clips, slots * tokens) against clip-major KV slabs."""

    def __init__(self, lm, lm_head):
        self.lm, self.lm_head = lm, lm_head
        self.layers = list(lm.layers[: lm.config.num_hidden_layers])
        attn = self.layers[0].self_attn
        self.heads = lm.config.num_attention_heads
        self.kv_heads = getattr(lm.config, "num_key_value_heads", None) or self.heads
        self.head_dim, self.scaling = attn.head_dim, attn.scaling

    def forward(self, hidden, positions, write_cols, mask, k_slabs, v_slabs) -> torch.Tensor:
        """hidden (N, Q, D) for Q query tokens a clip, positions (N, Q), write_cols (Q,) slab columns
        of their K/V, mask (N, 1, Q, capacity) True where a query may attend. Returns the final
        normed hidden states (N, Q, D)."""
        n, q_len, _ = hidden.shape
        cos, sin = self.lm.rotary_emb(hidden, positions)
        rotary = _rotary()
        gqa = self.kv_heads != self.heads
        for layer, k_slab, v_slab in zip(self.layers, k_slabs, v_slabs):
            attn = layer.self_attn
            h = layer.input_layernorm(hidden)
            q = attn.q_proj(h).view(n, q_len, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(h).view(n, q_len, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(h).view(n, q_len, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = rotary(q, k, cos, sin)
            k_slab.index_copy_(2, write_cols, k.to(k_slab.dtype))
            v_slab.index_copy_(2, write_cols, v.to(v_slab.dtype))
            kwargs = {"enable_gqa": True} if gqa else {}
            o = F.scaled_dot_product_attention(q, k_slab, v_slab, attn_mask=mask, scale=self.scaling, **kwargs)
            hidden = hidden + attn.o_proj(o.transpose(1, 2).reshape(n, q_len, -1))
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        return self.lm.norm(hidden)


class Layout:
    """Where each prompt slot's tokens go: prefix length, block size, slot count."""

    def __init__(self, prefix_len: int, block: int, slots: int):
        self.prefix_len, self.block, self.slots = prefix_len, block, slots

    @property
    def capacity(self) -> int:
        # A multiple of 16: the memory-efficient SDPA kernel otherwise pads the mask on every call.
        return -(-(self.prefix_len + self.slots * self.block) // 16) * 16

    def start(self, slot: int) -> int:
        return self.prefix_len + slot * self.block


def suffix_inputs(layout: Layout, suffixes, pad_id: int, device):
    """suffixes[c][p]: token ids of prompt slot p of clip c (None: empty slot). Left-padded to the
    longest, so each slot's last query is its next-token position. Returns ids (N, P*T),
    positions (N, P*T), write_cols (P*T,), mask (N, 1, P*T, capacity), filled (N, P) columns used."""
    n, p_slots = len(suffixes), layout.slots
    t = max(len(s) for row in suffixes for s in row if s is not None)
    ids = torch.full((n, p_slots, t), pad_id, dtype=torch.long)
    real = torch.zeros(n, p_slots, t, dtype=torch.bool)
    for c, row in enumerate(suffixes):
        for p, s in enumerate(row):
            if s:
                ids[c, p, t - len(s):] = torch.tensor(s)
                real[c, p, t - len(s):] = True
    pad = t - real.sum(-1, keepdim=True)                               # (N, P, 1)
    positions = (layout.prefix_len + torch.arange(t) - pad).clamp(min=0)  # real tokens continue the prefix
    cols = torch.stack([layout.start(p) + torch.arange(t) for p in range(p_slots)])  # (P, T)
    mask = torch.zeros(n, p_slots, t, layout.capacity, dtype=torch.bool)
    mask[..., : layout.prefix_len] = True
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))            # query i sees own tokens <= i
    for p in range(p_slots):
        lo = layout.start(p)
        mask[:, p, :, lo: lo + t] = causal[None] & real[:, p, None, :]
    return (ids.view(n, -1).to(device), positions.view(n, -1).to(device), cols.view(-1).to(device),
            mask.view(n, 1, p_slots * t, -1).to(device), t)
