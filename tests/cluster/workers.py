"""Real `monitor run` worker processes sharing file cameras, and what they published, for the cluster tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import yaml

from monitor.cluster.status import cluster_status
from monitor.keys import Keys
from monitor.schema import parse_entry

ROOT = Path(__file__).resolve().parents[2]
TTL_S, STRIDE_S = 3.0, 1.0
WINDOW_S = 2.0


def cluster_config(redis_config, model_dir: Path, video: Path, state_dir: Path, cameras: int) -> dict:
    return {
        "redis": {"url": redis_config.url, "prefix": redis_config.prefix},
        # Scores only (no description reaches the threshold of 1) and one warm-up shape: three workers share
        # 2 busy cores in the tests.
        "model": {"id": str(model_dir), "max_new_tokens": 4, "max_batch": 4, "max_wait_ms": 20,
                  "describe": "on_alert", "score_threshold": 1.0, "batch_shapes": [1]},
        "window": {"seconds": WINDOW_S, "stride": STRIDE_S, "frames": 2},
        "source": {"backoff_initial": 0.2, "backoff_max": 1.0},
        "state_dir": str(state_dir),
        "metrics": {"listen": "127.0.0.1:0"},
        "evidence": {"enabled": False},
        "alerts": {"structured_verdict": False},
        "cluster": {"enabled": True, "lease_ttl_seconds": TTL_S},
        "cameras": [{"id": f"cam-{i}", "url": str(video), "loop": True, "pace": "realtime"} for i in range(cameras)],
    }


class Worker:
    """One `python3 -m monitor run --config FILE` process with a state folder (and outbox) of its own."""

    def __init__(self, config: dict, folder: Path):
        folder.mkdir(parents=True)
        config = {**config, "state_dir": str(folder / "state")}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        self.log = folder / "worker.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(folder / "config.yaml")],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.id = f"{socket.gethostname()}-{self.proc.pid}"

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def stop(self, timeout: float = 30.0, *, signalled: bool = False) -> int:
        """A clean stop (one SIGTERM: a second one forces the stop); the exit code."""
        if self.proc.poll() is None and not signalled:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def stop_all(workers: list[Worker]) -> dict[str, int]:
    for worker in workers:
        if worker.proc.poll() is None:
            worker.signal(signal.SIGCONT)
            worker.signal(signal.SIGTERM)
    return {worker.id: worker.stop(signalled=True) for worker in workers}


def owners(client: redis.Redis, keys: Keys) -> dict[str, list[str]]:
    """Live worker -> the cameras its heartbeat says it runs."""
    status = cluster_status(client, keys)
    return {w: sorted(info.get("cameras", {})) for w, info in status["workers"].items()}


def lease_holders(client: redis.Redis, keys: Keys) -> dict[str, str]:
    return {camera: lease["worker"] for camera, lease in cluster_status(client, keys)["leases"].items()}


def balanced(client: redis.Redis, keys: Keys, workers: list[Worker], cameras: int) -> bool:
    """Each of `workers` runs its equal share, and every lease is held by the worker that runs it."""
    held = owners(client, keys)
    share = cameras // len(workers)
    if sorted(held) != sorted(w.id for w in workers) or any(len(held[w.id]) not in (share, share + 1) for w in workers):
        return False
    leases = lease_holders(client, keys)
    return len(leases) == cameras and all(leases.get(c) == w for w, cams in held.items() for c in cams)


@dataclass(frozen=True)
class Published:
    entry_ms: int  # when Redis appended it
    worker: str
    camera: str
    start: float
    end: float


def descriptions(client: redis.Redis, keys: Keys) -> list[Published]:
    """Every anomaly description in stream order, with the window it covers (seconds since the epoch)."""
    from datetime import datetime

    def seconds(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    out = []
    for entry_id, fields in client.xrange(keys.descriptions):
        message = parse_entry(fields)
        if message.prompt_id == "anomaly":
            out.append(Published(int(entry_id.split("-")[0]), message.worker, message.camera.id,
                                 seconds(message.window.start), seconds(message.window.end)))
    return out


def gaps(published: list[Published]) -> dict[str, float]:
    """Per camera, the longest time between the ends of two consecutive windows."""
    longest: dict[str, float] = {}
    last: dict[str, float] = {}
    for p in published:
        if p.camera in last:
            longest[p.camera] = max(longest.get(p.camera, 0.0), p.end - last[p.camera])
        last[p.camera] = p.end
    return longest


def statuses(client: redis.Redis, keys: Keys) -> list[tuple[int, object]]:
    return [(int(entry_id.split("-")[0]), parse_entry(fields)) for entry_id, fields in client.xrange(keys.status)]


def handoff_problems(published: list[Published], gap_limit: float) -> list[str]:
    """Per camera, in the order Redis appended them: a window of another worker than the one before must
    start after that one ended (never two workers on one window), and no two consecutive windows are
    more than `gap_limit` apart (the takeover gap; within one worker, only clips dropped for newer ones
    when the model falls behind leave gaps, of a stride or two)."""
    problems = []
    by_camera: dict[str, list[Published]] = {}
    for p in published:
        by_camera.setdefault(p.camera, []).append(p)
    for camera, items in by_camera.items():
        for before, after in zip(items, items[1:]):
            gap = after.end - before.end
            if after.worker != before.worker and after.start < before.end - 0.01:
                problems.append(f"{camera}: {after.worker}'s window {after.start:.2f}-{after.end:.2f} overlaps "
                                f"{before.worker}'s {before.start:.2f}-{before.end:.2f}")
            elif after.worker == before.worker and gap <= 0:
                problems.append(f"{camera}: {after.worker} published the window ending {after.end:.2f} twice "
                                "or out of order")
            if gap > gap_limit:
                problems.append(f"{camera}: {gap:.1f} s without a window ({before.worker} -> {after.worker})")
    return problems


def worker_stats(client: redis.Redis, keys: Keys, worker_id: str) -> dict:
    """The stats of a worker's last status message (its final `stopped` one after a clean stop)."""
    found = [m.stats for _, m in statuses(client, keys) if m.camera is None and m.worker == worker_id and m.stats]
    return found[-1] if found else {}


def dump(workers: list[Worker]) -> str:
    return "\n\n".join(f"--- {w.id} ---\n{w.tail()}" for w in workers)


def leased_at(client: redis.Redis, keys: Keys, camera: str, worker: str, after_ms: int) -> int | None:
    """When `worker` announced that it holds `camera`'s lease, after `after_ms`."""
    for entry_ms, message in statuses(client, keys):
        if entry_ms > after_ms and message.camera and message.camera.id == camera and message.state == "leased" \
                and message.worker == worker:
            return entry_ms
    return None


def as_json(value) -> str:
    return json.dumps(value, indent=1, default=str)
