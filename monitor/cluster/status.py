"""What `monitor status` shows: the live workers, the cameras each holds, and how far behind each is."""

from __future__ import annotations

import time
from typing import Any

import redis

from monitor.cluster.leases import token_owner
from monitor.cluster.membership import read_workers
from monitor.keys import Keys


def cluster_status(client: redis.Redis, keys: Keys) -> dict[str, Any]:
    """Workers (from their heartbeats) and leases (camera -> owner, seconds left), read from Redis."""
    now = time.time()
    workers = {}
    for worker_id, beat in read_workers(client, keys).items():
        if not isinstance(beat, dict):  # a worker that does not share cameras: its heartbeat is a timestamp
            workers[worker_id] = {"shared": False, "beat": beat}
            continue
        cameras = {camera_id: {"lag_s": _lag(now, info.get("last_window_end"))}
                   for camera_id, info in (beat.get("cameras") or {}).items()}
        workers[worker_id] = {**beat, "shared": True, "beat_age_s": round(now - float(beat.get("beat", now)), 1),
                              "cameras": cameras}
    names = sorted(client.scan_iter(match=keys.leases_pattern, count=1000))
    start = len(keys.lease(""))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.get(name)
        pipe.pttl(name)
    replies = pipe.execute() if names else []
    leases = {}
    for name, token, ttl_ms in zip(names, replies[0::2], replies[1::2]):
        if token is not None:
            owner = token_owner(token)
            leases[name[start:]] = {"worker": owner, "expires_in_s": round(max(ttl_ms, 0) / 1000, 1),
                                    "worker_alive": owner in workers}
    return {"workers": workers, "leases": leases}


def _lag(now: float, window_end: float | None) -> float | None:
    """Seconds between now and the end of the newest window with a result: stride + model latency when
    all is well; growing when the worker falls behind or the camera delivers nothing."""
    return None if window_end is None else round(now - float(window_end), 1)


def render_status(status: dict[str, Any]) -> str:
    workers, leases = status["workers"], status["leases"]
    if not workers and not leases:
        return "no live worker and no camera lease under this prefix\n"
    lines = []
    for worker_id, w in sorted(workers.items()):
        if not w["shared"]:
            lines.append(f"{worker_id}  (runs every camera of its config; heartbeat {w['beat']})")
            continue
        p95 = w.get("p95_latency_s")
        lines.append(f"{worker_id}  {len(w['cameras'])} cameras  beat {w['beat_age_s']:.1f} s ago  "
                     f"pending {w.get('pending', 0)}  p95 {'-' if p95 is None else f'{p95:.2f} s'}  "
                     f"refused publishes {w.get('publish_fenced', 0)}")
        for camera_id, c in sorted(w["cameras"].items()):
            lag = "no result yet" if c["lag_s"] is None else f"{c['lag_s']:.1f} s"
            lease = leases.get(camera_id, {})
            lines.append(f"    {camera_id:<24} lag {lag:<14} lease {lease.get('expires_in_s', '-')} s")
    orphans = sorted(c for c, lease in leases.items() if not lease["worker_alive"])
    for camera_id in orphans:
        lease = leases[camera_id]
        lines.append(f"lease of {camera_id} held by {lease['worker']}, which has no heartbeat "
                     f"(expires in {lease['expires_in_s']} s)")
    return "\n".join(lines) + "\n"
