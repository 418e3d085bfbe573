"""Coordinators of two workers in one process, on the real Redis: shares, handing on, losing a lease."""

from __future__ import annotations

import threading

import pytest

from monitor.cluster import Coordinator
from monitor.cluster.leases import new_token
from monitor.config.models import ClusterConfig
from monitor.keys import Keys
from monitor.publish.fenced import FencedXadd
from tests.waiting import wait_for

CAMERAS = [f"cam-{i}" for i in range(6)]


class Pipelines:
    """What a daemon does on the coordinator's calls, recorded: which cameras run here."""

    def __init__(self):
        self.running: set[str] = set()
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def start(self, camera_id: str) -> None:
        with self.lock:
            self.running.add(camera_id)
            self.events.append(("start", camera_id))

    def stop(self, camera_id: str, reason: str) -> None:
        with self.lock:
            self.running.discard(camera_id)
            self.events.append((reason, camera_id))


def coordinator(redis_client, keys, worker_id, cameras=CAMERAS, ttl=1.0) -> tuple[Coordinator, Pipelines]:
    pipelines = Pipelines()
    c = Coordinator(ClusterConfig(enabled=True, lease_ttl_seconds=ttl, renew_interval_seconds=0.2), redis_client,
                    keys, worker_id, cameras=lambda: cameras, on_start=pipelines.start, on_stop=pipelines.stop,
                    stopped=lambda camera_id: camera_id not in pipelines.running, info=lambda: {"worker": worker_id})
    return c, pipelines


@pytest.fixture
def keys(redis_config):
    return Keys(redis_config.prefix)


def test_two_workers_split_the_cameras_and_the_second_takes_all_when_the_first_stops(redis_client, keys):
    a, a_runs = coordinator(redis_client, keys, "host-a")
    b, b_runs = coordinator(redis_client, keys, "host-b")
    a.start()
    try:
        assert wait_for(lambda: len(a_runs.running) == 6, 3)
        b.start()
        assert wait_for(lambda: len(a_runs.running) == 3 and len(b_runs.running) == 3, 5)
        assert a_runs.running.isdisjoint(b_runs.running)
        assert ("rebalanced", sorted(b_runs.running)[0]) in a_runs.events
        a.stop()  # a clean stop releases the leases: no waiting for the TTL
        assert wait_for(lambda: len(b_runs.running) == 6, 2)
    finally:
        a.stop()
        b.stop()
    assert not list(redis_client.scan_iter(match=keys.leases_pattern))
    assert not list(redis_client.scan_iter(match=keys.workers_pattern))


def test_a_lease_taken_over_while_its_holder_was_away_is_lost_and_its_late_messages_are_refused(
        redis_client, keys):
    a, a_runs = coordinator(redis_client, keys, "host-a", cameras=["cam-0"])
    a.start()
    try:
        assert wait_for(lambda: a_runs.running == {"cam-0"}, 3)
        made_under_the_lease = a.fence("cam-0", made_at=1e12)
        # As if host-a had hung past the TTL: its lease expired and another worker took the camera.
        redis_client.delete(keys.lease("cam-0"))
        redis_client.set(keys.lease("cam-0"), new_token("host-b"), px=10_000)
        assert wait_for(lambda: ("lost", "cam-0") in a_runs.events, 2)
        assert a.owned() == [] and a.stats["lost"] == 1
        late = a.fence("cam-0", made_at=1e12)  # a clip made before the loss, published after it
        assert late == made_under_the_lease
        assert FencedXadd(redis_client)(keys.descriptions, {"n": "1"}, late, maxlen=100) is None
        assert redis_client.xlen(keys.descriptions) == 0
    finally:
        a.stop()
    assert redis_client.get(keys.lease("cam-0")).startswith("host-b/")  # the new holder's lease is untouched


def test_a_message_made_before_any_lease_of_this_worker_has_no_fence(redis_client, keys):
    a, a_runs = coordinator(redis_client, keys, "host-a", cameras=["cam-0"])
    a.start()
    try:
        assert wait_for(lambda: a_runs.running == {"cam-0"}, 3)
        assert a.fence("cam-0", made_at=0.0) is None
        assert a.fence("cam-9", made_at=1e12) is None
    finally:
        a.stop()


def test_a_removed_camera_is_handed_back(redis_client, keys):
    cameras = ["cam-0", "cam-1"]
    a, a_runs = coordinator(redis_client, keys, "host-a", cameras=cameras)
    a.start()
    try:
        assert wait_for(lambda: a_runs.running == {"cam-0", "cam-1"}, 3)
        cameras.remove("cam-1")
        a.wake()
        assert wait_for(lambda: not redis_client.exists(keys.lease("cam-1")), 2)
        assert ("removed", "cam-1") in a_runs.events and a_runs.running == {"cam-0"}
    finally:
        a.stop()
