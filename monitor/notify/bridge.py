"""The bridge: one thread a route, each reading {prefix}alerts through its own consumer group and
acknowledging an entry only once it is delivered (or, after `notify.attempts`, dead-lettered)."""

from __future__ import annotations

import json
import logging
import socket
import threading

import redis

from monitor.config.models import MonitorConfig
from monitor.evidence.urls import EvidenceSigner
from monitor.keys import Keys
from monitor.notify.gate import RouteGate
from monitor.notify.webhook import DeliveryError, WebhookRoute
from monitor.publish.redis_sink import connect
from monitor.app.tail import GroupReader, SeenIds

logger = logging.getLogger(__name__)

DEAD_LETTERS_MAXLEN = 100_000


class RouteWorker:
    def __init__(self, config: MonitorConfig, route, gate: RouteGate, stop: threading.Event):
        self.config, self.route, self.gate, self.stop = config, route, gate, stop
        self.cfg = config.notify
        self.keys = Keys(config.redis.prefix)
        self.signer = EvidenceSigner(config.evidence.urls, config.evidence.dir or ".")
        self.seen = SeenIds(10_000)
        self.delivered = 0
        self.dead = 0
        self.thread = threading.Thread(target=self._run, name=f"notify-{route.name}", daemon=True)

    def _run(self) -> None:
        client = connect(self.config.redis)
        reader = None
        try:
            while not self.stop.is_set():
                try:
                    if reader is None:
                        reader = GroupReader(client, self.keys.alerts, self.keys.notify_group(self.cfg.group, self.route.name),
                                             self.cfg.consumer or socket.gethostname(),
                                             "0" if self.cfg.start == "all" else "$", claim_idle_ms=60_000)
                    for entry_id, fields in reader.read():
                        if not self.handle(client, entry_id, fields):
                            return  # stopped mid-retry: the entry stays pending for the next start
                        reader.ack(entry_id)
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    logger.warning("notify %s: Redis does not answer (%s); retrying", self.route.name, exc)
                    self.stop.wait(1.0)
        finally:
            client.close()

    def handle(self, client: redis.Redis, entry_id: str, fields: dict) -> bool:
        """Deliver one entry if the route wants it. False only when stopped before it was settled."""
        try:
            alert = json.loads(fields["data"]) if fields and fields.get("type") == "alert" else None
        except ValueError:
            alert = None
        if alert is None or not self.seen.add(alert.get("message_id", entry_id)) or not self.gate.passes(alert):
            return True
        if self.signer.enabled:
            alert["evidence"] = self.signer.refresh(alert.get("evidence") or {})
        body = json.dumps(alert, separators=(",", ":")).encode()
        delay, error = self.cfg.backoff_initial, ""
        for attempt in range(1, self.cfg.attempts + 1):
            try:
                self.route.deliver(alert, body)
                self.delivered += 1
                return True
            except DeliveryError as exc:
                error = str(exc)
                logger.warning("notify %s: alert %s, attempt %d of %d: %s", self.route.name, alert.get("alert_id"),
                               attempt, self.cfg.attempts, error)
            if attempt < self.cfg.attempts:
                if self.stop.wait(delay):
                    self.seen.forget(alert.get("message_id", entry_id))
                    return False
                delay = min(delay * 2, self.cfg.backoff_max)
        self._dead_letter(client, entry_id, fields, error)
        return True

    def _dead_letter(self, client: redis.Redis, entry_id: str, fields: dict, error: str) -> None:
        client.xadd(self.keys.dead_letters, {"route": self.route.name, "entry_id": entry_id, "error": error[:1000],
                                             "attempts": str(self.cfg.attempts), "data": fields.get("data", "")},
                    maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
        self.dead += 1
        logger.error("notify %s: alert entry %s dead-lettered after %d attempts: %s", self.route.name, entry_id,
                     self.cfg.attempts, error)


def make_routes(config: MonitorConfig) -> list:
    routes: list = [WebhookRoute(w) for w in config.notify.webhooks]
    if config.notify.mqtt is not None:
        from monitor.notify.mqtt import MqttRoute

        routes.append(MqttRoute(config.notify.mqtt, config.cameras))
    return routes


def start_workers(config: MonitorConfig, stop: threading.Event, routes: list | None = None) -> list[RouteWorker]:
    routes = make_routes(config) if routes is None else routes
    filters = {w.name: w.filter for w in config.notify.webhooks}
    if config.notify.mqtt is not None:
        filters[config.notify.mqtt.name] = config.notify.mqtt.filter
    workers = [RouteWorker(config, route, RouteGate(filters[route.name]), stop) for route in routes]
    for worker in workers:
        worker.thread.start()
    return workers


def run_bridge(config: MonitorConfig, stop: threading.Event) -> int:
    if not config.notify.webhooks and config.notify.mqtt is None:
        logger.error("notify: no routes configured (notify.webhooks, notify.mqtt)")
        return 2
    workers = start_workers(config, stop)
    logger.info("notify: %d routes: %s", len(workers), ", ".join(w.route.name for w in workers))
    try:
        stop.wait()
    finally:
        for worker in workers:
            worker.thread.join(15.0)
            worker.route.close()
    return 0
