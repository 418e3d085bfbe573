"""Home Assistant's rules for MQTT discovery payloads, as its mqtt integration enforces them (discovery.py's
TOPIC_MATCHER, the entity and device schemas of the binary_sensor and sensor platforms), written out so a
payload that Home Assistant would reject or silently mis-read fails here instead."""

from __future__ import annotations

import re

# homeassistant/components/mqtt/discovery.py, applied to the topic after the discovery prefix.
TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")
# BinarySensorDeviceClass values.
BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat",
    "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence",
    "problem", "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window"}
REQUIRED = {"binary_sensor": {"state_topic"}, "sensor": {"state_topic"}}
KNOWN_KEYS = {  # the options these two platforms accept (unknown keys are rejected by their schemas)
    "name", "unique_id", "state_topic", "value_template", "json_attributes_topic", "json_attributes_template",
    "availability_topic", "payload_available", "payload_not_available", "availability", "availability_mode",
    "device", "origin", "icon", "device_class", "payload_on", "payload_off", "qos", "enabled_by_default",
    "entity_category", "expire_after", "force_update", "off_delay", "unit_of_measurement", "state_class",
    "object_id", "default_entity_id", "encoding", "entity_picture", "suggested_display_precision", "platform"}
DEVICE_KEYS = {"identifiers", "connections", "name", "manufacturer", "model", "model_id", "sw_version", "hw_version",
               "serial_number", "suggested_area", "via_device", "configuration_url"}


def valid_publish_topic(topic: str) -> bool:
    """mqtt.util.valid_publish_topic: non-empty UTF-8 under 65535 bytes, no wildcards, no NUL."""
    return bool(topic) and len(topic.encode()) <= 65535 and not any(c in topic for c in "+#\0")


def problems(discovery_prefix: str, topic: str, payload: dict) -> list[str]:
    out = []
    if not topic.startswith(discovery_prefix + "/"):
        return [f"{topic}: not under the discovery prefix {discovery_prefix}"]
    match = TOPIC_MATCHER.fullmatch(topic[len(discovery_prefix) + 1:])
    if match is None:
        return [f"{topic}: does not match <component>/[<node_id>/]<object_id>/config"]
    component = match["component"]
    if component not in REQUIRED:
        return [f"{topic}: component {component} not checked here"]
    out += [f"{topic}: missing {key}" for key in REQUIRED[component] - payload.keys()]
    out += [f"{topic}: unknown key {key}" for key in payload.keys() - KNOWN_KEYS]
    for key in ("state_topic", "json_attributes_topic", "availability_topic"):
        if key in payload and not valid_publish_topic(payload[key]):
            out.append(f"{topic}: {key} is not a valid topic")
    if "device" in payload:
        device = payload["device"]
        if not (device.get("identifiers") or device.get("connections")):
            out.append(f"{topic}: device needs identifiers or connections")
        out += [f"{topic}: unknown device key {key}" for key in device.keys() - DEVICE_KEYS]
        if "unique_id" not in payload:
            out.append(f"{topic}: an entity with a device needs a unique_id")
    if not isinstance(payload.get("unique_id", ""), str) or "unique_id" in payload and not payload["unique_id"]:
        out.append(f"{topic}: unique_id must be a non-empty string")
    if "origin" in payload and "name" not in payload["origin"]:
        out.append(f"{topic}: origin needs a name")
    if component == "binary_sensor":
        if payload.get("device_class") not in BINARY_SENSOR_CLASSES | {None}:
            out.append(f"{topic}: device_class {payload['device_class']} is not a binary_sensor class")
        if payload.get("payload_on", "ON") == payload.get("payload_off", "OFF"):
            out.append(f"{topic}: payload_on equals payload_off")
    if component == "sensor" and "device_class" in payload:
        out.append(f"{topic}: a text sensor has no device_class")
    for key in ("value_template", "json_attributes_template"):
        if key in payload and not (isinstance(payload[key], str) and "{{" in payload[key]):
            out.append(f"{topic}: {key} is not a template")
    return out
