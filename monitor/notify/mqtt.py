"""The MQTT route (paho-mqtt): alerts, a retained state per camera, Home Assistant discovery, TLS and auth."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading

import paho.mqtt.client as paho

from monitor.config.models import CameraConfig
from monitor.config.operators import MqttConfig
from monitor.notify.discovery import alert_topic, availability_topic, camera_state, discovery_messages, state_topic
from monitor.notify.webhook import DeliveryError

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0


class MqttRoute:
    def __init__(self, cfg: MqttConfig, cameras: list[CameraConfig]):
        self.cfg, self.cameras = cfg, cameras
        self.name = cfg.name
        self.connected = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                             client_id=cfg.client_id or f"monitor-notify-{socket.gethostname()}")
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls.enabled:
            client.tls_set(ca_certs=cfg.tls.ca_file, certfile=cfg.tls.cert_file, keyfile=cfg.tls.key_file,
                           cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(cfg.tls.insecure)
        client.will_set(availability_topic(cfg), "offline", qos=1, retain=True)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.client = client
        client.connect_async(cfg.host, cfg.port, keepalive=30)
        client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            logger.error("MQTT %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            return
        # Discovery and availability again on every (re)connect: a broker without persistence forgets them.
        if self.cfg.discovery:
            for topic, payload in discovery_messages(self.cfg, self.cameras):
                client.publish(topic, json.dumps(payload), qos=1, retain=True)
        client.publish(availability_topic(self.cfg), "online", qos=1, retain=True)
        self.connected.set()
        logger.info("MQTT connected to %s:%d", self.cfg.host, self.cfg.port)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self.connected.clear()
        if reason.is_failure:
            logger.warning("MQTT disconnected (%s); reconnecting", reason)

    def deliver(self, alert: dict, body: bytes) -> None:
        if not self.connected.wait(PUBLISH_TIMEOUT_S):
            raise DeliveryError(f"not connected to the MQTT broker {self.cfg.host}:{self.cfg.port}")
        camera = (alert.get("camera") or {}).get("id", "")
        state = json.dumps(camera_state(alert, json.loads(body).get("evidence") or {}))
        for topic, payload, retain in ((alert_topic(self.cfg, camera), body, False),
                                       (state_topic(self.cfg, camera), state, True)):
            info = self.client.publish(topic, payload, qos=max(self.cfg.qos, 1) if retain else self.cfg.qos,
                                       retain=retain)
            try:
                info.wait_for_publish(PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                raise DeliveryError(f"MQTT publish to {topic} failed: {exc}") from None
            if not info.is_published():
                raise DeliveryError(f"MQTT publish to {topic} not acknowledged in {PUBLISH_TIMEOUT_S:.0f} s")

    def close(self) -> None:
        if self.connected.is_set():
            self.client.publish(availability_topic(self.cfg), "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
