"""Backends by name, through the `monitor.backends` entry-point group; built-ins come the same way.

An entry point names a factory `create(model: ModelConfig, options) -> Backend` whose attribute
`options` is the backend's own pydantic model of `model.options` (extra keys are errors); a factory
without that attribute takes no options and is called as `create(model)`. Factories
live in modules that import torch lazily, so validating a config never loads a model library.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

from monitor.inference.contract import Backend, InferenceRequest, InferenceResult, PromptResult

if TYPE_CHECKING:
    from monitor.config.models import ModelConfig

GROUP = "monitor.backends"
# The same table as [project.entry-points."monitor.backends"] in pyproject.toml (a test keeps them
# equal): used when the installed metadata predates a backend, as in a checkout run from source.
BUILTIN = {
    "llava_next_video": "monitor.backends.llava_next_video:create",
    "transformers": "monitor.backends.transformers:create",
}

BackendFactory = Callable[..., Backend]
_REGISTERED: dict[str, BackendFactory] = {}


def register(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Register a factory in-process (tests, scripts); entry points are the way for packages."""
    def deco(factory: BackendFactory) -> BackendFactory:
        _REGISTERED[name] = factory
        return factory
    return deco


def names() -> list[str]:
    return sorted(set(_REGISTERED) | set(BUILTIN) | {ep.name for ep in entry_points(group=GROUP)})


def factory(name: str) -> BackendFactory:
    if name in _REGISTERED:
        return _REGISTERED[name]
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found and name in BUILTIN:
        found[name] = EntryPoint(name, BUILTIN[name], GROUP)
    if name not in found:
        raise ValueError(f"model.backend: unknown backend {name!r}; known: {', '.join(names())}")
    return found[name].load()


def options_model(name: str) -> type[BaseModel] | None:
    return getattr(factory(name), "options", None)


def validate_options(name: str, options: dict[str, Any]) -> BaseModel | None:
    """The backend's own options model, validated (pydantic's ValidationError on bad keys or values)."""
    model = options_model(name)
    if model is None:
        if options:
            raise ValueError(f"backend {name!r} takes no options, got {sorted(options)}")
        return None
    return model.model_validate(options)


def create_backend(config: "ModelConfig") -> Backend:
    """A factory with an options model gets (config, options); one without gets the config alone."""
    make = factory(config.backend)
    options = validate_options(config.backend, config.options or {})
    return make(config) if getattr(make, "options", None) is None else make(config, options)


__all__ = ["Backend", "InferenceRequest", "InferenceResult", "PromptResult", "create_backend", "register",
           "validate_options", "names", "GROUP", "BUILTIN"]
