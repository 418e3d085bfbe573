"""The embedded default: bundled footage, the demo model trained on it and a local Redis, no file needed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from monitor.config import MonitorConfig, parse_config

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[1] / "assets"  # monitor/assets, beside app/
DEMO_YAML = """
redis: {url: "redis://127.0.0.1:6379/0", prefix: "monitor:demo:", start_local: true}
model: {id: "${MONITOR_DEMO_MODEL}", max_new_tokens: 80, max_batch: 2, describe: always}
window: {seconds: 4, stride: 2, frames: 8}
alerts: {close_after: 2}
state_dir: "${MONITOR_DEMO_STATE}"
print_results: true
cameras:
  - {id: street-1, name: "Street (bundled footage)", url: "${MONITOR_DEMO_ASSETS}/street.mp4", kind: fixed, loop: true}
  - {id: road-1, name: "Dashcam (bundled footage)", url: "${MONITOR_DEMO_ASSETS}/road.mp4", kind: dashcam, loop: true}
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monitor"


def demo_config() -> MonitorConfig:
    from monitor.demo_model import DEMO_MODEL_DIR

    env = dict(os.environ)
    env.update(MONITOR_DEMO_MODEL=str(DEMO_MODEL_DIR), MONITOR_DEMO_STATE=str(cache_dir() / "state"),
               MONITOR_DEMO_ASSETS=str(ASSETS))
    return parse_config(DEMO_YAML, "<embedded demo config>", env)
