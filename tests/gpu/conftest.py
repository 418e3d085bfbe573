"""GPU tests: the tiny model on CUDA. Every test here is marked `gpu` and skipped, with the reason, where
torch sees no CUDA device (CI, the build machines). Imports stay to torch, transformers and the monitor
package's model path: the GPU machines have no av and no network."""

from __future__ import annotations

import pytest


def _no_cuda() -> str | None:
    try:
        import torch
    except ImportError as exc:
        return f"torch is not importable: {exc}"
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False); run on a GPU machine, see tests/gpu/README"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _no_cuda()
    for item in items:
        if "tests/gpu/" not in str(item.fspath).replace("\\", "/"):
            continue
        item.add_marker(pytest.mark.gpu)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
