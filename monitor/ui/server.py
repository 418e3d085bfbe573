"""Runs the UI app under uvicorn on ui.listen (or --listen), refusing an open port without credentials."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

import uvicorn

from monitor.config.models import MonitorConfig
from monitor.ui.app import create_app
from monitor.ui.auth import check_listen

logger = logging.getLogger(__name__)


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"--listen: expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


class UiServer(uvicorn.Server):
    """uvicorn, ending the page's event streams as soon as it is told to stop (they never end by themselves)."""

    def handle_exit(self, sig, frame) -> None:
        ui_state = getattr(self.config.app, "state", None)
        loop = getattr(self, "_loop", None)
        if ui_state is not None and loop is not None:
            loop.call_soon_threadsafe(ui_state.ui.close_all)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self):
        """uvicorn re-raises SIGTERM after its graceful stop (exit status -15); `monitor ui`, like `monitor run`,
        exits 0 after a clean stop instead."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def serve(self, sockets=None) -> None:
        import asyncio

        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)


def serve(config: MonitorConfig, listen: str | None = None) -> int:
    host, port = split_listen(listen or config.ui.listen)
    check_listen(host, config.ui)
    logger.info("monitor ui on http://%s:%d/ (%s)", host, port, "read-only" if config.ui.read_only else "acknowledge on")
    server = UiServer(uvicorn.Config(create_app(config), host=host, port=port, log_level="warning",
                                     access_log=False, timeout_graceful_shutdown=3))
    server.run()
    return 0
