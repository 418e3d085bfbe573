"""The result stage: results leave the scheduler's thread through a bounded queue and are handled on
a thread of their own by the Dispatcher (messages -> alert rules -> publish), so the GPU never waits
on Redis or disk.

A full queue means the result stage is behind (Redis frozen past its timeout, a slow disk): `put`
then waits for room rather than losing a result, counts it and says so once per episode through
`on_full`; the scheduler's latest-wins slots bound what piles up behind it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from monitor.inference.contract import InferenceResult
from monitor.pipeline.messages import descriptions

logger = logging.getLogger(__name__)

# Results hold their clip's frames (about 5 MB at 8 x 336 x 597) until alert rules and evidence are
# done with them: 256 of them cover more than Redis's 5 s socket timeout at 30 clips/s.
CAPACITY = 256
_STOP = object()


@dataclass
class DispatchStats:
    handled: int = 0
    failed: int = 0      # handlers that raised (logged; the next result is handled anyway)
    full: int = 0        # times a result found the queue full and waited for room
    max_depth: int = 0


class ResultStage:
    def __init__(self, handle: Callable[[InferenceResult, float], None], *, capacity: int = CAPACITY,
                 on_full: Callable[[int], None] | None = None, name: str = "results"):
        self.handle = handle
        self.on_full = on_full or (lambda depth: None)
        self.stats = DispatchStats()
        self._queue: queue.Queue = queue.Queue(capacity)
        self._full_episode = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def put(self, result: InferenceResult, latency_s: float) -> None:
        item = (result, latency_s)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.stats.full += 1
            if not self._full_episode:
                self._full_episode = True
                logger.warning("result stage is behind: its queue of %d results is full; the model waits",
                               self._queue.maxsize)
                self.on_full(self._queue.maxsize)
            self._queue.put(item)  # nothing is lost: the model waits for room
        self.stats.max_depth = max(self.stats.max_depth, self._queue.qsize())

    def drain(self, timeout: float) -> bool:
        """Wait until every queued result is handled; True if it was within `timeout`."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def stop(self, timeout: float = 60.0) -> None:
        """Handle what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self._handle(*item)
            finally:
                self._queue.task_done()

    def _handle(self, result: InferenceResult, latency_s: float) -> None:
        try:
            self.handle(result, latency_s)
            self.stats.handled += 1
        except Exception:
            self.stats.failed += 1
            logger.exception("handling the result of camera %s failed", result.request.clip.camera_id)
        if self._full_episode and self._queue.qsize() < self._queue.maxsize // 2:
            self._full_episode = False


class Dispatcher:
    """What the result stage does with each result: messages -> alert rules -> publish. Alerts go
    through the evidence worker when there is one (it writes a new alert's files first), in order.
    `publish(kind, message, made_at)` is the process's publish path (fenced by a camera's lease when
    workers share cameras); `made_at` is when the clip was cut."""

    def __init__(self, *, model_ref, scored: set[str], alerts, publish: Callable, metrics, evidence=None,
                 camera: Callable, ring: Callable):
        self.model_ref, self.scored = model_ref, scored
        self.alerts, self.publish, self.metrics, self.evidence = alerts, publish, metrics, evidence
        self.camera = camera  # camera id -> its CameraConfig (kept after removal, for late results)
        self.ring = ring      # camera id -> (running, its packet ring): a removed camera raises no new alert
        self.latencies: list[float] = []
        self.last_window: dict[str, float] = {}  # camera -> end of its newest window with a result (lag)

    def __call__(self, result: InferenceResult, latency_s: float) -> None:
        self.latencies.append(latency_s)
        del self.latencies[:-1000]
        self.metrics.latency.observe(latency_s)
        clip = result.request.clip
        self.metrics.clips.labels(clip.camera_id).inc()
        camera = self.camera(clip.camera_id)
        running, ring = self.ring(camera.id)
        self.last_window[camera.id] = clip.window_end
        for message in descriptions(result, camera, self.model_ref):
            self.publish("description", message, clip.created)
            self.metrics.descriptions.labels(camera.id, message.prompt_id).inc()
            if message.prompt_id in self.scored and running:
                self.publish_alerts(self.alerts.process(camera, clip, message), clip.created, clip, ring)
        if getattr(clip, "final", False):  # the footage ended (end of a file): an alert open on it ends with it
            self.publish_alerts(self.alerts.close(camera.id), clip.created)

    def publish_alerts(self, alerts, made_at: float | None = None, clip=None, ring=None) -> None:
        if self.evidence is not None:
            self.evidence.submit(list(alerts), clip, ring, made_at)
            return
        for alert in alerts:
            self.publish_alert(alert, made_at)

    def publish_alert(self, alert, made_at: float | None = None) -> None:
        self.publish("alert", alert, made_at)
        self.metrics.alerts.labels(alert.camera.id, alert.phase).inc()
