"""A frozen Redis (SIGSTOP) must not slow the model: results wait in the result stage and the outbox,
never on the scheduler's thread, and everything arrives once after Redis thaws."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import redis

from monitor.app.daemon import Monitor
from monitor.clip import Clip
from monitor.config import validate
from monitor.inference.contract import InferenceRequest, InferenceResult, InputSpec, PromptResult
from monitor.inference.prompts import Prompt
from monitor.schema import parse_entry
from tests.waiting import wait_for

FREEZE_S = 30.0
CAMERAS, PERIOD_S = 10, 0.5  # 20 clips/s offered, well inside the backend's capacity


class SteadyBackend:
    """Stands in for the GPU, which this machine lacks: a fixed compute time per clip, so the rate of
    scored clips says only whether the scheduler's thread was kept waiting. The real backends run
    through the same scheduler and result stage in tests/app/test_run_backends.py."""

    name, model_id, input_spec = "steady", "steady", InputSpec(short_side=16)

    def infer(self, requests):
        time.sleep(0.005 * len(requests))
        return [InferenceResult(r, tuple(PromptResult(p.id, "No. A quiet street.", 0.1) for p in r.prompts))
                for r in requests]

    def warmup(self, prompts, frames):
        pass

    def close(self):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis(tmp_path):
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=60)
    assert wait_for(lambda: _pings(client), 10)
    yield proc, client, f"redis://127.0.0.1:{port}/0"
    os.kill(proc.pid, signal.SIGCONT)
    proc.terminate()
    proc.wait(10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


def feed(monitor: Monitor, stop: threading.Event) -> None:
    """Each camera submits a clip every PERIOD_S, latest-wins, as live cameras do."""
    seq = 0
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    prompt = Prompt("anomaly", "Is anything abnormal?", scored=True)
    next_at = time.monotonic()
    while not stop.is_set():
        for cam in range(CAMERAS):
            clip = Clip(f"cam-{cam}", seq, frames, (seq * PERIOD_S, seq * PERIOD_S + 0.1), seq * PERIOD_S,
                        seq * PERIOD_S + 1.0)
            monitor.scheduler.submit(InferenceRequest(clip=clip, prompts=(prompt,)))
        seq += 1
        next_at += PERIOD_S
        stop.wait(max(0.0, next_at - time.monotonic()))


def rate_over(monitor: Monitor, seconds: float) -> tuple[float, int]:
    stats = monitor.scheduler.stats
    done, dropped = stats.completed, stats.dropped
    time.sleep(seconds)
    return (stats.completed - done) / seconds, stats.dropped - dropped


@pytest.mark.slow
def test_a_frozen_redis_neither_slows_scoring_nor_loses_or_duplicates_a_message(private_redis, tmp_path):
    proc, client, url = private_redis
    config = validate({"redis": {"url": url, "prefix": "freeze:"}, "state_dir": str(tmp_path / "state"),
                       "metrics": {"enabled": False}, "model": {"max_batch": 8, "max_wait_ms": 20},
                       # Known to the result stage, not opened: the feeder below plays their clips.
                       "cameras": [{"id": f"cam-{i}", "url": "unused.mp4", "enabled": False} for i in range(CAMERAS)]})
    monitor = Monitor(config, backend=SteadyBackend())
    stop, feeding = threading.Event(), threading.Event()
    runner = threading.Thread(target=monitor.run, args=(stop,))
    feeder = threading.Thread(target=feed, args=(monitor, feeding))
    runner.start()
    assert wait_for(lambda: monitor.ready, 30)
    feeder.start()
    try:
        time.sleep(3)  # steady state
        before, dropped_before = rate_over(monitor, 10)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            during, dropped_during = rate_over(monitor, FREEZE_S)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        after, _ = rate_over(monitor, 5)
    finally:
        feeding.set()
        feeder.join()
    assert wait_for(lambda: monitor.results.drain(0) and monitor.publisher.outbox.empty(), 60)
    stop.set()
    runner.join(60)
    assert before > 15 and dropped_before == 0
    assert abs(during - before) <= 0.1 * before, (before, during)
    assert dropped_during == 0
    assert monitor.results.stats.failed == 0
    entries = [parse_entry(f) for _, f in client.xrange("freeze:descriptions")]
    ids = [e.message_id for e in entries]
    assert len(ids) == len(set(ids)), "a description arrived twice"
    assert len(ids) == monitor.scheduler.stats.completed, "a description was lost"
