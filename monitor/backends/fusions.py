"""Fused elementwise work of the Llama layers, compiled once with dynamic shapes (model.compile).

In the eager 7B prefill about a quarter of the device time went to elementwise kernels: RMSNorm
in six passes through float32 copies, rotary embeddings in about eight passes over q and k, and
SiLU then multiply over the 11,008-wide MLP activations (H200 profile, 2026-11-26). Each is one
kernel here. The matrix products and attention stay the library's. The arithmetic is the same
function (RMSNorm still in float32); only rounding of intermediates differs.
"""

from __future__ import annotations

import functools
import logging

import torch

logger = logging.getLogger(__name__)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.silu(gate) * up


def rotary(q, k, cos, sin, unsqueeze_dim: int = 1):
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)

    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


# Below this many token rows the compiled dynamic-shape kernels lost to eager ones: in graph-
# replayed decoding (64 rows) the fused rotary took 115 us a layer and SiLU-mul 55 us on an H100,
# several times the eager kernels (profile, 2026-11-26). The choice is made per call, so a
# captured decoding graph keeps whichever it was captured with.
SMALL_ROWS = 2048


def _rows(x: torch.Tensor) -> int:
    return x.numel() // x.shape[-1]


def _norm_forward(module, fn, hidden_states):
    f = rms_norm if _rows(hidden_states) < SMALL_ROWS else fn
    return f(hidden_states, module.weight, module.variance_epsilon)


def _mlp_forward(module, fn, x):
    f = silu_mul if _rows(x) < SMALL_ROWS else fn
    return module.down_proj(f(module.gate_proj(x), module.up_proj(x)))


def _rotary_dispatch(fn):
    def apply(q, k, cos, sin, unsqueeze_dim: int = 1):
        rows = q.shape[0] * q.shape[-2] if unsqueeze_dim == 1 else _rows(q)
        return (rotary if rows < SMALL_ROWS else fn)(q, k, cos, sin, unsqueeze_dim)
    return apply


def fuse_llama(model) -> int:
    """Swap the fused versions into the language model; returns how many modules were patched.
    The rotary function is a module global of transformers' Llama code, so it is swapped there
    (process-wide: every Llama in the process gets the same arithmetic)."""
    from transformers.models.llama import modeling_llama

    norm = torch.compile(rms_norm, dynamic=True)
    act = torch.compile(silu_mul, dynamic=True)
    patched = 0
    lm = model.model.language_model
    for module in lm.modules():
        kind = type(module).__name__
        if kind.endswith("RMSNorm") and hasattr(module, "variance_epsilon"):
            module.forward = functools.partial(_norm_forward, module, norm)
            patched += 1
        elif kind.endswith("MLP") and getattr(lm.config, "hidden_act", None) == "silu" and hasattr(module, "gate_proj"):
            module.forward = functools.partial(_mlp_forward, module, act)
            patched += 1
    modeling_llama.apply_rotary_pos_emb = _rotary_dispatch(torch.compile(rotary, dynamic=True))
    logger.info("fused elementwise kernels in %d modules and the rotary embedding", patched)
    return patched
