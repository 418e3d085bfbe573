"""Every prompt of a clip attends to one copy of the clip's prefix KV, in prefill and in decoding.

KV lives clip-major: slab row c holds clip c's prefix (BOS, "USER:", video) in [0, L), then one
block per prompt slot p at [L + p * B, L + (p + 1) * B) for that prompt's own tokens and its
generated ones. The queries of all prompts of a clip go through one attention call over that row,
with a mask letting prompt p see the prefix and its own block only. So the prefix is stored once
and read once a step for all prompts (half the KV bytes of one row per prompt, for two prompts),
and no prefix copy is made. Shapes are fixed per (clips, prompt slots, capacity), so decoding
steps are captured once as a CUDA graph and replayed.

The layer arithmetic is transformers' Llama layer over its own weights and rotary embedding, with
q/k/v and gate/up each one matrix product (fused_weights.py) and the elementwise work in the
engine's kernels (fusions.py); attention is torch's SDPA, causal in the prefix prefill and with a
boolean mask after it.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from monitor.backends.llava_next_video.fused_weights import fuse_linears

logger = logging.getLogger(__name__)


class SharedPrefixLM:
    """Runs the Llama layers of transformers' model with the engine's kernels: the prefix of every
    clip prefilled into its slab row, and query tokens laid out (clips, slots * tokens) against
    clip-major KV slabs."""

    def __init__(self, lm, kernels):
        self.lm, self.k = lm, kernels
        self.layers = list(lm.layers[: lm.config.num_hidden_layers])
        attn = self.layers[0].self_attn
        self.heads = lm.config.num_attention_heads
        self.kv_heads = getattr(lm.config, "num_key_value_heads", None) or self.heads
        self.head_dim, self.scaling = attn.head_dim, attn.scaling
        self.qkv = [fuse_linears([l.self_attn.q_proj, l.self_attn.k_proj, l.self_attn.v_proj]) for l in self.layers]
        self.gate_up = [fuse_linears([l.mlp.gate_proj, l.mlp.up_proj]) for l in self.layers]
        self.gqa = {"enable_gqa": True} if self.kv_heads != self.heads else {}
        # The norm that follows each layer: the next layer's input norm, the final norm after the last.
        norms = [l.input_layernorm for l in self.layers[1:]] + [lm.norm]
        self.next_norm = [(m.weight, m.variance_epsilon) for m in norms]

    @torch.no_grad()
    def prefill(self, hidden, k_slabs, v_slabs) -> None:
        """Causal prefill of n clips' identical-length prefixes (n, L, D) into slab rows [0, n),
        columns [0, L). Only K/V leave it: the last layer computes K/V alone, since nothing reads
        the prefix's own outputs (each prompt's first token comes from its own tokens)."""
        n, length, _ = hidden.shape
        positions = torch.arange(length, device=hidden.device)[None].expand(n, -1)

        def attend(i, q, k, v):
            k_slabs[i][:n, :, :length].copy_(k)
            v_slabs[i][:n, :, :length].copy_(v)
            if q is None:  # the last layer: its K/V is all anything reads
                return None
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scaling, **self.gqa)

        self._run(hidden, positions, attend, kv_only_last=True)

    @torch.no_grad()
    def forward(self, hidden, positions, write_cols, mask, k_slabs, v_slabs) -> torch.Tensor:
        """hidden (N, Q, D) for Q query tokens a clip, positions (N, Q), write_cols (Q,) or (N, Q) slab
        columns of their K/V, mask (N, 1, Q, capacity) True where a query may attend. Returns the final
        normed hidden states (N, Q, D)."""
        def attend(i, q, k, v):
            _store(k_slabs[i], write_cols, k)
            _store(v_slabs[i], write_cols, v)
            return F.scaled_dot_product_attention(q, k_slabs[i], v_slabs[i], attn_mask=mask, scale=self.scaling,
                                                  **self.gqa)

        return self._run(hidden, positions, attend)

    def _run(self, hidden, positions, attend, kv_only_last: bool = False):
        n, q_len, _ = hidden.shape
        cos, sin = self.lm.rotary_emb(hidden, positions)
        first = self.layers[0].input_layernorm
        h = self.k.rms_norm(hidden, first.weight, first.variance_epsilon)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            attn, qkv = layer.self_attn, self.qkv[i]
            if kv_only_last and i == last:
                q_rows = qkv.sizes[0]
                k, v = F.linear(h, qkv.weight[q_rows:], None if qkv.bias is None else qkv.bias[q_rows:]).split(
                    qkv.sizes[1:], dim=-1)
                _, k = self.k.rotary(k, k, cos, sin)
                attend(i, None, self._heads(k, self.kv_heads), self._heads(v, self.kv_heads))
                return None
            q, k, v = qkv.split(F.linear(h, qkv.weight, qkv.bias))
            q, k = self.k.rotary(q, k, cos, sin)  # token-major, before the heads are split off
            o = attend(i, self._heads(q, self.heads), self._heads(k, self.kv_heads), self._heads(v, self.kv_heads))
            norm = layer.post_attention_layernorm
            hidden, h = self.k.add_rms_norm(hidden, attn.o_proj(o.transpose(1, 2).reshape(n, q_len, -1)),
                                            norm.weight, norm.variance_epsilon)
            gate_up = F.linear(h, self.gate_up[i].weight, self.gate_up[i].bias)
            hidden, h = self.k.add_rms_norm(hidden, layer.mlp.down_proj(self.k.silu_mul(gate_up)), *self.next_norm[i])
        return h

    def _heads(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        n, t, _ = x.shape
        return x.view(n, t, heads, self.head_dim).transpose(1, 2)


def _store(slab: torch.Tensor, cols: torch.Tensor, x: torch.Tensor) -> None:
    """Write x (N, heads, Q, dim) into slab columns cols: (Q,) alike for every row, or (N, Q)."""
    x = x.to(slab.dtype)
    if cols.dim() == 1:
        slab.index_copy_(2, cols, x)
    else:
        slab.scatter_(2, cols[:, None, :, None].expand_as(x), x)


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
