"""Real peers of `monitor notify`: a mosquitto broker and an HTTP receiver, both on free loopback ports."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from monitor.config import parse_config
from tests.ui.conftest import free_port, make_alert, xadd_alert  # noqa: F401  (re-exported for the tests)


class Receiver:
    """An HTTP server that records every POST (headers, body) and answers `status`; stop() and start()
    again on the same port make a receiver that is down for a while."""

    def __init__(self, port: int | None = None, status: int = 200):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.status = status
        self.received: list[tuple[dict, bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.status < 300:
                    receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def alerts(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


class Broker:
    def __init__(self, tmp: Path, username: str = "monitor", password: str = "broker-pass-123"):
        if not shutil.which("mosquitto"):
            pytest.fail("needs Debian's mosquitto (.ci/run installs it)")
        self.port, self.username, self.password = free_port(), username, password
        passwords = tmp / "passwords"
        passwords.write_text(f"{username}:{password}\n")
        subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True)
        conf = tmp / "mosquitto.conf"
        # `user`: as root, mosquitto would drop to its own user, which cannot read the test's private folder.
        import getpass

        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
                        f"persistence false\nuser {getpass.getuser()}\n")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            client = self.client()
            try:
                client.connect("127.0.0.1", self.port)
                client.disconnect()
                return
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"mosquitto did not start: {self.proc.communicate()[1].decode()[-2000:]}")

    def client(self) -> paho.Client:
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        client.username_pw_set(self.username, self.password)
        return client

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    yield b
    b.stop()


class Subscriber:
    """Collects every message under `topic` (retained ones included) from the broker."""

    def __init__(self, broker: Broker, topic: str = "#"):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = broker.client()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, bool(m.retain)))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5), "subscription not acknowledged"

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def notify_config(redis_config, tmp_path: Path, notify_yaml: str, cameras=("gate-1", "yard.2")):
    cams = "\n".join(f"  - {{id: {c}, url: /dev/null}}" for c in cameras)
    text = f"""
redis: {{url: "{redis_config.url}", prefix: "{redis_config.prefix}"}}
state_dir: "{tmp_path}"
cameras:
{cams}
notify:
{notify_yaml}
"""
    return parse_config(text, "<test>", {})
