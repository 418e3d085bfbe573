"""What every source shares: the status it reports, its decoder settings, and a guarded frame sink."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from monitor.clip import Frame, SegmentEnd
from monitor.config.models import CameraConfig, SourceConfig
from monitor.redact import redact_text

from .decode import FrameDecoder
from .guard import Session
from .media import url_kind
from .stats import SourceStats

if TYPE_CHECKING:
    from .packet_ring import PacketRing

logger = logging.getLogger(__name__)

STATES = ("connecting", "online", "reconnecting", "error", "stalled", "file_done", "file_failed", "ended",
          "window_skipped")
_QUIET = ("online", "connecting", "file_done", "ended")


@dataclass(frozen=True)
class SourceStatus:
    """Reported through on_status; the daemon publishes it to the status stream."""

    camera_id: str
    state: str  # one of STATES
    detail: str = ""  # human text, credentials masked; for files: which file and the reason
    ts: float = 0.0  # time.time()
    stats: dict = field(default_factory=dict)  # input_fps, decoded_fps, reconnects, stalls, last_frame_age_s ...


class Source:
    """One camera's frames. `run` blocks until `stop` is set or the source is finished; it never raises for
    camera faults: it reports them through on_status and retries with capped exponential backoff + jitter."""

    def __init__(self, camera: CameraConfig, settings: SourceConfig, *, state_dir: Path, short_side: int = 336,
                 wants: Callable[[float], bool] = lambda ts: True,
                 on_status: Callable[[SourceStatus], None] = lambda s: None,
                 packet_ring: PacketRing | None = None) -> None:
        self.camera, self.settings = camera, settings
        self.state_dir = Path(state_dir)
        self.short_side, self.wants, self.on_status = short_side, wants, on_status
        self.packet_ring = packet_ring
        self.decode_mode = camera.decode or settings.decode
        self.stats = SourceStats()
        self.state = ""
        self._last_detail: str | None = None
        self.online_detail = ""  # what the periodic health report says (the url, the file being read)
        self._last_ts = float("-inf")
        self._last_report = 0.0
        # Reports come from the watchdog's thread and the worker's; the consumer sees them one at a time.
        self._report_lock = threading.Lock()

    def run(self, emit: Callable[[Frame], None], stop: threading.Event) -> None:
        raise NotImplementedError

    def report(self, state: str, detail: str = "") -> None:
        with self._report_lock:
            repeated = state == self.state and detail == self._last_detail
            self.state, self._last_detail = state, detail
            self._last_report = time.monotonic()
            status = SourceStatus(self.camera.id, state, redact_text(detail), time.time(), self.stats.snapshot())
            # Periodic health of an unchanged state goes to the status stream, not to the log of every camera.
            level = logging.DEBUG if repeated else logging.INFO if state in _QUIET else logging.WARNING
            logger.log(level, "camera %s: %s%s", self.camera.id, state, f" ({status.detail})" if detail else "")
            try:
                self.on_status(status)
            except Exception:  # noqa: BLE001 - a broken status consumer must not take the camera down
                logger.exception("camera %s: on_status failed", self.camera.id)

    def tick(self, session: Session) -> None:
        """Called by the watchdog a few times a second: periodic health while online."""
        if session.phase == "online" and time.monotonic() - self._last_report >= self.settings.status_interval:
            self.report("online", self.online_detail)

    def make_decoder(self, stream, session: Session, ts_of: Callable[[float], float],
                     emit: Callable[[Frame], None], wants: Callable[[float], bool] | None = None) -> FrameDecoder:
        cc = stream.codec_context
        self.stats.width, self.stats.height, self.stats.codec = cc.width, cc.height, cc.name
        return FrameDecoder(stream, camera_id=self.camera.id, short_side=self.short_side, mode=self.decode_mode,
                            wants=wants or self.wants, ts_of=ts_of, sink=self.sink(session, emit),
                            max_width=self.settings.max_width, max_height=self.settings.max_height,
                            snap_s=self.settings.keyframe_snap_seconds,
                            # A jump in a file's timestamps is its real timing, not packets lost on the way.
                            detect_loss=url_kind(self.camera.url) != "file")

    def sink(self, session: Session, emit: Callable[[Frame], None]) -> Callable[[Frame], None]:
        def deliver(frame: Frame) -> None:
            if session.cancelled.is_set():
                return  # an abandoned connection must not emit after its successor started
            if frame.ts <= self._last_ts:
                # B-frames reordered across a re-anchored live clock could step back; the window needs order.
                frame = dataclasses.replace(frame, ts=self._last_ts + 1e-3)
            self._last_ts = frame.ts
            self.stats.emitted += 1
            self.stats.last_frame_wall = time.time()
            session.in_emit = True
            try:
                emit(frame)
            finally:
                session.in_emit = False
                session.progress()
        return deliver

    def end_segment(self, session: Session, emit: Callable, ts: float, reason: str = "end of file") -> None:
        """Tell the window that the footage ended at `ts` (its last partial stride is analysed now) and that
        what comes next does not continue it (it may even be older: uploads in recording time)."""
        if session.cancelled.is_set():
            return
        self._last_ts = float("-inf")
        emit(SegmentEnd(self.camera.id, ts, reason))

    def count_decoder(self, decoder: FrameDecoder, before: tuple[int, int]) -> tuple[int, int]:
        """Fold the decoder's counters into the stats; returns the new baseline."""
        self.stats.decoded += decoder.decoded - before[0]
        self.stats.corrupt += decoder.corrupt - before[1]
        return decoder.decoded, decoder.corrupt
