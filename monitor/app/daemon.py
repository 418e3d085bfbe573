"""The monitor process: cameras, the model scheduler, publishing, heartbeats and a clean stop."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable

import redis

from monitor.alerts import AlertEngine
from monitor.inference.registry import Backend, create_backend
from monitor.inference.contract import InferenceRequest
from monitor.inference.policy import DescribePolicy
from monitor.pipeline.camera import CameraWorker
from monitor.cluster import Coordinator
from monitor.config.models import CameraConfig, MonitorConfig
from monitor.app.control import CameraChange, ControlListener, diff_cameras, restart_needed
from monitor.keys import Keys
from monitor.app.health import Health
from monitor.app.metrics import HealthServer, Metrics, Snapshot
from monitor.output import ResultPrinter
from monitor.inference.prompts import prompts_for
from monitor.evidence import EvidenceStore
from monitor.publish import Publisher, connect
from monitor.publish.trim_watch import TrimWatch
from monitor.sources import PacketRing
from monitor.pipeline.dispatch import Dispatcher, ResultStage
from monitor.pipeline.evidence import EvidenceWorker
from monitor.pipeline.scheduler import Scheduler
from monitor.redact import redact_text
from monitor.tiles import LatestFrames
from monitor.schema import CameraRef, ModelRef, Status, rfc3339, stable_id
from monitor.app.sd_notify import Notifier

logger = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
HEALTH_EVERY_S = 30.0
# A stop during a Redis outage: at most this long waiting on Redis (the outbox keeps the rest).
STOP_REDIS_BUDGET_S = 3.0


class Monitor:
    def __init__(self, config: MonitorConfig, *, backend: Backend | None = None, publisher=None,
                 echo: Callable[[str], None] | None = None):
        self.config = config
        self.worker_id = config.cluster.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.keys = Keys(config.redis.prefix)
        self.notifier = Notifier()
        self.notifier.status(f"loading the model {config.model.id}")
        self.metrics = Metrics()
        sinks = [ResultPrinter(echo)] if (echo or config.print_results) else []
        self.publisher = publisher or Publisher(config.redis, config.delivery.outbox_dir, *sinks,
                                                delivery=config.delivery)
        # Heartbeats: no retries and a short timeout, so a frozen Redis cannot hold up the loop or a stop.
        self._redis = connect(config.redis.model_copy(update={"socket_timeout": min(config.redis.socket_timeout,
                                                                                    2.0)}), retries=0)
        self.backend = backend or create_backend(config.model)
        self.model_ref = ModelRef(id=config.model.id, backend=config.model.backend)
        self.evidence_store = EvidenceStore(config.evidence) if config.evidence.enabled else None
        self.alerts = AlertEngine(config.alerts)  # evidence is written by the evidence worker instead
        self._camera_refs = {cam.id: cam for cam in config.cameras}  # kept after removal, for late results
        self.dispatch = Dispatcher(model_ref=self.model_ref, alerts=self.alerts, publish=self._publish,
                                   metrics=self.metrics, camera=self._camera_refs.__getitem__, ring=self._ring,
                                   scored={name for name, prompt in config.prompts.items() if prompt.score})
        self.evidence = EvidenceWorker(self.evidence_store, self.dispatch.publish_alert) if self.evidence_store else None
        self.dispatch.evidence = self.evidence
        self.results = ResultStage(self.dispatch, on_full=self._results_behind)
        self.scheduler = Scheduler(self.backend, max_batch=config.model.max_batch, policy=DescribePolicy.from_config(config.model),
                                   max_wait_s=config.model.max_wait_ms / 1000, on_result=self.results.put,
                                   on_error=self._on_batch_error,
                                   on_batch=lambda size, seconds: self.metrics.batch.observe(size))
        self.health = Health(self.scheduler, lambda: self.publisher.backlog,
                             stall_seconds=config.metrics.stall_seconds,
                             outbox_seconds=config.metrics.outbox_stall_seconds)
        self.metrics.collect_from(self._snapshot)
        self.metrics.ready.set_function(lambda: float(self.health.ready().ok))
        ttl = config.evidence.frames_ttl_seconds  # the UI's tiles: latest frame per camera, off the GPU thread
        self.frames = LatestFrames(config.redis, ttl) if ttl > 0 else None
        self._lock = threading.RLock()  # guards self.cameras: control commands come from other threads
        self._desired = {cam.id: cam for cam in config.cameras if cam.enabled}  # what should run (somewhere)
        self.cluster: Coordinator | None = None
        self._retired: dict[str, CameraWorker] = {}  # stopped on losing or handing on a lease, maybe not yet done
        self._last_window = self.dispatch.last_window  # camera -> end of its newest window with a result (lag)
        if config.cluster.enabled:  # cameras start and stop as this worker takes and gives up their leases
            self.cameras: dict[str, CameraWorker] = {}
            self.cluster = Coordinator(config.cluster, self._redis, self.keys, self.worker_id,
                                       cameras=lambda: list(self._desired), on_start=self._lease_taken,
                                       on_stop=self._lease_ended, stopped=self._camera_stopped,
                                       info=self._cluster_info)
        else:
            self.cameras = {cam_id: self._worker(cam) for cam_id, cam in self._desired.items()}
        self.control: ControlListener | None = None
        self.ready = False
        self._http: HealthServer | None = None
        self.trim_watch = TrimWatch()

    def _worker(self, camera: CameraConfig) -> CameraWorker:
        on_clip = (lambda clip: self.frames.offer(clip.camera_id, clip.frames[-1])) if self.frames else None
        return CameraWorker(camera, self.config, self.scheduler.submit, self._on_source_status,
                            packet_ring=self._packet_ring(), on_clip=on_clip,
                            input_spec=getattr(self.backend, "input_spec", None))

    def _packet_ring(self) -> PacketRing | None:
        """Compressed packets of the pre-roll and the window, for the evidence MP4 (no re-encode)."""
        if not self.config.evidence.enabled:
            return None
        # Past the window: one stride until the clip is cut, the model's latency, and a GOP to reach back to.
        extra = self.config.window.stride + 15.0
        return PacketRing(seconds=self.config.evidence.pre_roll_seconds + self.config.window.seconds + extra)

    # -- lifecycle -------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, exit_when_done: bool = False,
            reload: Callable[[], MonitorConfig] | None = None, reload_requested: threading.Event | None = None) -> int:
        """Run until `stop` is set (or, with exit_when_done, every source has finished). Exit code.
        When `reload_requested` is set, `reload()` gives the new config (SIGHUP)."""
        self._worker_status("starting", f"{len(self.cameras)} cameras, model {self.model_ref.id}")
        self._start_http()
        self.notifier.status("warming up the model")
        self._warm_up()
        self.health.warmed = True
        if self.evidence is not None:
            self.evidence.start()
        self.results.start()
        self.scheduler.start()
        if self.frames is not None:
            self.frames.start()
        for worker in list(self.cameras.values()):
            worker.start()
        self.control = ControlListener(self.config, self.apply, lambda text: self._worker_status("error", text),
                                       from_start=self.cluster is not None)
        self.control.start()
        if self.cluster is not None:  # know the cameras added at run time before taking a share of them
            self.control.caught_up.wait(10.0)
            self.cluster.start()
        self.ready = True
        self._worker_status("running", "")
        self.notifier.ready(self._status_line())
        next_beat = time.monotonic()
        next_health = next_beat + HEALTH_EVERY_S
        next_dog = next_beat
        while not stop.wait(0.2):
            now = time.monotonic()
            if self.scheduler.fatal is not None:
                break
            if self.notifier.watchdog_interval_s and now >= next_dog:
                self._feed_watchdog()
                next_dog = now + self.notifier.watchdog_interval_s
            if exit_when_done and self._all_done():
                logger.info("every source has finished")
                break
            if reload_requested is not None and reload_requested.is_set():
                reload_requested.clear()
                self._reload_from(reload)
            if now >= next_beat:
                if self.cluster is None:  # in a cluster its coordinator beats
                    self._heartbeat()
                self.notifier.status(self._status_line())
                next_beat = now + HEARTBEAT_S
            if now >= next_health:
                self._worker_status("running", "", stats=self.stats())
                self._prune_evidence()
                self._watch_trimming()
                next_health = now + HEALTH_EVERY_S
        return self.shutdown()

    def _snapshot(self) -> Snapshot:
        """What the metrics collector serves, read at scrape time."""
        s = self.scheduler.stats
        return Snapshot(dropped=s.dropped, failed=s.failed, unparsed=self.alerts.unparsed_verdicts,
                        published=dict(self.publisher.stats), suppressed=dict(self.alerts.suppressed),
                        trimmed_pending=dict(self.trim_watch.totals),
                        pending=self.scheduler.pending, outbox_bytes=self.publisher.backlog,
                        stalled_seconds=self.scheduler.stalled_seconds(),
                        outbox_stalled_seconds=self.health.outbox_stalled_seconds(),
                        cameras_owned=len(self.cluster.owned()) if self.cluster else None,
                        lease_events=dict(self.cluster.stats) if self.cluster else {},
                        results_queued=self.results.depth, results_queue_full=self.results.stats.full)

    def _watch_trimming(self) -> None:
        """Without XADD ACKED, report pending entries that MAXLEN trimmed (status stream and metrics)."""
        if self.publisher.redis.trims_acked_only:
            return
        streams = {"descriptions": self.keys.descriptions, "alerts": self.keys.alerts, "status": self.keys.status}
        try:
            losses = self.trim_watch.check(self._redis, streams)
        except redis.RedisError as exc:
            logger.debug("trim watch: %s", exc)
            return
        for line in losses:
            logger.warning("%s", line)
            self._worker_status("warning", line)

    def _feed_watchdog(self) -> None:
        """WATCHDOG=1 only while the model loop makes progress: systemd restarts a hung one."""
        verdict = self.health.healthy()
        if verdict.ok:
            self.notifier.watchdog()
        else:
            logger.error("not feeding the watchdog: %s", verdict.reason)
            self.notifier.status(f"unhealthy: {verdict.reason}")

    def _status_line(self) -> str:
        """What `systemctl status` shows: one line a person reads."""
        with self._lock:
            workers = list(self.cameras.values())
        s = self.scheduler.stats
        ready = self.health.ready()
        state = "running" if ready.ok else f"not ready: {ready.reason}"
        outbox = f", outbox {self.publisher.backlog} bytes" if self.publisher.backlog else ""
        return (f"{state}; {len(workers)} cameras, {s.completed} clips done, {s.dropped} dropped, "
                f"{self.scheduler.pending} waiting{outbox}")

    def _start_http(self) -> None:
        if not self.config.metrics.enabled:
            return
        try:
            self._http = HealthServer(self.config.metrics.listen, self.metrics, self.health.healthy, self.health.ready)
        except OSError as exc:  # a taken port must not stop the cameras
            logger.warning("metrics: cannot listen on %s (%s); running without /metrics, /healthz and /readyz "
                           "(metrics.listen picks another host:port, port 0 a free one)",
                           self.config.metrics.listen, exc.strerror or exc)
            return
        self._http.start()

    def _warm_up(self) -> None:
        """Run the batch shapes once before readiness, so no clip waits for kernel selection or compiling."""
        warmup = getattr(self.backend, "warmup", None)
        if warmup is None or not self.config.cameras:
            return
        prompts = {p.id: p for cam in self._desired.values()
                   for p in prompts_for(cam, self.config.prompts, verdict=self.config.alerts.structured_verdict)}
        started = time.monotonic()
        warmup(list(prompts.values()), self.config.window.frames)
        logger.info("model warmed up in %.1f s", time.monotonic() - started)

    def _prune_evidence(self) -> None:
        store = self.evidence_store
        if store is not None:
            try:
                store.prune()
            except OSError as exc:
                logger.warning("evidence retention: %s", exc)

    def healthy(self) -> bool:
        return self.health.healthy().ok and (not self.ready or self.results.alive)

    def _reload_from(self, reload: Callable[[], MonitorConfig] | None) -> None:
        try:
            new = reload() if reload else None
        except Exception as exc:  # a broken file must not take the running cameras down
            logger.error("config reload failed, keeping the running config:\n%s", exc)
            self._worker_status("error", f"config reload failed: {exc}")
            return
        if new is not None:
            self.reload(new)

    # -- run-time changes --------------------------------------------------------------------------
    def apply(self, change: CameraChange) -> None:
        """Add, remove or update one camera while running; the others are not touched."""
        if self.cluster is not None:
            self._apply_shared(change)
            return
        with self._lock:
            old = self.cameras.pop(change.camera_id, None)
            if old is not None:
                old.stop()
                old.join(10.0)
                self.metrics.forget(change.camera_id)
                self._publish_alerts(self.alerts.close(change.camera_id))
            if change.action == "remove" and old is None:
                self._camera_status(change.camera_id, "error", f"remove: no camera {change.camera_id!r}")
                return
            if change.action != "remove" and change.camera is not None and change.camera.enabled:
                self._camera_refs[change.camera_id] = change.camera
                self.cameras[change.camera_id] = worker = self._worker(change.camera)
                worker.start()
        state = {"add": "added", "remove": "removed", "update": "updated"}[change.action]
        self._camera_status(change.camera_id, state, "run-time change")
        logger.info("camera %s %s", change.camera_id, state)

    def reload(self, new: MonitorConfig) -> None:
        """Apply a re-read config file: camera changes now; other sections need a restart (logged)."""
        for change in diff_cameras(self.config, new):
            self.apply(change)
        for section in restart_needed(self.config, new):
            logger.warning("config reload: %s changed; it takes effect at the next restart", section)
        self.config = self.config.model_copy(update={"cameras": new.cameras})

    def _all_done(self) -> bool:
        return self.cluster is None and all(w.finished.is_set() for w in self.cameras.values()) \
            and self.scheduler.pending == 0 \
            and self.scheduler.stats.completed + self.scheduler.stats.failed + self.scheduler.stats.dropped \
            >= self.scheduler.stats.submitted and self.results.drain(0)

    def shutdown(self) -> int:
        """Stop taking clips, finish those in hand, close open alerts, deliver what Redis takes within a
        few seconds; what it does not take stays in the outbox for the next start."""
        self.notifier.stopping("stopping: finishing the clips in hand")
        if self.control is not None:
            self.control.stop()
        if self.cluster is not None:
            self.cluster.drain()  # leases stay renewed until the clips in flight are published
        with self._lock:
            workers = list(self.cameras.values()) + list(self._retired.values())
        for worker in workers:
            worker.stop()
        for worker in workers:
            if not worker.join(10.0):
                logger.warning("camera %s did not stop within 10 s", worker.camera.id)
        self.scheduler.stop()
        self.results.stop()  # every result the model finished is published before the end
        if self.frames is not None:
            self.frames.stop()
        for camera_id in list(self.cameras):  # an alert left open would never get its `end`
            self._publish_alerts(self.alerts.close(camera_id))
        if self.evidence is not None:
            self.evidence.stop()
        if self.cluster is not None:
            self.cluster.stop()  # releases the leases: the other workers take the cameras at once
        code = 1 if self.scheduler.fatal is not None else 0
        self._worker_status("stopped", "fatal model error" if code else "clean stop", stats=self.stats())
        if self.publisher.backlog == 0:  # Redis answers (else the heartbeat key expires by itself)
            self._redis_call(self._redis.delete, self.keys.worker(self.worker_id))
        self._redis.close()
        self.backend.close()
        self.publisher.close(timeout=STOP_REDIS_BUDGET_S)
        if self._http is not None:
            self._http.stop()
        logger.info("stopped (%s)", "fatal model error" if code else "clean stop")
        return code

    def stats(self) -> dict:
        s = self.scheduler.stats
        lat = sorted(self.dispatch.latencies[-500:])
        stats = {"clips_submitted": s.submitted, "clips_dropped": s.dropped, "clips_completed": s.completed,
                 "clips_failed": s.failed, "batches": s.batches, "pending": self.scheduler.pending,
                 "results_queued": self.results.depth, "results_queue_full": self.results.stats.full,
                 "p50_latency_s": round(lat[len(lat) // 2], 3) if lat else None,
                 "p95_latency_s": round(lat[int(len(lat) * 0.95)], 3) if lat else None}
        if self.cluster is not None:
            stats.update(cameras=self.cluster.owned(), publish_fenced=self.publisher.stats["fenced"],
                         publish_not_owner=self.publisher.stats["not_owner"], leases=dict(self.cluster.stats))
        return stats

    # -- callbacks -------------------------------------------------------------------------------
    def _ring(self, camera_id: str):
        """(running, packet ring) of a camera: a removed camera's late results raise no new alert."""
        worker = self.cameras.get(camera_id)
        return (worker is not None, worker.packet_ring if worker is not None else None)

    def _publish_alerts(self, alerts, made_at: float | None = None) -> None:
        self.dispatch.publish_alerts(alerts, made_at)

    def _results_behind(self, capacity: int) -> None:
        self._worker_status("degraded", f"result stage behind: {capacity} results queued, the model waits "
                            "(Redis or the disk is slow)")

    def _publish(self, kind: str, message, made_at: float | None = None) -> None:
        """Publish as this worker. Sharing cameras, a camera's message goes out fenced by the lease it was
        made under (`made_at`, wall clock): Redis refuses it once that lease is no longer this worker's."""
        message = message.model_copy(update={"worker": self.worker_id})
        camera = getattr(message, "camera", None)
        if self.cluster is None or camera is None:
            self.publisher.publish(kind, message)
            return
        fence = self.cluster.fence(camera.id, time.time() if made_at is None else made_at)
        if fence is None:
            self.publisher.refuse(kind, camera.id)
        else:
            self.publisher.publish(kind, message, fence=fence)

    def _on_batch_error(self, requests: list[InferenceRequest], exc: BaseException) -> None:
        cams = sorted({r.clip.camera_id for r in requests})
        self._worker_status("error", f"model failed on clips of {', '.join(cams)}: {type(exc).__name__}: "
                                     f"{redact_text(str(exc))}")

    def _on_source_status(self, status) -> None:
        if status.state != "window_skipped":  # a skipped window says nothing of the camera's own state
            self.metrics.source_status(status.camera_id, status.state, status.stats)
        self._camera_status(status.camera_id, status.state, status.detail, status.stats, status.ts)

    def _camera_status(self, camera_id: str, state: str, detail: str, stats: dict | None = None,
                       ts: float = 0.0) -> None:
        camera = self._camera_refs.get(camera_id)
        ref = CameraRef(id=camera_id, name=camera.display_name if camera else camera_id)
        ts = ts or time.time()
        message = Status(message_id=stable_id("status", camera_id, state, f"{ts:.6f}"), ts=rfc3339(ts),
                         camera=ref, state=state, detail=redact_text(detail), stats=dict(stats or {}))
        self._publish("status", message, made_at=ts)

    def _worker_status(self, state: str, detail: str, stats: dict | None = None) -> None:
        now = time.time()
        message = Status(message_id=stable_id("worker", self.worker_id, state, f"{now:.6f}"), ts=rfc3339(now),
                         state=state, detail=redact_text(f"worker {self.worker_id}: {detail}".rstrip(": ")),
                         stats=stats or {})
        self._publish("status", message)

    def _heartbeat(self) -> None:
        self._redis_call(self._redis.set, self.keys.worker(self.worker_id), rfc3339(time.time()),
                         ex=int(HEARTBEAT_S * 3))

    def _redis_call(self, fn, *args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except redis.RedisError as exc:
            logger.warning("Redis: %s", exc)

    # -- sharing cameras with other workers (cluster.enabled) ----------------------------------------
    def _lease_taken(self, camera_id: str) -> None:
        """This worker now holds the camera's lease: run it."""
        with self._lock:
            camera = self._desired[camera_id]
            old = self._retired.pop(camera_id, None)
            if old is not None and not old.join(2.0):  # its late frames must not count as the new lease's
                logger.warning("camera %s: the previous pipeline is still stopping", camera_id)
            self._camera_refs[camera_id] = camera
            self.cameras[camera_id] = worker = self._worker(camera)
            worker.start()
        self._camera_status(camera_id, "leased", f"worker {self.worker_id}")

    def _lease_ended(self, camera_id: str, reason: str) -> None:
        """Stop the camera: its lease was lost, or is handed on (rebalanced, removed)."""
        with self._lock:
            worker = self.cameras.pop(camera_id, None)
            if worker is not None:
                worker.stop()  # not joined here: the lease thread must keep renewing the other cameras
                self._retired[camera_id] = worker
                self.metrics.forget(camera_id)
        self._publish_alerts(self.alerts.close(camera_id))
        if reason == "lost":  # nothing about the camera itself may be published any more
            self._worker_status("lease_lost", f"camera {camera_id} stopped: its lease is no longer this worker's")
        else:
            self._camera_status(camera_id, "released" if reason == "rebalanced" else "removed",
                                f"worker {self.worker_id}: {reason}")

    def _camera_stopped(self, camera_id: str) -> bool:
        with self._lock:
            worker = self.cameras.get(camera_id) or self._retired.get(camera_id)
        return worker is None or worker.finished.is_set()

    def _apply_shared(self, change: CameraChange) -> None:
        """Every worker keeps the same camera set; the camera's owner restarts it with the new settings,
        and the leases decide who runs an added one (and hand a removed one back)."""
        camera_id = change.camera_id
        with self._lock:
            known = camera_id in self._desired
            if change.action == "remove" or change.camera is None or not change.camera.enabled:
                self._desired.pop(camera_id, None)
            else:
                self._desired[camera_id] = self._camera_refs[camera_id] = change.camera
            worker = self.cameras.get(camera_id)
            restart = worker is not None and camera_id in self._desired
            if restart:
                worker.stop()
                worker.join(10.0)
                self.cameras[camera_id] = new = self._worker(self._desired[camera_id])
                new.start()
        if change.action == "remove" and not known:
            self._worker_status("error", f"remove: no camera {camera_id!r}")
        elif restart:
            self._camera_status(camera_id, "updated", "run-time change")
        logger.info("camera %s: %s (shared cameras: its lease holder applies it)", camera_id, change.action)
        self.cluster.wake()

    def _cluster_info(self) -> dict:
        """The heartbeat's content: what `monitor status` shows of this worker."""
        cameras = {camera_id: {"last_window_end": self._last_window.get(camera_id)}
                   for camera_id in self.cluster.owned()}
        stats = self.stats()
        return {"worker": self.worker_id, "beat": time.time(), "cameras": cameras, "pending": stats["pending"],
                "p95_latency_s": stats["p95_latency_s"], "clips_completed": stats["clips_completed"],
                "publish_fenced": stats["publish_fenced"], "publish_not_owner": stats["publish_not_owner"],
                "leases": stats["leases"]}
