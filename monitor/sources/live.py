"""Live network cameras (rtsp://, rtsps://, http(s)://, HLS): reconnect forever, never raise."""

from __future__ import annotations

import logging
import threading
from typing import Callable

import av

from monitor.clip import Frame
from monitor.redact import mask_url

from .backoff import Backoff
from .base import Source
from .decode import RefusedError
from .guard import Session, run_session
from .media import close_quietly, describe_error, open_input, packets, pick_video, url_kind
from .timeline import LiveClock

logger = logging.getLogger(__name__)

STABLE_S = 10.0  # a connection that delivered this long resets the backoff (a flapping one does not)


class LiveSource(Source):
    _finite = False  # the input has an end (HLS VOD, a file over HTTP): it ends there instead of reconnecting

    def run(self, emit: Callable[[Frame], None], stop: threading.Event) -> None:
        url, settings = self.camera.url, self.settings
        backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        self.online_detail = mask_url(url)
        self.report("connecting", mask_url(url))
        while not stop.is_set():
            outcome = run_session(lambda s: self._connection(s, emit), stop, name=self.camera.id,
                                  open_limit=settings.connect_timeout + settings.read_timeout,
                                  stall_limit=settings.stall_seconds, tick=self.tick)
            self.stats.abandoned += outcome.abandoned
            if outcome.stopped or stop.is_set():
                break
            if self._finite and outcome.error is None and not outcome.stalled and not outcome.open_timeout:
                # An HLS VOD playlist (#EXT-X-ENDLIST) or a plain file over HTTP: played once, like a file.
                self.stats.files_done += 1
                self.report("file_done", f"{mask_url(url)}: played to the end")
                return
            if outcome.online_s >= STABLE_S:
                backoff.reset()
            delay = backoff.next_delay()
            if outcome.stalled or self._read_timed_out(outcome):
                silent = settings.stall_seconds if outcome.stalled else settings.read_timeout
                self.stats.stalls += 1
                self.report("stalled", f"no packet for {silent:g} s; reconnecting in {delay:.1f} s")
            else:
                reason = self._reason(outcome)
                self.report("error", f"{reason}; retrying in {delay:.1f} s")
            if stop.wait(delay):
                break
            self.stats.reconnects += 1
            self.report("reconnecting", mask_url(url))
        self.report("ended", "stopped")

    @staticmethod
    def _read_timed_out(outcome) -> bool:
        """PyAV's own read timeout aborts through the interrupt callback: an ExitError once online."""
        return isinstance(outcome.error, av.error.ExitError) and outcome.online_s > 0

    def _reason(self, outcome) -> str:
        if outcome.open_timeout:
            return f"no answer within {self.settings.connect_timeout + self.settings.read_timeout:g} s"
        if outcome.error is None:
            return "the stream ended"
        if isinstance(outcome.error, RefusedError):
            return f"refused: {outcome.error}"
        reason = describe_error(outcome.error, self.camera.url)
        if outcome.phase == "opening" and outcome.elapsed_s >= 0.9 * self.settings.connect_timeout:
            # PyAV's open timeout surfaces as whatever FFmpeg was doing when interrupted ("Invalid data").
            return f"no answer within {self.settings.connect_timeout:g} s ({reason})"
        return reason

    def _connection(self, session: Session, emit: Callable[[Frame], None]) -> None:
        """One connection, in the session's worker thread: open, then demux and decode until it fails."""
        container = None
        try:
            container = open_input(self.camera.url, self.settings, session)
            stream = pick_video(container, self.settings)
            # FFmpeg knows a duration only for inputs that end: an HLS playlist with #EXT-X-ENDLIST, a file.
            self._finite = url_kind(self.camera.url) == "http" and container.duration is not None
            clock = LiveClock()
            decoder = self.make_decoder(stream, session, clock.ts, emit)
            if self.packet_ring is not None:
                self.packet_ring.set_stream(stream)
            baseline, newest = (0, 0), float("-inf")
            for packet in packets(container, stream, session):
                pts = packet.pts if packet.pts is not None else packet.dts
                if pts is None:
                    continue  # the demuxer's final empty flush packet
                if session.phase != "online":
                    session.progress("online")
                    self.report("online", mask_url(self.camera.url))
                session.progress()
                self.stats.packets += 1
                ts = clock.observe(float(pts * stream.time_base))
                newest = max(newest, ts)
                if clock.delay(ts) > 0 and session.wait(clock.delay(ts)):
                    break
                if self.packet_ring is not None:
                    self.packet_ring.add(packet, ts)
                decoder.feed(packet)
                baseline = self.count_decoder(decoder, baseline)
            else:
                if self._finite and not session.cancelled.is_set():
                    decoder.flush()
                    self.end_segment(session, emit, newest)
        finally:
            close_quietly(container)
