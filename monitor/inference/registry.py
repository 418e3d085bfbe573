"""Model backends in a registry: built-in ones register exactly as third-party ones would."""

from __future__ import annotations

import importlib
from typing import Callable

from monitor.inference.contract import Backend, InferenceRequest, InferenceResult, PromptResult
from monitor.config.models import ModelConfig

BackendFactory = Callable[[ModelConfig], Backend]

_REGISTRY: dict[str, BackendFactory] = {}
# Built-ins are imported on first use so that `import monitor` never pulls in torch.
_BUILTIN = {
    "transformers": "monitor.backends.llava_next_video.backend",
}


def register(name: str) -> Callable[[BackendFactory], BackendFactory]:
    def deco(factory: BackendFactory) -> BackendFactory:
        _REGISTRY[name] = factory
        return factory
    return deco


def create_backend(config: ModelConfig) -> Backend:
    if config.backend not in _REGISTRY and config.backend in _BUILTIN:
        importlib.import_module(_BUILTIN[config.backend])
    try:
        factory = _REGISTRY[config.backend]
    except KeyError:
        known = ", ".join(sorted(set(_REGISTRY) | set(_BUILTIN)))
        raise ValueError(f"model.backend: unknown backend {config.backend!r}; known: {known}") from None
    return factory(config)


__all__ = ["Backend", "InferenceRequest", "InferenceResult", "PromptResult", "create_backend", "register"]
