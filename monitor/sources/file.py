"""Local video files: real-time or fast pace, optional looping with a continuing timeline."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import av

from monitor.clip import Frame

from .backoff import Backoff
from .base import Source
from .decode import RefusedError
from .guard import Session, run_session
from .media import close_quietly, describe_error, local_path, open_input, packets, pick_video
from .timeline import FileClock

logger = logging.getLogger(__name__)

OPEN_LIMIT_S = 30.0  # a local file that takes longer to open is on a hung mount
MAX_FAILURES = 5  # failures in a row of a file that is there (not a missing mount) before it is given up


class FileBroken(Exception):
    """The file exists but is not a readable video; retrying it will not help."""


PROGRESS_EVERY_S = 5.0  # seconds of video between two progress reports (the dashcam ledger's resume point)


class Progress:
    """Where in a file the frames handed on have got to (seconds after its first frame). `resume_s` > 0
    hands on only frames after that point: a file read partway before a restart continues, not repeats."""

    def __init__(self, resume_s: float = 0.0, save: Callable[[float], None] | None = None) -> None:
        self.pos = self.saved = resume_s
        self.resume_s, self.save = resume_s, save

    def wrap(self, emit: Callable[[Frame], None], clock: FileClock) -> Callable[[Frame], None]:
        def forward(frame: Frame) -> None:
            emit(frame)
            self.pos = frame.ts - clock.base
            if self.save is not None and self.pos - self.saved >= PROGRESS_EVERY_S:
                self.flush()
        return forward

    def flush(self) -> None:
        if self.save is not None and self.pos > self.saved:
            self.saved = self.pos
            self.save(self.pos)


def play_file(source: Source, path: Path, clock: FileClock, session: Session,
              emit: Callable[[Frame], None], progress: Progress | None = None) -> float:
    """Demux and decode one pass of `path` on `clock`; returns the pass's duration in seconds of video.
    Raises FileBroken, with the reason, for a file that cannot be read as video."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")  # may appear later (a mount): retried, not failed
    if path.stat().st_size == 0:
        raise FileBroken("empty file (0 bytes)")
    container = None
    try:
        try:
            container = open_input(str(path), source.settings, session)
            stream = pick_video(container, source.settings)
        except RefusedError as exc:
            raise FileBroken(str(exc)) from exc
        except av.error.FFmpegError as exc:
            raise FileBroken(_open_failure(path, exc)) from exc
        if not stream.codec_context.width or not stream.codec_context.height:
            raise FileBroken("the stream headers give no usable picture size (invalid or absurd)")
        progress = progress or Progress()
        resume_at = clock.base + progress.resume_s
        wants = source.wants if not progress.resume_s else (lambda ts: ts > resume_at + 1e-6 and source.wants(ts))
        decoder = source.make_decoder(stream, session, clock.ts, progress.wrap(emit, clock), wants=wants)
        if source.packet_ring is not None:
            source.packet_ring.set_stream(stream)
        session.progress("online")
        if source.state != "online":
            source.report("online", source.online_detail or str(path))
        try:
            last_rel, n = _pump(source, container, stream, clock, session, decoder)
        except av.error.InvalidDataError as exc:
            raise FileBroken(f"unreadable data, gave up: {describe_error(exc, '')}") from exc
        finally:
            if session.cancelled.is_set():
                progress.flush()  # stopped partway: remember how far, so a restart does not repeat it
        if n == 0 and not session.cancelled.is_set():
            raise FileBroken("no video packets in the file")
        if decoder.decoded == 0 and decoder.corrupt > 0:
            raise FileBroken(f"no frame could be decoded ({decoder.corrupt} corrupt packets)")
        if not session.cancelled.is_set():
            source.end_segment(session, emit, clock.base + last_rel)
        return last_rel + decoder.frame_s
    finally:
        close_quietly(container)


def _open_failure(path: Path, exc: av.error.FFmpegError) -> str:
    why = getattr(exc, "strerror", None) or str(exc)
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":
        return f"damaged or truncated MP4, cannot be opened ({why})"
    return f"not a readable video ({why})"


def _pump(source: Source, container, stream, clock: FileClock, session: Session, decoder) -> tuple[float, int]:
    """Feed every packet to the ring and the decoder at the camera's pace; (last pts offset, packets)."""
    last_rel, baseline, n = 0.0, (0, 0), 0
    realtime = source.camera.pace == "realtime"
    for packet in packets(container, stream, session):
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None:
            continue
        pts_s = float(pts * stream.time_base)
        clock.start(pts_s)
        # Pace on dts (decode order, monotonic); with B-frames pts runs a few frames ahead.
        dts = packet.dts if packet.dts is not None else pts
        if realtime and session.wait(clock.delay(float(dts * stream.time_base))):
            break
        session.progress()
        n += 1
        source.stats.packets += 1
        last_rel = max(last_rel, clock.rel(pts_s))
        if source.packet_ring is not None:
            source.packet_ring.add(packet, clock.ts(pts_s))
        decoder.feed(packet)
        baseline = source.count_decoder(decoder, baseline)
    if not session.cancelled.is_set():
        decoder.flush()
        source.count_decoder(decoder, baseline)
    return last_rel, n


class FileSource(Source):
    """A single video file (demo footage, a recording). A missing file is retried; a broken one is
    reported as file_failed and the source ends; `camera.loop` plays it again with increasing ts."""

    def run(self, emit: Callable[[Frame], None], stop: threading.Event) -> None:
        path = local_path(self.camera.url)
        self.online_detail = str(path)
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        clock = FileClock()
        failures = 0
        self.report("connecting", str(path))
        while not stop.is_set():
            result: dict = {}
            outcome = run_session(lambda s: result.update(d=play_file(self, path, clock, s, emit)), stop,
                                  name=self.camera.id, open_limit=OPEN_LIMIT_S,
                                  stall_limit=self.settings.stall_seconds, tick=self.tick)
            if outcome.stopped or stop.is_set():
                break
            if "d" in result:
                backoff.reset()
                failures = 0
                if not self.camera.loop:
                    self.stats.files_done += 1
                    self.report("file_done", f"{path}: played to the end")
                    return
                clock = clock.following(result["d"])
                continue
            reason = "stalled" if outcome.stalled else describe_error(outcome.error or TimeoutError("open"), "")
            failures = failures + 1 if path.is_file() else 0
            if isinstance(outcome.error, FileBroken) or failures >= MAX_FAILURES:
                self.stats.files_failed += 1
                why = outcome.error if isinstance(outcome.error, FileBroken) else \
                    f"gave up after {failures} failures in a row: {reason}"
                self.report("file_failed", f"{path}: {why}")
                return
            delay = backoff.next_delay()
            self.report("error", f"{path}: {reason}; retrying in {delay:.1f} s")
            if stop.wait(delay):
                break
            clock = FileClock()
        self.report("ended", "stopped")
