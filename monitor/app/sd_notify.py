"""systemd's notify protocol (sd_notify(3)), spoken directly over NOTIFY_SOCKET: no libsystemd needed.

READY=1 once the model is warmed up and the cameras started (Type=notify: `systemctl start` returns
then, not minutes before); WATCHDOG=1 only while batches make progress (WatchdogSec= restarts a hung
GPU loop); STATUS= a line a person reads in `systemctl status`; STOPPING=1 when the stop begins.
Outside systemd (no NOTIFY_SOCKET) every call does nothing."""

from __future__ import annotations

import logging
import os
import socket
from typing import Mapping

from monitor.sanitize import safe_text

logger = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        # "@name" is a socket in the abstract namespace; a path otherwise.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_interval_s = _watchdog_interval(env)
        self._socket: socket.socket | None = None
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, *lines: str) -> bool:
        """One datagram of `KEY=value` lines; False (logged once at debug) if it could not be sent."""
        if self._socket is None:
            return False
        try:
            self._socket.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as exc:  # systemd gone or the socket removed: the service goes on
            logger.debug("sd_notify: %s", exc)
            return False

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={safe_text(status)}", f"MAINPID={os.getpid()}")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={safe_text(text)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.send("RELOADING=1")

    def reloaded(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={safe_text(status)}")

    def stopping(self, status: str = "stopping") -> bool:
        return self.send("STOPPING=1", f"STATUS={safe_text(status)}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of WatchdogSec (as sd_watchdog_enabled(3) advises), when the watchdog is meant for us."""
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.1, int(usec) / 2e6)
    except ValueError:
        return None
