"""Which live worker should run which camera: balanced by count, deterministic, few moves on a change.

Every worker computes the same answer from the same camera ids and live worker ids, so no one has
to hand assignments out. Each camera ranks the workers by a rendezvous hash (highest random weight)
and goes to the first of its ranking that still has room, where room is an equal share: `n // w`
cameras, and one more for the first `n % w` workers to reach that. A joining or leaving worker then
moves about its share of cameras, not a reshuffle of all of them.
"""

from __future__ import annotations

import hashlib
from typing import Iterable


def _weight(camera_id: str, worker_id: str) -> int:
    digest = hashlib.blake2b(f"{camera_id}\x1f{worker_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(camera_ids: Iterable[str], worker_ids: Iterable[str]) -> dict[str, str]:
    """camera -> worker; empty when there is no worker."""
    cameras, workers = sorted(set(camera_ids)), sorted(set(worker_ids))
    if not workers:
        return {}
    base, extra = divmod(len(cameras), len(workers))
    load = dict.fromkeys(workers, 0)
    fuller = 0  # workers holding base + 1 cameras
    out: dict[str, str] = {}
    for camera in cameras:
        for worker in sorted(workers, key=lambda w: _weight(camera, w), reverse=True):
            if load[worker] < base or (load[worker] == base and fuller < extra):
                fuller += load[worker] == base
                load[worker] += 1
                out[camera] = worker
                break
    return out
