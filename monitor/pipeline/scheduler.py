"""Gathers clips of all cameras into batches for the model, newest clip per camera wins.

The GPU must never queue without bound: each camera has one pending slot. A live camera's new clip
replaces a pending one (the old one is counted as dropped); a file played "as fast as the model
allows" waits for its slot instead, so no clip of a file is lost.

The describe policy (always, on_alert, every_n) is applied here, to every request of every backend.

A backend that streams (a `StreamingBackend`: the fast engine) takes clips while others are still
decoding: between every few decoding steps the scheduler hands it as many pending clips as it has
room for, and publishes each clip's result as soon as it is finished, so a clip never waits for a
whole batch of descriptions that started before it. Results go to `on_result`, which only queues
them for the result stage (`monitor.pipeline.dispatch`): this thread never waits on Redis or disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from monitor.inference.contract import Backend, InferenceRequest, InferenceResult, StreamingBackend
from monitor.inference.errors import FatalBackendError
from monitor.inference.policy import DescribePolicy

logger = logging.getLogger(__name__)


@dataclass
class SchedulerStats:
    submitted: int = 0
    dropped: int = 0
    completed: int = 0
    failed: int = 0
    batches: int = 0
    last_batch_size: int = 0
    last_batch_seconds: float = 0.0


class Scheduler:
    def __init__(self, backend: Backend, *, max_batch: int, max_wait_s: float,
                 on_result: Callable[[InferenceResult, float], None],
                 on_error: Callable[[list[InferenceRequest], BaseException], None] | None = None,
                 on_batch: Callable[[int, float], None] | None = None, policy: DescribePolicy | None = None):
        self.backend = backend
        self.policy = policy or DescribePolicy()
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.on_result = on_result
        self.on_error = on_error or (lambda reqs, exc: None)
        self.on_batch = on_batch or (lambda size, seconds: None)
        self.stats = SchedulerStats()
        self._pending: OrderedDict[str, tuple[InferenceRequest, float]] = OrderedDict()
        self._cond = threading.Condition()
        self._queued: dict[int, float] = {}  # request id -> when it was queued, while the backend has it
        self._stopping = False
        self.fatal: BaseException | None = None
        self.last_progress = time.monotonic()  # when a backend call last returned (health: a hung call)
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: InferenceRequest, *, wait: bool = False, stop: threading.Event | None = None) -> bool:
        """Queue a clip. wait=False replaces the camera's pending clip; wait=True blocks until the slot
        is free (or stop is set). Returns False if the clip was not queued."""
        camera = request.clip.camera_id
        request = self.policy.apply(request)
        with self._cond:
            while wait and camera in self._pending and not self._stopping:
                if stop is not None and stop.is_set():
                    return False
                self._cond.wait(0.2)
            if self._stopping:
                return False
            if camera in self._pending:
                self.stats.dropped += 1
                logger.info("camera %s: model is behind, dropped clip %d for a newer one",
                            camera, self._pending[camera][0].clip.seq)
                del self._pending[camera]
            self._pending[camera] = (request, time.monotonic())
            self.stats.submitted += 1
            self._cond.notify_all()
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the clips in hand (a streaming backend: every clip in flight), drop what is pending, and
        stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stalled_seconds(self) -> float:
        """How long clips have waited with no backend call returning; 0 while nothing waits. A hung CUDA
        call shows here (it never returns), an idle model does not."""
        with self._cond:
            waiting = [queued_at for _, queued_at in self._pending.values()] + list(self._queued.values())
        if not waiting:
            return 0.0
        return max(0.0, time.monotonic() - max(self.last_progress, min(waiting)))

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _take_batch(self) -> list[tuple[InferenceRequest, float]]:
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait(0.5)
            if self._stopping:
                return []
            deadline = time.monotonic() + self.max_wait_s
            while len(self._pending) < self.max_batch and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = []
            while self._pending and len(batch) < self.max_batch:
                batch.append(self._pending.popitem(last=False)[1])
            self._cond.notify_all()  # wakes cameras waiting for their slot
            return batch

    def _take_now(self, limit: int) -> list[tuple[InferenceRequest, float]]:
        """Whatever is pending, up to limit, without waiting (the backend has clips in flight)."""
        with self._cond:
            if self._stopping:
                return []
            batch = []
            while self._pending and len(batch) < limit:
                batch.append(self._pending.popitem(last=False)[1])
            if batch:
                self._cond.notify_all()
            return batch

    def _loop(self) -> None:
        streaming = isinstance(self.backend, StreamingBackend)
        while self.fatal is None:
            if streaming and self.backend.busy:
                batch = self._take_now(self.backend.room())
            else:
                batch = self._take_batch()
                if not batch:
                    return
            if not streaming:
                self._run(batch, self.backend.infer)
                continue
            if batch:
                self._run(batch, self.backend.admit)
            if self.fatal is None and self.backend.busy:
                self._advance()

    # -- handing clips to the backend ----------------------------------------------------------
    def _run(self, batch: list[tuple[InferenceRequest, float]], call: Callable) -> None:
        """Hand a batch to the backend (`infer`: whole batch; `admit`: a streaming backend, which
        returns what is finished already) and deliver the results."""
        requests = [req for req, _ in batch]
        self._queued.update((req.id, queued_at) for req, queued_at in batch)
        started = time.monotonic()
        try:
            results = call(requests)
        except Exception as exc:
            self._failed(requests, exc)
            return
        finally:
            self.last_progress = time.monotonic()
        seconds = time.monotonic() - started
        self.stats.batches += 1
        self.stats.last_batch_size = len(requests)
        self.stats.last_batch_seconds = seconds
        self.on_batch(len(requests), seconds)
        self._deliver(results)

    def _advance(self) -> None:
        try:
            results = self.backend.advance()
        except Exception as exc:
            self._failed(self.backend.abort(), exc)
            return
        finally:
            self.last_progress = time.monotonic()
        self._deliver(results)

    def _failed(self, requests: list[InferenceRequest], exc: BaseException) -> None:
        if isinstance(exc, FatalBackendError):
            logger.critical("model backend failed for good: %s", exc)
            self.fatal = exc
        else:  # one bad batch must not stop the monitor
            logger.error("model failed on %d clips: %s", len(requests), exc, exc_info=exc)
            self.stats.failed += len(requests)
        for req in requests:
            self._queued.pop(req.id, None)
        self.on_error(requests, exc)

    def _deliver(self, results: list[InferenceResult]) -> None:
        now = time.monotonic()
        for result in results:
            queued_at = self._queued.pop(result.request.id, now)
            self.stats.completed += 1
            try:
                self.on_result(result, now - queued_at)
            except Exception:
                logger.exception("publishing the result of camera %s failed", result.request.clip.camera_id)
