"""Home Assistant MQTT discovery: a binary_sensor (alert open) and a sensor (last title) per camera.

Payloads are retained under `<discovery_prefix>/<component>/<node_id>/<object_id>/config`; both entities
read the camera's retained state topic, so Home Assistant shows the right state after its own restart.
"""

from __future__ import annotations

import re

from monitor import __version__
from monitor.config.models import CameraConfig
from monitor.config.operators import MqttConfig

NODE_ID = "monitor"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def object_id(camera_id: str) -> str:
    """Camera ids may hold '.', which discovery topics and entity ids may not."""
    return _UNSAFE.sub("_", camera_id)


def state_topic(cfg: MqttConfig, camera_id: str) -> str:
    return f"{cfg.topic_prefix}/{camera_id}/state"


def alert_topic(cfg: MqttConfig, camera_id: str) -> str:
    return f"{cfg.topic_prefix}/{camera_id}/alert"


def availability_topic(cfg: MqttConfig) -> str:
    return f"{cfg.topic_prefix}/bridge/availability"


def discovery_messages(cfg: MqttConfig, cameras: list[CameraConfig]) -> list[tuple[str, dict]]:
    """(config topic, payload) for every camera's two entities."""
    out = []
    for camera in cameras:
        oid = object_id(camera.id)
        common = {
            "state_topic": state_topic(cfg, camera.id),
            "json_attributes_topic": state_topic(cfg, camera.id),
            "availability_topic": availability_topic(cfg),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {"identifiers": [f"{NODE_ID}_{oid}"], "name": camera.display_name,
                       "manufacturer": "monitor", "model": "video anomaly monitor", "sw_version": __version__},
            "origin": {"name": "monitor", "sw_version": __version__},
        }
        out.append((f"{cfg.discovery_prefix}/binary_sensor/{NODE_ID}/{oid}_alert/config", {
            **common, "name": "Alert", "unique_id": f"{NODE_ID}_{oid}_alert", "device_class": "problem",
            "value_template": "{{ value_json.state }}", "payload_on": "ON", "payload_off": "OFF"}))
        out.append((f"{cfg.discovery_prefix}/sensor/{NODE_ID}/{oid}_last_alert/config", {
            **common, "name": "Last alert", "unique_id": f"{NODE_ID}_{oid}_last_alert", "icon": "mdi:cctv",
            "value_template": "{{ value_json.title }}"}))
    return out


def camera_state(alert: dict, evidence: dict) -> dict:
    """The retained per-camera state: ON while an alert is open, with what the entities show."""
    return {"state": "OFF" if alert.get("phase") == "end" else "ON", "alert_id": alert.get("alert_id"),
            "title": alert.get("title", ""), "severity": alert.get("severity"), "category": alert.get("category"),
            "phase": alert.get("phase"), "ts": alert.get("ts"), "clip_url": evidence.get("clip_url"),
            "image_url": evidence.get("image_url")}
