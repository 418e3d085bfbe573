"""Finds the configured Redis, or starts a private one for demos when nothing answers there."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

import redis

from monitor.config.models import RedisConfig
from monitor.publish import connect
from monitor.redact import mask_url

logger = logging.getLogger(__name__)


class RedisUnavailable(RuntimeError):
    pass


def answers(config: RedisConfig, timeout: float = 1.0) -> bool:
    try:
        client = connect(config.model_copy(update={"socket_timeout": timeout}), retries=0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


@contextmanager
def ensure_redis(config: RedisConfig) -> Iterator[RedisConfig]:
    """Yield a RedisConfig that answers: the configured one, or (start_local) a private server that
    is stopped on exit, after the body (the monitor's final flush) is done. Without start_local an unreachable Redis is not fatal: the daemon retries."""
    if answers(config) or not config.start_local:
        yield config
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(f"nothing answers at {mask_url(config.url)} and redis-server is not installed "
                               "(Debian: apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="monitor-redis-") as workdir:
        port = _loopback_port(config.url) or _free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", workdir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C in the terminal reaches the monitor only, which flushes its last
            # messages into this server before stopping it.
            start_new_session=True)
        local = config.model_copy(update={"url": f"redis://127.0.0.1:{port}/0", "password": None})
        try:
            _wait_until_up(local, proc)
            logger.info("nothing answered at %s: started a private redis-server on 127.0.0.1:%d "
                        "(stopped on exit, keeps nothing)", mask_url(config.url), port)
            yield local
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_until_up(config: RedisConfig, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RedisUnavailable(f"the private redis-server exited at start (code {proc.returncode})")
        if answers(config):
            return
        time.sleep(0.05)
    raise RedisUnavailable("the private redis-server did not answer within 10 s")


def _loopback_port(url: str) -> int | None:
    """The configured port when the URL names this machine, so other tools with the same config find it."""
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1") and parts.scheme == "redis":
        return parts.port or 6379
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
