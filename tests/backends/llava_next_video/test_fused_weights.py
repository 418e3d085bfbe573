"""Concatenated projections: one product gives each projection's output, and no weight is held twice."""

from __future__ import annotations

import torch
from torch import nn

from monitor.backends.llava_next_video.fused_weights import fuse_linears


def linears(bias: bool):
    torch.manual_seed(0)
    return [nn.Linear(16, 8, bias=bias), nn.Linear(16, 4, bias=bias), nn.Linear(16, 4, bias=bias)]


def test_one_product_gives_each_projections_output():
    for bias in (False, True):
        mods = linears(bias)
        x = torch.randn(3, 5, 16)
        want = [m(x) for m in mods]
        fused = fuse_linears(mods)
        got = fused.split(torch.nn.functional.linear(x, fused.weight, fused.bias))
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w)
        for m, w in zip(mods, want, strict=True):  # the modules themselves still compute the same
            torch.testing.assert_close(m(x), w)


def test_modules_hold_views_of_the_fused_weight():
    mods = linears(bias=True)
    fused = fuse_linears(mods)
    ptr = fused.weight.untyped_storage().data_ptr()
    assert all(m.weight.untyped_storage().data_ptr() == ptr for m in mods)
    assert all(m.bias.untyped_storage().data_ptr() == fused.bias.untyped_storage().data_ptr() for m in mods)
    assert fused.sizes == (8, 4, 4)


def test_fusing_again_reuses_the_storage():
    mods = linears(bias=False)
    first = fuse_linears(mods)
    second = fuse_linears(mods)
    assert second.weight.data_ptr() == first.weight.data_ptr()
    torch.testing.assert_close(second.weight, first.weight)
