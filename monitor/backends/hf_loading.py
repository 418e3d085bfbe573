"""Loads a checkpoint and its processor with from_pretrained, or says clearly why not (every
transformers-based backend)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from monitor.inference.errors import ModelConfigError, ModelLoadError
from monitor.config.checks import hub_offline, in_hub_cache, is_local_model
from monitor.config.models import ModelConfig

logger = logging.getLogger(__name__)

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
WHAT_IT_IS = ("model.id is a Hugging Face hub id (owner/name) or a local folder holding the "
              "checkpoint; `monitor model make-tiny DIR` writes a tiny test model to DIR")
OFFLINE_HOW = ("download it where there is a network (`hf download {id} --local-dir DIR`), copy DIR here and "
               "set model.id to DIR")
HUB_PROBE_S = 5.0


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
        build = f"torch {torch.__version__} is a CPU build" if torch.version.cuda is None else "no CUDA device is visible"
        raise ModelConfigError(f"model.device is {name!r} but this machine has no CUDA ({build}): "
                               "set model.device to auto or cpu")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return _DTYPES[name]
    if device.type == "cuda":
        # fp16 only on cards without bf16 (pre-Ampere); bf16 keeps fp32's range, so no overflow.
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _check_source(model_id: str) -> None:
    if not is_local_model(model_id):
        return
    path = Path(model_id).expanduser()
    if not path.is_dir():
        raise ModelConfigError(f"model.id {model_id!r}: no such folder. {WHAT_IT_IS}.")
    if not (path / "config.json").exists():
        raise ModelConfigError(f"model.id {model_id!r} is not a checkpoint folder (no config.json in it). {WHAT_IT_IS}.")


def _hub_files_only(config: ModelConfig) -> bool:
    """local_files_only for from_pretrained of a hub id; fails fast when the hub is out of reach and the
    model is not cached (transformers would retry for minutes)."""
    if hub_offline(config.local_files_only):
        if not in_hub_cache(config.id, config.revision):
            raise ModelLoadError(f"model.id {config.id!r} is a hub id that is not in the Hugging Face cache, and "
                                 f"HF_HUB_OFFLINE (or model.local_files_only) forbids fetching it: "
                                 f"{OFFLINE_HOW.format(id=config.id)}.")
        return True
    unreachable = _hub_unreachable()
    if unreachable is None:
        return False
    if in_hub_cache(config.id, config.revision):
        logger.warning("the Hugging Face hub does not answer (%s): loading %s from the cache", unreachable, config.id)
        return True
    raise ModelLoadError(f"model.id {config.id!r} is a hub id, the Hugging Face hub does not answer ({unreachable}) "
                         f"and the model is not in its cache: {OFFLINE_HOW.format(id=config.id)}; HF_HUB_OFFLINE=1 "
                         "stops every attempt to reach the hub.")


def _hub_unreachable() -> str | None:
    """Why the hub endpoint does not answer within HUB_PROBE_S seconds, or None when it answers."""
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=HUB_PROBE_S).close()
    except urllib.error.HTTPError:
        return None  # an answer, if not a 200: the hub is there
    except (OSError, ValueError) as exc:
        return f"{constants.ENDPOINT}: {getattr(exc, 'reason', None) or exc}"
    return None


def load(config: ModelConfig, model_class) -> Loaded:
    """`model_class`: the family's class, or an Auto class (AutoModelForImageTextToText)."""
    from transformers import AutoProcessor

    _check_source(config.id)
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    files_only = True if is_local_model(config.id) else _hub_files_only(config)
    common = dict(revision=config.revision, local_files_only=files_only, trust_remote_code=False)
    try:
        processor = AutoProcessor.from_pretrained(config.id, **common)
        model = model_class.from_pretrained(
            config.id, dtype=dtype, attn_implementation=config.attn_implementation, use_safetensors=True, **common)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _load_error(config, exc) from exc
    model.to(device).eval()
    logger.info("loaded %s on %s as %s (attention %s)", config.id, device, dtype, config.attn_implementation)
    return Loaded(model=model, processor=processor, device=device, dtype=dtype)


def _load_error(config: ModelConfig, exc: BaseException) -> ModelLoadError:
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, RepositoryNotFoundError) or isinstance(cause, RepositoryNotFoundError):
        return ModelConfigError(f"model.id {config.id!r}: no such model on the Hugging Face hub (a private or "
                                f"gated one needs `hf auth login`). {WHAT_IT_IS}.")
    if isinstance(exc, RevisionNotFoundError) or isinstance(cause, RevisionNotFoundError):
        return ModelConfigError(f"model.revision {config.revision!r}: no such revision of {config.id!r}")
    first = (str(exc).strip().splitlines() or [""])[0]
    return ModelLoadError(f"cannot load model {config.id!r} (revision {config.revision or 'default'}): "
                          f"{type(exc).__name__}: {first}")
