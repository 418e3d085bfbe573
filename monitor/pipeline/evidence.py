"""Evidence on a worker of its own: the MP4 remux and the JPEG of a new alert are written here, off
the result stage, and the alert's messages (new, update, end) are published from here in order, each
carrying the evidence of its alert."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from monitor.clip import Clip
from monitor.schema import Alert, Evidence

logger = logging.getLogger(__name__)

CAPACITY = 64  # alert batches waiting for their evidence; full, the result stage waits (never the GPU)
_STOP = object()


class EvidenceWorker:
    def __init__(self, store: Any, publish: Callable[[Alert, float | None], None]):
        self.store = store
        self.publish = publish
        self.failed = 0
        self._evidence: dict[str, Evidence] = {}  # open alert id -> its evidence, for update and end
        self._queue: queue.Queue = queue.Queue(CAPACITY)
        self._thread = threading.Thread(target=self._loop, name="evidence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, alerts: list[Alert], clip: Clip | None = None, ring: Any | None = None,
               made_at: float | None = None) -> None:
        if alerts:
            self._queue.put((alerts, clip, ring, made_at))

    def stop(self, timeout: float = 30.0) -> None:
        """Write and publish what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def drain(self, timeout: float) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                alerts, clip, ring, made_at = item
                for alert in alerts:
                    self.publish(self._with_evidence(alert, clip, ring), made_at)
            except Exception:
                logger.exception("evidence worker: publishing alerts failed")
            finally:
                self._queue.task_done()

    def _with_evidence(self, alert: Alert, clip: Clip | None, ring: Any | None) -> Alert:
        if alert.phase == "new" and clip is not None:
            self._evidence[alert.alert_id] = self._capture(alert.camera.id, clip, ring)
        evidence = self._evidence.get(alert.alert_id)
        if alert.phase == "end":
            self._evidence.pop(alert.alert_id, None)
        return alert if evidence is None else alert.model_copy(update={"evidence": evidence})

    def _capture(self, camera_id: str, clip: Clip, ring: Any | None) -> Evidence:
        try:
            return self.store.capture(camera_id, clip, ring)
        except Exception:  # evidence is worth much, but never worth losing the alert over
            self.failed += 1
            logger.exception("camera %s: evidence capture failed; the alert goes out without it", camera_id)
            return Evidence()
