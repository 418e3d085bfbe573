"""Opening inputs with the right network options, reading packets through corrupt data, describing errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import av

from monitor.config.models import SourceConfig
from monitor.redact import mask_url, redact_text

from .decode import RefusedError, check_size
from .guard import Session

logger = logging.getLogger(__name__)

MAX_READ_ERRORS = 20  # consecutive unreadable spots before a file or stream is given up as broken


def url_kind(url: str) -> str:
    """rtsp, http (HLS included), stream (any other scheme FFmpeg reads: rtmp, srt, udp, tcp) or file."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    if scheme and scheme != "file":
        return "stream"
    return "file"


def local_path(url: str) -> Path:
    """The path of a file or folder url (plain, or file://)."""
    return Path(url[len("file://"):] if url.lower().startswith("file://") else url)


def input_options(url: str, settings: SourceConfig) -> dict[str, str]:
    """FFmpeg options per kind of input; socket timeouts are in microseconds."""
    read_us = str(int(settings.read_timeout * 1_000_000))
    # Also bounds the decoders that probe the stream while it opens (find_stream_info).
    options = {"max_pixels": str(settings.max_width * settings.max_height)}
    kind = url_kind(url)
    if kind == "rtsp":
        # A short probe: packets read while probing come out in a burst later and only blur the clock.
        options.update(rtsp_transport="tcp", timeout=read_us, allowed_media_types="video",
                       analyzeduration="1000000", probesize="1000000")
    elif kind == "http":
        options.update(rw_timeout=read_us, timeout=read_us)
    elif kind == "stream":
        options.update(rw_timeout=read_us)
    return options


def open_input(url: str, settings: SourceConfig, session: Session) -> av.container.InputContainer:
    """Open `url` with socket timeouts and PyAV's interrupt-callback timeout as a backstop."""
    # PyAV's read timeout is a backstop behind the socket timeout and the stall watchdog, which decides: when
    # it fires, FFmpeg's RTSP demuxer first hands out a queued packet, hiding a stall for another round. It
    # is also what eventually frees a worker the watchdog abandoned.
    backstop = max(settings.read_timeout, settings.stall_seconds) + 2.0
    container = av.open(url, "r", options=input_options(url, settings),
                        timeout=(settings.connect_timeout, backstop))
    session.container = container
    return container


def pick_video(container: av.container.InputContainer, settings: SourceConfig) -> av.video.stream.VideoStream:
    """The first video stream, refused if its declared size is absurd (before anything is decoded)."""
    if not container.streams.video:
        raise RefusedError("no video stream")
    stream = container.streams.video[0]
    cc = stream.codec_context
    if cc is None:
        raise RefusedError("no decoder for the video stream's codec")
    check_size(cc.width, cc.height, settings.max_width, settings.max_height)
    for other in container.streams:
        if other.index != stream.index:
            other.discard = "all"  # audio and data are never read off the wire into Python
    return stream


def packets(container: av.container.InputContainer, stream, session: Session) -> Iterator[av.Packet]:
    """Packets of `stream` until the end, surviving unreadable spots (the demux generator dies on the first
    InvalidDataError, PyAV 812, so it is started again from where the container stands)."""
    errors = 0
    stamp = _Stamper(stream)
    while not session.cancelled.is_set():
        try:
            for packet in container.demux(stream):
                if session.cancelled.is_set():
                    return
                errors = 0
                yield stamp(packet)
            return
        except av.error.InvalidDataError as exc:
            errors += 1
            logger.debug("%s: unreadable data skipped (%s)", session.name, exc)
            if errors > MAX_READ_ERRORS:
                raise


class _Stamper:
    """Raw elementary streams (a .h264 file, some cameras' HTTP/TCP feeds) carry no timestamps at all:
    number their packets at the stream's frame rate so that the clock and the window can work."""

    def __init__(self, stream) -> None:
        rate = stream.guessed_rate or stream.average_rate or 25
        self.step = max(1, int(round(1 / (rate * stream.time_base))))
        self.next = 0

    def __call__(self, packet: av.Packet) -> av.Packet:
        if packet.size and packet.pts is None and packet.dts is None:
            packet.pts = packet.dts = self.next
        if packet.size:
            self.next = (packet.dts if packet.dts is not None else packet.pts) + (packet.duration or self.step)
        return packet


def describe_error(exc: BaseException, url: str) -> str:
    """One line for people, never with a password in it."""
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, RefusedError) else str(exc)
    if url:
        text = text.replace(url, mask_url(url))
    return redact_text(text)


def close_quietly(container) -> None:
    """Always close (unclosed containers leak, PyAV 1117); a close that fails must not hide the real error."""
    if container is None:
        return
    try:
        container.close()
    except Exception as exc:  # noqa: BLE001
        logger.debug("closing a container failed: %s", exc)
