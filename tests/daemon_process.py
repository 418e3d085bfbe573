"""The monitor as a real process (`python -m monitor run`), for the signal, health and notify tests:
its own redis-server on a free port (so a test can freeze it), the tiny model, a looping file camera."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Wraps the backend so a test can make every model call hang (touch the file), as a hung CUDA call does:
# the one thing here that cannot be made real without a GPU.
HANG_WRAPPER = """
import os, sys, threading
import monitor.app.daemon as daemon
real = daemon.create_backend
def create_backend(config):
    backend = real(config)
    for name in ("infer", "admit", "advance"):
        method = getattr(backend, name, None)
        if method is None:
            continue
        def hanging(*args, _method=method, **kwargs):
            if os.path.exists(os.environ["MONITOR_TEST_HANG_FILE"]):
                threading.Event().wait()
            return _method(*args, **kwargs)
        setattr(backend, name, hanging)
    return backend
daemon.create_backend = create_backend
from monitor.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def private_redis(tmp_path: Path, *extra: str):
    """A redis-server of this test alone on a free loopback port (stopped, and thawed, at the end)."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, decode_responses=True)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield proc, port
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


def write_config(tmp_path: Path, redis_url: str, model_dir: Path, video: Path, **metrics) -> tuple[Path, int]:
    port = free_port()
    config = {
        "redis": {"url": redis_url, "prefix": "t:", "socket_timeout": 2.0},
        "model": {"id": str(model_dir), "max_new_tokens": 4, "max_batch": 2, "max_wait_ms": 20},
        "window": {"seconds": 2, "stride": 1, "frames": 4},
        "state_dir": str(tmp_path / "state"),
        "metrics": {"listen": f"127.0.0.1:{port}", **metrics},
        "log": {"format": "text"},
        "cameras": [{"id": "cam-a", "url": str(video),
                     "loop": True}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, port


def start(config: Path, tmp_path: Path, env: dict | None = None) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
    environ.update({"PYTHONPATH": str(ROOT), "MONITOR_TEST_HANG_FILE": str(tmp_path / "hang"), **(env or {})})
    return subprocess.Popen([sys.executable, "-c", HANG_WRAPPER, "run", "--config", str(config)], env=environ,
                            stdout=subprocess.PIPE, stderr=open(tmp_path / "stderr.log", "wb"), cwd=ROOT)


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the monitor exited ({proc.returncode}) before {what}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
