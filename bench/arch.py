"""The models the benchmark runs: the exact LLaVA-NeXT-Video-7B architecture with random weights
(no weights can be downloaded), or small ones of the same structure for checking the bench on a CPU."""

from __future__ import annotations

import logging
import time

import torch

logger = logging.getLogger(__name__)


def build_processor():
    """A locally built processor as the seed baseline builds one, with the project's tiny byte-level
    tokenizer (the seed's word-level vocabulary has no Yes/No tokens to score) and 336 px frames."""
    from monitor.backends.llava_next_video.tiny import build_processor as tiny_processor, build_tokenizer

    return tiny_processor(build_tokenizer())


def build_config(arch: str, processor):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextVideoConfig

    tok = processor.tokenizer
    if arch == "7b":
        cfg = LlavaNextVideoConfig()  # defaults: CLIP ViT-L/14-336 + Llama-2-7B shapes
        cfg.text_config.vocab_size = 32064
    else:
        small = dict(medium=(128, 4, 256, 4), tiny=(32, 2, 64, 2))[arch]
        vision = CLIPVisionConfig(hidden_size=small[0], intermediate_size=4 * small[0], num_hidden_layers=small[1],
                                  num_attention_heads=4, image_size=336, patch_size=14)
        text = LlamaConfig(vocab_size=32064, hidden_size=small[2], intermediate_size=4 * small[2],
                           num_hidden_layers=small[3], num_attention_heads=8, num_key_value_heads=8)
        cfg = LlavaNextVideoConfig(vision_config=vision.to_dict(), text_config=text.to_dict())
    cfg.video_token_index = tok.convert_tokens_to_ids("<video>")
    cfg.image_token_index = tok.convert_tokens_to_ids("<image>")
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(cfg.text_config, name, getattr(tok, name))
    return cfg


def build_model(arch: str, processor, device: torch.device, dtype: torch.dtype, attn: str = "sdpa"):
    from transformers import LlavaNextVideoForConditionalGeneration

    cfg = build_config(arch, processor)
    cfg._attn_implementation = attn
    t0 = time.perf_counter()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the target dtype: no fp32 copy of 7B parameters
    try:
        with torch.device(device):
            model = LlavaNextVideoForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(previous)
    reinit(model)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.eval()
    logger.info("built %s: %.2fB parameters in %.1f s", arch, sum(p.numel() for p in model.parameters()) / 1e9,
                time.perf_counter() - t0)
    return model


@torch.no_grad()
def reinit(model, std: float = 0.02, seed: int = 0) -> None:
    """One seeded init for every parameter: matrices N(0, std), norm weights 1, biases 0. Whatever a
    library version's own init leaves (it may skip modules or leave memory uninitialised) never
    reaches the numbers, and bf16 activations stay finite through 32 random layers."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    for name, p in model.named_parameters():
        if ("norm" in name or "layrnorm" in name) and name.endswith("weight"):  # CLIP spells pre_layrnorm
            p.fill_(1.0)
        elif name.endswith("bias"):
            p.zero_()
        else:
            p.copy_(torch.randn(p.shape, generator=gen, device=p.device, dtype=torch.float32).mul_(std))
