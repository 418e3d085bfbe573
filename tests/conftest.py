"""Shared fixtures: the real Redis on loopback, under a key prefix of each test's own."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from monitor.config.models import RedisConfig

REDIS_URL = os.environ.get("MONITOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"tests need a Redis at {REDIS_URL} (.ci/run starts one): {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_config(redis_url) -> RedisConfig:
    """A RedisConfig with a prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield RedisConfig(url=redis_url, prefix=prefix)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_client(redis_config):
    client = redis.Redis.from_url(redis_config.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny random-weight checkpoint, made offline once per session, loaded via from_pretrained."""
    from monitor.backends.llava_next_video.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny-llava-next-video"))


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory, tiny_model_dir):
    """family -> a tiny random-weight checkpoint folder, each built offline once per session."""
    from tests.backends.tiny_families import FAMILIES

    dirs = {"llava_next_video": tiny_model_dir}
    for family, make in FAMILIES.items():
        dirs[family] = make(tmp_path_factory.mktemp(f"tiny-{family}"))
    return dirs


@pytest.fixture(scope="session")
def yes_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny checkpoint rigged so that its first answer token is always "Yes" (tests/scripted_model.py)."""
    from tests.scripted_model import make_scripted_checkpoint

    return make_scripted_checkpoint(tiny_model_dir, tmp_path_factory.mktemp("tiny-says-yes"), "Yes")


@pytest.fixture(scope="session")
def no_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny checkpoint rigged so that its first answer token is always "No"."""
    from tests.scripted_model import make_scripted_checkpoint

    return make_scripted_checkpoint(tiny_model_dir, tmp_path_factory.mktemp("tiny-says-no"), "No")
