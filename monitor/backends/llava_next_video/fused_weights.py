"""Projections that read one input, concatenated into one matrix product.

Llama's q/k/v projections and its gate/up projections each read the same normed hidden states;
as separate products of 4,096 (or 11,008) output columns they ran at 570-650 TFLOP/s on an H100
where one product of the concatenated columns runs nearer 700 (prefill of 64 clips). The
concatenated weight is the storage: the original Linear modules get views of its rows, so
transformers' own forward (the reference path) still works on the same numbers and no parameter
is held twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Fused:
    weight: torch.Tensor                 # (sum of out features, in features)
    bias: torch.Tensor | None
    sizes: tuple[int, ...]               # out features of each original projection, in order

    def split(self, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The outputs of the original projections, as views of the fused output."""
        return y.split(self.sizes, dim=-1)


@torch.no_grad()
def fuse_linears(linears: list[nn.Linear]) -> Fused:
    """Concatenate the weights (and biases) of Linear modules that share an input; each module's
    parameters become views into the concatenation. Idempotent: modules already fused together are
    recognised and their storage reused."""
    weights = [m.weight for m in linears]
    sizes = tuple(w.shape[0] for w in weights)
    if _already_fused(weights):
        base = weights[0]
        weight = base.as_strided((sum(sizes), base.shape[1]), base.stride(), base.storage_offset())
    else:
        weight = torch.cat([w.detach() for w in weights])
    biases = [m.bias for m in linears]
    bias = None
    if any(b is not None for b in biases):
        if _already_fused([b for b in biases if b is not None]) and all(b is not None for b in biases):
            b0 = biases[0]
            bias = b0.as_strided((sum(sizes),), b0.stride(), b0.storage_offset())
        else:
            bias = torch.cat([b.detach() if b is not None else torch.zeros(s, dtype=weight.dtype, device=weight.device)
                              for b, s in zip(biases, sizes)])
    offset = 0
    for module, size in zip(linears, sizes):
        module.weight = nn.Parameter(weight[offset: offset + size], requires_grad=False)
        if bias is not None:
            module.bias = nn.Parameter(bias[offset: offset + size], requires_grad=False)
        offset += size
    return Fused(weight=weight, bias=bias, sizes=sizes)


def _already_fused(tensors: list[torch.Tensor]) -> bool:
    """True when the tensors are consecutive row blocks of one contiguous storage."""
    first = tensors[0]
    if not first.is_contiguous():
        return False
    end = first.storage_offset() + first.numel()
    for t in tensors[1:]:
        if (t.untyped_storage().data_ptr() != first.untyped_storage().data_ptr() or not t.is_contiguous()
                or t.storage_offset() != end or t.shape[1:] != first.shape[1:]):
            return False
        end += t.numel()
    return True
