"""The engine's prefix prefill writes the K/V that transformers' own model computes."""

from __future__ import annotations

import inspect

import torch

from monitor.inference.registry import create_backend
from monitor.backends.llava_next_video.kv_cache import Slabs
from monitor.config.models import ModelConfig


def test_prefill_writes_the_libraries_keys_and_values(tiny_model_dir):
    from transformers import DynamicCache

    backend = create_backend(ModelConfig(id=str(tiny_model_dir), options={"engine": "fast"}))
    runner = backend.engine.runner
    torch.manual_seed(0)
    x = torch.randn(2, 40, runner.text_config.hidden_size)
    slabs = Slabs.allocate(runner.text_config, 3, 48, x.device, x.dtype)
    runner.shared.prefill(x, slabs.k, slabs.v)

    cache = DynamicCache()
    # transformers 5.24 renamed past_key_values to cache; 5.17 knows only the old name.
    name = "cache" if "cache" in inspect.signature(runner.lm.forward).parameters else "past_key_values"
    with torch.no_grad():
        runner.lm(inputs_embeds=x, position_ids=torch.arange(40)[None], use_cache=True, **{name: cache})
    for layer, (k, v) in enumerate(zip(slabs.k, slabs.v, strict=True)):
        want_k, want_v = cache.layers[layer].keys, cache.layers[layer].values
        torch.testing.assert_close(k[:2, :, :40], want_k, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(v[:2, :, :40], want_v, rtol=1e-5, atol=1e-5)
    assert not slabs.k[0][:, :, 40:].any()  # untouched columns stay zero
