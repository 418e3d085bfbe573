"""Fixtures of the sources' tests: a real RTSP server, fast source settings, and a runner for sources."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from monitor.clip import Frame
from monitor.config.models import SourceConfig
from monitor.sources import Source, SourceStatus
from tests.fixtures_media import RealMedia

SERVER = Path(__file__).resolve().parents[1] / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def _gi_problem() -> str | None:
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                                "from gi.repository import GstRtspServer"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON} cannot run: {exc}"
    if probe.returncode != 0:
        return f"{SYSTEM_PYTHON} cannot import gi/GstRtspServer (install python3-gi gir1.2-gst-rtsp-server-1.0)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """tests/rtsp_server.py in a subprocess; `url(mount)` gives the camera URL."""

    def __init__(self, mounts: dict[str, str], port: int | None = None) -> None:
        self.mounts = mounts
        self.port = port or free_port()
        args = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port)]
        for mount, what in mounts.items():
            args += ["--mount", f"{mount}={what}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line!r} {self.proc.stderr.read()[-2000:]}")
        self.base = line.split()[1]

    def url(self, mount: str, user: str = "") -> str:
        base = self.base if not user else self.base.replace("rtsp://", f"rtsp://{user}@")
        return f"{base}{mount}"

    def restart(self) -> None:
        """Start again on the same port (after stop or a crash)."""
        self.stop()
        self.__init__(self.mounts, self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def rtsp_server_factory():
    problem = _gi_problem()
    if problem:
        pytest.skip(problem)
    started: list[RtspServer] = []

    def start(mounts: dict[str, str]) -> RtspServer:
        server = RtspServer(mounts)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def rtsp_url(rtsp_server_factory) -> str:
    """A live 320x240 15 fps H.264 camera (keyframe every second)."""
    return rtsp_server_factory({"/cam": "live:320x240@15/15"}).url("/cam")


@pytest.fixture(scope="session")
def real_media(tmp_path_factory) -> RealMedia:
    """Real recordings from Debian's opencv-doc, and transcodes of them made once per session."""
    return RealMedia(tmp_path_factory.mktemp("real-media"))


@pytest.fixture
def fast_settings() -> SourceConfig:
    return SourceConfig(connect_timeout=3, read_timeout=3, backoff_initial=0.1, backoff_max=0.5,
                        scan_interval=0.1, settle_seconds=0.2, stall_seconds=3, status_interval=1,
                        upload_timeout_seconds=1.0)


class Run:
    """A source running in a thread, collecting what it emits and reports."""

    def __init__(self, factory: Callable[..., Source]) -> None:
        self.frames: list = []
        self.marks: list = []  # what the source emitted between frames (SegmentEnd at the end of a file)
        self.statuses: list[SourceStatus] = []
        self.stop = threading.Event()
        self.source = factory(on_status=self.statuses.append)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()
        self.thread.start()

    def _run(self) -> None:
        try:
            self.source.run(lambda item: (self.frames if isinstance(item, Frame) else self.marks).append(item),
                            self.stop)
        except BaseException as exc:  # noqa: BLE001 - the test asserts there is none
            self.error = exc

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def finish(self, timeout: float = 5.0) -> float:
        """Set stop, join; returns how long the source took to return."""
        t = time.monotonic()
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "source did not return after stop"
        return time.monotonic() - t


@pytest.fixture
def run_source():
    runs: list[Run] = []

    def start(factory: Callable[..., Source]) -> Run:
        run = Run(factory)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop.set()
        run.thread.join(10)
