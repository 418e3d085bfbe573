"""Errors of the model backends, split by what the caller must do about them."""

from __future__ import annotations


class ModelLoadError(RuntimeError):
    """The model or its processor could not be loaded; the message says what to change."""


class FatalBackendError(RuntimeError):
    """The device is in a state no retry can fix (a non-OOM CUDA error poisons the context):
    the process must exit and be restarted."""


class ModelConfigError(ModelLoadError):
    """The config names a model or a device that is not there: the config must change (exit code 2)."""
