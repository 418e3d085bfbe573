"""Backends by name: entry points, the built-ins the same way, options validated per backend."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.inference.registry import BUILTIN, GROUP, create_backend, factory, names, register, validate_options

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_in_table_is_the_entry_point_table_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][GROUP] == BUILTIN


def test_every_built_in_loads_without_loading_torch_and_declares_its_options():
    for name in BUILTIN:
        assert factory(name).options is not None


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown backend 'nope'; known: .*llava_next_video.*transformers"):
        factory("nope")


def test_unknown_options_are_errors_of_the_backends_own_model():
    with pytest.raises(ValidationError, match="bogus"):
        validate_options("llava_next_video", {"bogus": 1})
    assert validate_options("transformers", {"video": False}).video is False


def test_a_registered_backend_is_created_with_its_config_and_validated_options():
    from monitor.config.models import ModelConfig

    made = []

    from pydantic import BaseModel

    class EchoOptions(BaseModel):
        loud: bool = False

    @register("echo-test")
    def create(model, options):
        made.append((model.id, options.loud))
        return "backend"

    create.options = EchoOptions

    @register("plain-test")
    def create_plain(model):
        made.append((model.id, None))
        return "plain"

    assert {"echo-test", "plain-test"} <= set(names())
    assert create_backend(ModelConfig(backend="echo-test", id="x", options={"loud": True})) == "backend"
    assert create_backend(ModelConfig(backend="plain-test", id="y")) == "plain"
    assert made == [("x", True), ("y", None)]
