"""The monitor as a real process: systemd's notify protocol on a real datagram socket, health that fails
on a hung model call, the second signal, and a stop during a Redis outage."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
import redis

from tests.deploy.validators import check_metrics
from tests.daemon_process import get, private_redis, start, stop, wait_for, write_config
from tests.fixtures_media import write_h264

pytestmark = pytest.mark.slow


class NotifySocket:
    """What systemd listens on: a datagram socket named by NOTIFY_SOCKET."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = str(path)
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(4096).decode()
            except (socket.timeout, BlockingIOError):
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.splitlines() if "=" in line))

    def seen(self, key: str) -> list[dict[str, str]]:
        return [m for m in self.drain() if key in m]


@pytest.fixture
def video(tmp_path):
    return write_h264(tmp_path / "cam.mp4", seconds=4, fps=10)


def test_notify_ready_after_warm_up_watchdog_while_progressing_and_health_fails_on_a_hung_model(
        tmp_path, tiny_model_dir, video):
    notify = NotifySocket(tmp_path / "notify.sock")
    with private_redis(tmp_path) as (_, redis_port):
        config, port = write_config(tmp_path, f"redis://127.0.0.1:{redis_port}/0", tiny_model_dir, video,
                                    stall_seconds=3)
        proc = start(config, tmp_path, {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
        try:
            ready = wait_for(lambda: notify.seen("READY"), 180, "READY=1", proc)
            assert ready[0]["MAINPID"] == str(proc.pid) and "running" in ready[0]["STATUS"]
            statuses = [m["STATUS"] for m in notify.messages if "STATUS" in m]
            assert statuses.index("warming up the model") < len(statuses) - 1  # READY came after warm-up
            assert get(port, "/readyz") == (200, "ready\n")
            wait_for(lambda: len(notify.seen("WATCHDOG")) >= 3, 20, "three watchdog pings", proc)

            (tmp_path / "hang").touch()  # every model call from now on never returns
            code, body = wait_for(lambda: (r := get(port, "/healthz"))[0] == 503 and r, 30, "/healthz 503", proc)
            assert "no batch completed for" in body and "clips wait" in body
            assert get(port, "/readyz")[0] == 503
            pings = len(notify.seen("WATCHDOG"))
            time.sleep(2.5)  # two watchdog intervals: a hung loop is not vouched for
            assert len(notify.seen("WATCHDOG")) == pings
            assert any(m.get("STATUS", "").startswith("unhealthy: no batch completed") for m in notify.drain())

            # The first SIGTERM waits for the hung call; the second ends it at once, with 130, no abort.
            proc.send_signal(signal.SIGTERM)
            wait_for(lambda: notify.seen("STOPPING"), 10, "STOPPING=1", proc)
            time.sleep(0.5)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(5) == 130 and time.monotonic() - started < 3
            err = (tmp_path / "stderr.log").read_text()
            assert "terminate called" not in err and "Fatal Python error" not in err
        finally:
            stop(proc)


def test_a_second_ctrl_c_exits_130_at_once_without_an_abort(tmp_path, tiny_model_dir, video):
    with private_redis(tmp_path) as (_, redis_port):
        config, port = write_config(tmp_path, f"redis://127.0.0.1:{redis_port}/0", tiny_model_dir, video)
        proc = start(config, tmp_path)
        try:
            wait_for(lambda: get(port, "/readyz")[0] == 200, 180, "/readyz 200", proc)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(5) == 130 and time.monotonic() - started < 3
            err = (tmp_path / "stderr.log").read_text()
            assert "second signal: stopping now" in err
            assert "terminate called" not in err and "Fatal Python error" not in err and "Traceback" not in err
        finally:
            stop(proc)


def test_a_stop_during_a_redis_outage_takes_under_10_s_and_keeps_the_unsent_in_the_outbox(
        tmp_path, tiny_model_dir, video):
    with private_redis(tmp_path) as (server, redis_port):
        config, port = write_config(tmp_path, f"redis://127.0.0.1:{redis_port}/0", tiny_model_dir, video,
                                    outbox_stall_seconds=2)
        proc = start(config, tmp_path)
        try:
            wait_for(lambda: get(port, "/readyz")[0] == 200, 180, "/readyz 200", proc)
            client = redis.Redis(port=redis_port, decode_responses=True)
            wait_for(lambda: client.xlen("t:descriptions") >= 1, 60, "a description in Redis", proc)
            client.close()
            check_metrics(get(port, "/metrics")[1])

            os.kill(server.pid, signal.SIGSTOP)  # frozen: connections open, nothing answers
            code, body = wait_for(lambda: (r := get(port, "/readyz"))[0] == 503 and r, 30, "/readyz 503", proc)
            assert "Redis takes nothing" in body
            assert get(port, "/healthz")[0] == 200  # the model loop is fine: no restart for Redis

            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
            took = time.monotonic() - started
            assert took < 10, f"stop took {took:.1f} s"
            outbox = tmp_path / "state" / "outbox"
            assert any(f.stat().st_size for f in outbox.iterdir()), "the unsent messages are in the outbox"
            err = (tmp_path / "stderr.log").read_text()
            assert "I/O operation on closed file" not in err and "died" not in err and "Traceback" not in err
        finally:
            stop(proc)
            os.kill(server.pid, signal.SIGCONT)
