"""Streaming backends expose every protocol member where Python 3.12's `isinstance` looks.

Since Python 3.12, `isinstance(x, SomeRuntimeProtocol)` finds members with `inspect.getattr_static`: a
member forwarded by `__getattr__` is invisible there, and the scheduler then treats a streaming backend
as a batch one (no continuous batching). The GPU machines run 3.12; this machine may run 3.11, where
`hasattr` still sees forwarded members, so the check is made the 3.12 way explicitly."""

from __future__ import annotations

import inspect

import pytest

from monitor.inference.contract import StreamingBackend

METHODS = ("busy", "room", "admit", "advance", "abort", "infer", "warmup", "close")


def _missing(obj, names) -> list[str]:
    missing = []
    for name in names:
        try:
            inspect.getattr_static(obj, name)
        except AttributeError:
            missing.append(name)
    return missing


def test_the_protocol_lists_the_members_checked_here():
    members = {n for n in dir(StreamingBackend) if not n.startswith("_")}
    assert set(METHODS) <= members


def test_the_llava_engine_backend_spells_out_every_streaming_member():
    from monitor.backends.llava_next_video.backend import EngineBackend

    assert _missing(EngineBackend, METHODS + ("name", "input_spec")) == []


def test_the_benchmarks_engine_adapter_spells_out_every_streaming_member():
    bench_latency = pytest.importorskip("bench.latency")

    adapter = bench_latency.EngineBackend(engine=None)
    assert _missing(adapter, METHODS + ("name", "model_id", "input_spec")) == []
