"""Loads a LLaVA-NeXT-Video checkpoint and its processor with from_pretrained, or says clearly why not."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from monitor.inference.errors import ModelLoadError
from monitor.config.models import ModelConfig

logger = logging.getLogger(__name__)

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
HINT = ("No machine here can download model weights: point model.id at a local folder holding a "
        "LLaVA-NeXT-Video checkpoint (safetensors), or make the tiny test model with "
        "`monitor model make-tiny DIR` and set model.id to DIR. Set HF_HUB_OFFLINE=1 (or "
        "model.local_files_only: true) to use only what is already in the Hugging Face cache.")


@dataclass
class Loaded:
    model: torch.nn.Module
    processor: object
    device: torch.device
    dtype: torch.dtype


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"model.device is {name!r} but no CUDA device is available; use auto or cpu")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return _DTYPES[name]
    if device.type == "cuda":
        # fp16 only on cards without bf16 (pre-Ampere); bf16 keeps fp32's range, so no overflow.
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _check_source(model_id: str) -> None:
    # A hub id is `name` or `owner/name`; anything else can only be a folder.
    looks_local = model_id.startswith((".", "/", "~")) or model_id.count("/") > 1
    path = Path(model_id).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise ModelLoadError(f"model.id {model_id!r} is not a checkpoint folder (no config.json in it). {HINT}")
    elif looks_local:
        raise ModelLoadError(f"model.id {model_id!r}: no such folder. {HINT}")


def load(config: ModelConfig) -> Loaded:
    from transformers import AutoProcessor, LlavaNextVideoForConditionalGeneration

    _check_source(config.id)
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    offline = config.local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    common = dict(revision=config.revision, local_files_only=offline, trust_remote_code=False)
    try:
        processor = AutoProcessor.from_pretrained(config.id, **common)
        model = LlavaNextVideoForConditionalGeneration.from_pretrained(
            config.id, dtype=dtype, attn_implementation=config.attn_implementation, use_safetensors=True, **common)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise ModelLoadError(f"cannot load model {config.id!r} (revision {config.revision or 'default'}): "
                             f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}. {HINT}") from exc
    model.to(device).eval()
    logger.info("loaded %s on %s as %s (attention %s)", config.id, device, dtype, config.attn_implementation)
    return Loaded(model=model, processor=processor, device=device, dtype=dtype)
