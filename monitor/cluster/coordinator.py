"""One worker's part in a cluster: heartbeat, lease renewal, handing surplus cameras on, taking its share.

A thread ticks every `renew_interval_seconds`: it renews this worker's heartbeat and leases in a few
round trips, works out from the live workers which cameras are this worker's (`assign`), gives up
those that are not (after their pipeline has stopped, so its last messages still land) and tries to
take the free ones that are. A lease it can no longer renew is lost: its camera stops at once.

Each message a worker publishes for a camera carries the token of the lease it was made under
(`fence`): Redis appends it only while that token is current (monitor/publish/fenced.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import redis

from monitor.cluster.assign import assign
from monitor.cluster.leases import LeaseStore, new_token
from monitor.cluster.membership import Membership
from monitor.config.models import ClusterConfig
from monitor.keys import Keys
from monitor.publish.fenced import Fence

logger = logging.getLogger(__name__)

RELEASE_WAIT_TICKS = 2  # ticks a camera being handed on may take to stop before its lease goes anyway


@dataclass
class Epoch:
    """One holding of a camera's lease."""

    token: str
    started: float  # wall clock: what the camera's pipeline makes from now on belongs to this lease
    renewed: float  # monotonic time the last successful renewal was sent
    releasing: int = 0  # ticks since this worker began handing the camera on (0: not handing on)


class Coordinator:
    def __init__(self, config: ClusterConfig, client: redis.Redis, keys: Keys, worker_id: str, *,
                 cameras: Callable[[], Iterable[str]], on_start: Callable[[str], None],
                 on_stop: Callable[[str, str], None], stopped: Callable[[str], bool],
                 info: Callable[[], dict[str, Any]]):
        """`cameras()`: the enabled camera ids this worker knows; `on_start(camera)` starts its pipeline
        under a new lease; `on_stop(camera, reason)` stops it (reason: lost, rebalanced or removed);
        `stopped(camera)`: its pipeline has finished; `info()`: what the heartbeat tells `monitor status`."""
        self.config, self.keys, self.worker_id = config, keys, worker_id
        self.ttl_s = config.lease_ttl_seconds
        self.interval_s = config.renew_interval_seconds or self.ttl_s / 3
        self.leases = LeaseStore(client, keys, self.ttl_s)
        self.members = Membership(client, keys, worker_id, self.ttl_s)
        self.cameras, self.on_start, self.on_stop, self.stopped, self.info = cameras, on_start, on_stop, stopped, info
        self.stats = {"acquired": 0, "released": 0, "lost": 0}
        self._owned: dict[str, Epoch] = {}
        self._past: dict[str, Epoch] = {}  # each camera's last lease given up or lost: late messages go to the fence
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._draining = False
        self._thread = threading.Thread(target=self._loop, name="cluster", daemon=True)

    # -- what the daemon asks ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Tick now (the camera set changed)."""
        self._wake.set()

    def owned(self) -> list[str]:
        with self._lock:
            return sorted(c for c, e in self._owned.items() if not e.releasing)

    def fence(self, camera_id: str, made_at: float) -> Fence | None:
        """The lease a message about `camera_id` made at `made_at` (wall clock) is published under;
        None if it was made under no lease of this worker."""
        with self._lock:
            for epoch in (self._owned.get(camera_id), self._past.get(camera_id)):
                if epoch is not None and made_at >= epoch.started:
                    return Fence(self.keys.lease(camera_id), epoch.token)
        return None

    def drain(self) -> None:
        """Take no more cameras (the worker is stopping); leases held are still renewed."""
        self._draining = True

    def stop(self) -> None:
        """Stop ticking, release every lease and leave, so others take the cameras without waiting."""
        self._draining = True
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        with self._lock:
            held = {c: e.token for c, e in self._owned.items()}
            self._owned.clear()
        try:
            for camera_id, token in held.items():
                self.leases.release(camera_id, token)
            self.members.leave()
        except redis.RedisError as exc:
            logger.warning("cluster: could not release leases on the way out (they expire in %.0f s): %s",
                           self.ttl_s, exc)

    # -- the tick --------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._tick(started)
            except redis.RedisError as exc:
                logger.warning("cluster: Redis: %s", exc)
                self._expire(started)
            except Exception:  # a bug here must not stop the renewals of the other cameras
                logger.exception("cluster: tick failed")
            self._wake.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
            self._wake.clear()

    def _tick(self, now: float) -> None:
        self.members.beat(self.info())
        live = self.members.live() | {self.worker_id}
        wanted = set(self.cameras())
        mine = {c for c, w in assign(wanted, live).items() if w == self.worker_id}
        self._renew(now)
        with self._lock:
            owned = dict(self._owned)
        for camera_id, epoch in owned.items():
            if epoch.releasing:
                self._finish_release(camera_id, epoch)
            elif camera_id not in mine:
                self._begin_release(camera_id, epoch, "rebalanced" if camera_id in wanted else "removed")
        if not self._draining:
            for camera_id in sorted(mine - set(owned)):
                self._try_take(camera_id, now)

    def _renew(self, now: float) -> None:
        with self._lock:
            held = {c: e.token for c, e in self._owned.items()}
        for camera_id, ok in self.leases.renew(held).items():
            if ok:
                with self._lock:
                    if camera_id in self._owned:
                        self._owned[camera_id].renewed = now
            else:
                self._lose(camera_id, "its lease expired or another worker holds it")

    def _expire(self, now: float) -> None:
        """Redis is away: a lease not renewed within its TTL is gone; stop its camera."""
        with self._lock:
            stale = [c for c, e in self._owned.items() if now - e.renewed >= self.ttl_s]
        for camera_id in stale:
            self._lose(camera_id, f"not renewed for {self.ttl_s:g} s (Redis unreachable)")

    def _try_take(self, camera_id: str, now: float) -> None:
        token = new_token(self.worker_id)
        if not self.leases.acquire(camera_id, token):
            return  # still another's: it hands the camera on at its next tick, or its lease runs out
        with self._lock:
            self._owned[camera_id] = Epoch(token, time.time(), now)
        self.stats["acquired"] += 1
        logger.info("cluster: camera %s is now this worker's", camera_id)
        try:
            self.on_start(camera_id)
        except Exception:
            logger.exception("cluster: camera %s could not start; handing it back", camera_id)
            self._drop(camera_id)

    def _begin_release(self, camera_id: str, epoch: Epoch, reason: str) -> None:
        logger.info("cluster: handing camera %s on (%s)", camera_id, reason)
        epoch.releasing = 1
        self.on_stop(camera_id, reason)

    def _finish_release(self, camera_id: str, epoch: Epoch) -> None:
        """Release once the camera's pipeline has stopped (its last messages landed under the lease)."""
        if not self.stopped(camera_id) and epoch.releasing < RELEASE_WAIT_TICKS:
            epoch.releasing += 1
            return
        self._drop(camera_id)
        self.stats["released"] += 1

    def _drop(self, camera_id: str) -> None:
        with self._lock:
            epoch = self._owned.pop(camera_id, None)
            if epoch is not None:
                self._past[camera_id] = epoch
        if epoch is not None:
            self.leases.release(camera_id, epoch.token)

    def _lose(self, camera_id: str, why: str) -> None:
        with self._lock:
            epoch = self._owned.pop(camera_id, None)
            if epoch is None:
                return
            self._past[camera_id] = epoch
        self.stats["lost"] += 1
        logger.warning("cluster: lost camera %s: %s", camera_id, why)
        if not epoch.releasing:
            self.on_stop(camera_id, "lost")
