"""Prometheus metrics and the /metrics, /healthz and /readyz endpoints of one worker."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from dataclasses import dataclass, field
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

# Per-camera health, from each source's periodic status (SourceStats.snapshot()): stats key -> metric.
_SOURCE_GAUGES = {
    "input_fps": ("monitor_camera_input_fps", "Packets a second read from the camera."),
    "decoded_fps": ("monitor_camera_decoded_fps", "Frames a second decoded (targeted decoding keeps this low)."),
    "last_frame_age_s": ("monitor_camera_last_frame_age_seconds", "Seconds since the camera's last frame."),
}
_SOURCE_COUNTERS = {"reconnects": "Reconnects of the camera.", "stalls": "Stalls (no packets for too long).",
                    "corrupt_packets": "Corrupt packets skipped.", "files_failed": "Files that could not be read."}


@dataclass
class Snapshot:
    """Numbers kept by the scheduler, the publisher, the alert engine and the streams, read at scrape
    time. Counters only ever grow while the process lives (Prometheus handles the reset at a restart)."""

    dropped: int = 0
    failed: int = 0
    unparsed: int = 0
    published: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    trimmed_pending: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    outbox_bytes: int = 0
    stalled_seconds: float = 0.0
    outbox_stalled_seconds: float = 0.0
    cameras_owned: int | None = None  # workers sharing cameras (cluster.enabled) only, like lease_events
    lease_events: dict[str, int] = field(default_factory=dict)
    results_queued: int = 0      # results waiting for the result stage
    results_queue_full: int = 0  # times a result found its queue full (the model waited)


class StatsCollector:
    """A Prometheus collector (not gauges copied every so often): each scrape reads `read()` and the
    last status of every camera, and yields counters as counters."""

    def __init__(self, read: Callable[[], Snapshot], cameras: Callable[[], dict[str, dict]]):
        self.read, self.cameras = read, cameras

    def describe(self):  # registering must not call read() before the monitor exists
        return []

    def collect(self):
        snap = self.read()
        yield _counter("monitor_clips_dropped", "Clips replaced by a newer one before the model took them.",
                       snap.dropped)
        yield _counter("monitor_clips_failed", "Clips the model failed on.", snap.failed)
        yield _counter("monitor_verdicts_unparsed", "Anomaly answers without a usable JSON verdict (their text "
                       "was used instead).", snap.unparsed)
        yield _counter("monitor_published", "Messages by how they reached Redis: direct, queued (to the "
                       "outbox), flushed (from it), already_landed, dropped, sink_errors; fenced (refused by Redis: "
                       "the camera's lease is no longer this worker's), not_owner (made under no lease of this "
                       "worker, not sent).", snap.published, "path")
        yield _counter("monitor_alerts_suppressed", "Alert messages not sent: cooldown, duplicate.",
                       snap.suppressed, "reason")
        yield _counter("monitor_stream_trimmed_pending", "Entries a stream's MAXLEN trimmed while a consumer "
                       "group still had them pending (lost to that group).", snap.trimmed_pending, "stream")
        yield GaugeMetricFamily("monitor_clips_pending", "Clips waiting for the model (one a camera at most).",
                                value=snap.pending)
        yield GaugeMetricFamily("monitor_outbox_bytes", "Bytes waiting in the outbox while Redis is away.",
                                value=snap.outbox_bytes)
        yield GaugeMetricFamily("monitor_model_stalled_seconds", "Seconds clips have waited with no model call "
                                "returning (0 while the model keeps up or nothing waits).", value=snap.stalled_seconds)
        yield GaugeMetricFamily("monitor_outbox_stalled_seconds", "Seconds the outbox has held messages without "
                                "shrinking (Redis takes nothing).", value=snap.outbox_stalled_seconds)
        if snap.cameras_owned is not None:
            yield GaugeMetricFamily("monitor_cameras_owned", "Cameras whose lease this worker holds.",
                                    value=snap.cameras_owned)
            yield _counter("monitor_lease_events", "Camera leases this worker acquired, released (handed on) "
                           "and lost.", snap.lease_events, "event")
        yield GaugeMetricFamily("monitor_results_queued", "Results waiting for the result stage (messages, "
                                "alert rules, publish).", value=snap.results_queued)
        yield _counter("monitor_results_queue_full", "Times a result found the result stage's queue full and "
                       "the model waited for room.", snap.results_queue_full)
        yield from self._cameras()

    def _cameras(self):
        stats = self.cameras()
        for key, (name, doc) in _SOURCE_GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=["camera"])
            for camera, values in stats.items():
                if values.get(key) is not None:
                    family.add_metric([camera], values[key])
            yield family
        for key, doc in _SOURCE_COUNTERS.items():
            family = CounterMetricFamily(f"monitor_camera_{key}", doc, labels=["camera"])
            for camera, values in stats.items():
                if values.get(key) is not None:
                    family.add_metric([camera], values[key])
            yield family


def _counter(name: str, doc: str, value, label: str | None = None) -> CounterMetricFamily:
    if label is None:
        return CounterMetricFamily(name, doc, value=value)
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, n in sorted(dict(value).items()):
        family.add_metric([key], n)
    return family


class Metrics:
    """One registry per Monitor, so several monitors in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.clips = Counter("monitor_clips", "Clips sent to the model.", ["camera"], registry=r)
        self.descriptions = Counter("monitor_descriptions", "Descriptions published.", ["camera", "prompt"],
                                    registry=r)
        self.alerts = Counter("monitor_alerts", "Alert messages published.", ["camera", "phase"], registry=r)
        self.latency = Histogram("monitor_clip_latency_seconds", "From clip ready to result.", registry=r,
                                 buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.batch = Histogram("monitor_batch_size", "Clips in one model batch.", registry=r,
                               buckets=(1, 2, 4, 8, 16, 32, 64))
        self.camera_state = Gauge("monitor_camera_up", "1 while the camera delivers frames.", ["camera"], registry=r)
        self.ready = Gauge("monitor_ready", "1 once the model is warmed up, the loop healthy and Redis takes "
                           "messages (what /readyz answers).", registry=r)
        self._camera_stats: dict[str, dict] = {}
        self._lock = threading.Lock()

    def collect_from(self, read: Callable[[], Snapshot]) -> None:
        """Serve the numbers `read()` returns, read at every scrape."""
        self.registry.register(StatsCollector(read, self._cameras))

    def _cameras(self) -> dict[str, dict]:
        with self._lock:
            return {camera: dict(stats) for camera, stats in self._camera_stats.items()}

    def source_status(self, camera: str, state: str, stats: dict) -> None:
        self.camera_state.labels(camera).set(1 if state == "online" else 0)
        with self._lock:
            self._camera_stats.setdefault(camera, {}).update({k: v for k, v in stats.items() if v is not None})

    def forget(self, camera: str) -> None:
        """A removed camera's series go away with it."""
        with self._lock:
            self._camera_stats.pop(camera, None)
        try:
            self.camera_state.remove(camera)
        except KeyError:
            pass

    def render(self) -> bytes:
        try:
            return generate_latest(self.registry)
        except Exception:  # a scrape must still answer: without the collector that failed
            logger.exception("collecting metrics failed")
            return b""


class HealthServer:
    """/metrics (Prometheus), /healthz (the model loop makes progress) and /readyz (warmed up and Redis
    takes messages) on one port; `healthy` and `ready` return monitor.health.Verdict (ok, reason), and
    the reason is the body of the answer (see monitor/health.py)."""

    def __init__(self, listen: str, metrics: Metrics, healthy: Callable, ready: Callable):
        host, _, port = listen.rpartition(":")
        handler = _handler(metrics, healthy, ready)
        self.server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), handler)
        self.server.daemon_threads = True
        self.address = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="health-http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        logger.info("metrics and health on http://%s/metrics, /healthz, /readyz", self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(metrics: Metrics, healthy: Callable, ready: Callable):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path == "/metrics":
                self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif self.path in ("/healthz", "/readyz"):
                verdict = healthy() if self.path == "/healthz" else ready()
                self._reply(200 if verdict.ok else 503, f"{verdict.reason}\n".encode())
            else:
                self._reply(404, b"not found\n")

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):  # scrapes every few seconds must not flood the log
            logger.debug("http: " + fmt, *args)

    return Handler
