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


def _norm_forward(module, fn, hidden_states):
    return fn(hidden_states, module.weight, module.variance_epsilon)


def _mlp_forward(module, fn, x):
    return module.down_proj(fn(module.gate_proj(x), module.up_proj(x)))


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
    modeling_llama.apply_rotary_pos_emb = torch.compile(rotary, dynamic=True)
    logger.info("fused elementwise kernels in %d modules and the rotary embedding", patched)
    return patched
