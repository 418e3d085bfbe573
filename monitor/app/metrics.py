"""Prometheus metrics and the /metrics, /healthz and /readyz endpoints of one worker."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

# Per-camera health, from each source's periodic status (SourceStats.snapshot()).
_SOURCE_GAUGES = {
    "input_fps": "Packets a second read from the camera.",
    "decoded_fps": "Frames a second decoded (targeted decoding keeps this low).",
    "last_frame_age_s": "Seconds since the camera's last frame.",
}
_SOURCE_COUNTERS = {"reconnects": "Reconnects of the camera.", "stalls": "Stalls (no packets for too long).",
                    "corrupt_packets": "Corrupt packets skipped.", "files_failed": "Files that could not be read."}


class Metrics:
    """One registry per Monitor, so several monitors in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.clips = Counter("monitor_clips", "Clips sent to the model.", ["camera"], registry=r)
        self.dropped = Gauge("monitor_clips_dropped_total", "Clips replaced by a newer one before the model took them.",
                             registry=r)
        self.descriptions = Counter("monitor_descriptions", "Descriptions published.", ["camera", "prompt"],
                                    registry=r)
        self.alerts = Counter("monitor_alerts", "Alert messages published.", ["camera", "phase"], registry=r)
        self.latency = Histogram("monitor_clip_latency_seconds", "From clip ready to result.", registry=r,
                                 buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.batch = Histogram("monitor_batch_size", "Clips in one model batch.", registry=r,
                               buckets=(1, 2, 4, 8, 16, 32, 64))
        self.camera_state = Gauge("monitor_camera_up", "1 while the camera delivers frames.", ["camera"], registry=r)
        self.source = {k: Gauge(f"monitor_camera_{k}", doc, ["camera"], registry=r) for k, doc in _SOURCE_GAUGES.items()}
        self.source_totals = {k: Gauge(f"monitor_camera_{k}_total", doc, ["camera"], registry=r)
                              for k, doc in _SOURCE_COUNTERS.items()}
        self.outbox = Gauge("monitor_outbox_bytes", "Bytes waiting in the outbox while Redis is away.", registry=r)
        self.ready = Gauge("monitor_ready", "1 once the model is loaded and warmed up and cameras started.",
                           registry=r)
        self.failed = Gauge("monitor_clips_failed_total", "Clips the model failed on.", registry=r)
        self.pending = Gauge("monitor_clips_pending", "Clips waiting for the model (one a camera at most).", registry=r)
        self.published = Gauge("monitor_published_total", "Messages by how they reached Redis: direct, queued "
                               "(to the outbox), flushed (from it), already_landed, dropped, sink_errors.",
                               ["path"], registry=r)
        self.suppressed = Gauge("monitor_alerts_suppressed_total", "Alert messages not sent: cooldown, duplicate.",
                                ["reason"], registry=r)
        self.unparsed = Gauge("monitor_verdicts_unparsed_total", "Anomaly answers without a usable JSON verdict "
                              "(their text was used instead).", registry=r)
        self._refreshers: list[Callable[[], None]] = []

    def source_status(self, camera: str, state: str, stats: dict) -> None:
        self.camera_state.labels(camera).set(1 if state == "online" else 0)
        for key, gauge in self.source.items():
            if stats.get(key) is not None:
                gauge.labels(camera).set(stats[key])
        for key, gauge in self.source_totals.items():
            if stats.get(key) is not None:
                gauge.labels(camera).set(stats[key])

    def forget(self, camera: str) -> None:
        """A removed camera's series go away with it."""
        for metric in (self.camera_state, *self.source.values(), *self.source_totals.values()):
            try:
                metric.remove(camera)
            except KeyError:
                pass

    def on_scrape(self, refresh: Callable[[], None]) -> None:
        """Run `refresh` before every render, so counters kept elsewhere are current when scraped."""
        self._refreshers.append(refresh)

    def render(self) -> bytes:
        for refresh in self._refreshers:
            try:
                refresh()
            except Exception:  # a scrape must still answer
                logger.exception("refreshing metrics failed")
        return generate_latest(self.registry)


class HealthServer:
    """/metrics (Prometheus), /healthz (the process works) and /readyz (it takes clips) on one port."""

    def __init__(self, listen: str, metrics: Metrics, healthy: Callable[[], bool], ready: Callable[[], bool]):
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


def _handler(metrics: Metrics, healthy: Callable[[], bool], ready: Callable[[], bool]):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path == "/metrics":
                self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok = healthy()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n")
            elif self.path == "/readyz":
                ok = ready()
                self._reply(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
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
