"""A real `monitor ui` server (uvicorn in a thread) on a free loopback port, over the test's Redis prefix."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from monitor.config import parse_config
from monitor.config.models import MonitorConfig
from monitor.schema import Alert, CameraRef, Evidence, FramesRef, ModelRef, WindowRef, rfc3339, stable_id, \
    stream_fields
from monitor.ui.app import create_app
from monitor.ui.server import UiServer as RealServer
from tests.browser import chromium  # noqa: F401  (fixture)

ASSETS = Path(__file__).resolve().parents[2] / "monitor" / "assets"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UiServer:
    def __init__(self, config: MonitorConfig):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(config)
        self.server = RealServer(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "UiServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the UI server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.handle_exit(15, None)  # as SIGTERM does
        self.thread.join(10)


def ui_config(redis_config, tmp_path: Path, extra: str = "", cameras: int = 2) -> MonitorConfig:
    names = ["street-1", "road-1"] + [f"cam-{i:03d}" for i in range(cameras - 2)]
    cams = "\n".join(f"  - {{id: {c}, url: /dev/null}}" for c in names[:cameras])
    text = f"""
redis: {{url: "{redis_config.url}", prefix: "{redis_config.prefix}"}}
state_dir: "{tmp_path}"
cameras:
{cams}
{extra}
"""
    return parse_config(text, "<test>", {})


def evidence_files(config: MonitorConfig, camera: str = "street-1") -> Evidence:
    """A real H.264 MP4 (the bundled footage) and a JPEG, placed as the evidence store places them."""
    folder = Path(config.evidence.dir) / camera
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / f"{camera}_20261201T120000.000Z.mp4"
    shutil.copy(ASSETS / "street.mp4", clip)
    import av
    import numpy as np

    from monitor.evidence.keyframe import encode_jpeg

    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    image = clip.with_suffix(".jpg")
    image.write_bytes(encode_jpeg(np.ascontiguousarray(frame)))
    return Evidence(clip=str(clip), image=str(image), start=rfc3339(time.time() - 20), end=rfc3339(time.time()))


def make_alert(camera: str, *, severity: int = 2, phase: str = "new", title: str = "Person climbs the gate",
               evidence: Evidence | None = None, n: int = 0) -> Alert:
    now = time.time()
    return Alert(message_id=stable_id("test-alert", camera, n, phase), ts=rfc3339(now),
                 camera=CameraRef(id=camera, name=camera), window=WindowRef(start=rfc3339(now - 10), end=rfc3339(now)),
                 frames=FramesRef(count=8, timestamps=[]), model=ModelRef(id="tiny", backend="transformers"),
                 prompt_id="anomaly", text="Yes. A person climbs the gate.", score=0.97,
                 alert_id=stable_id("alert", camera, n), phase=phase, title=title, category="intrusion",
                 summary="A person climbs over the closed gate at night.", severity=severity, confidence=0.9,
                 evidence=evidence or Evidence())


def xadd_alert(client, config: MonitorConfig, alert: Alert) -> str:
    return client.xadd(f"{config.redis.prefix}alerts", stream_fields("alert", alert))
