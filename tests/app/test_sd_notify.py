"""The notify protocol over a real datagram socket (the daemon's own use: tests/app/test_daemon_process.py)."""

from __future__ import annotations

import os
import socket

from monitor.app.sd_notify import Notifier


def receive(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


def test_ready_status_watchdog_and_stopping_reach_the_socket(tmp_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "4000000",
                             "WATCHDOG_PID": str(os.getpid())})
        assert notifier.enabled and notifier.watchdog_interval_s == 2.0
        notifier.ready("running; 2 cameras\nREADY=0")  # a status cannot smuggle a second assignment
        assert receive(sock) == {"READY": "1", "STATUS": "running; 2 cameras READY=0", "MAINPID": str(os.getpid())}
        notifier.watchdog()
        assert receive(sock) == {"WATCHDOG": "1"}
        notifier.stopping()
        assert receive(sock) == {"STOPPING": "1", "STATUS": "stopping"}
        notifier.close()


def test_an_abstract_socket_is_reached_too():
    name = f"monitor-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).status("loading")
        assert receive(sock) == {"STATUS": "loading"}


def test_outside_systemd_nothing_is_sent_and_a_watchdog_for_another_pid_is_ignored(tmp_path):
    assert not Notifier({}).enabled and not Notifier({}).ready("x")
    other = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone"), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval_s is None
    assert other.status("x") is False  # no listener: logged, not raised
