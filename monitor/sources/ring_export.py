"""Writing a camera's buffered packets to an evidence file: remuxed into the first container that takes
the codec (MP4, else Matroska), or re-encoded to H.264 in MP4 when none does (cinepak, say)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

logger = logging.getLogger(__name__)

FORMATS = (("mp4", ".mp4"), ("matroska", ".mkv"))
_REENCODE_TB = Fraction(1, 1000)


@dataclass(frozen=True)
class Exported:
    """An evidence file and the camera time of its first and last frame (what it really holds)."""

    path: Path
    start: float
    end: float


def template_for(stream, formats=FORMATS) -> tuple[object, object, str] | None:
    """(holder, template stream, suffix) of the first container that takes the stream's codec, or None.
    The template lives in an unwritten in-memory container: the codec parameters, outliving the input."""
    for fmt, suffix in formats:
        try:
            holder = av.open(io.BytesIO(), "w", format=fmt)
            template = holder.add_stream_from_template(stream, opaque=True)
        except (ValueError, av.error.FFmpegError) as exc:
            logger.debug("%s cannot hold %s: %s", fmt, stream.codec_context.name, exc)
            continue
        if fmt == "mp4" and stream.codec_context.name == "hevc" and stream.codec_context.extradata:
            # hvc1 (parameter sets in the sample description) is what players expect; FFmpeg's default hev1
            # is not what the camera wrote, and Apple players refuse it.
            template.codec_tag = "hvc1"
        return holder, template, suffix
    return None


def write_remux(path: Path, fmt: str, template, tb: Fraction, chosen: list) -> None:
    """Timestamps come from camera time, not the stream's pts, so that packets from before and after a
    reconnect (whose pts restart) still come out in order."""
    t0 = chosen[0].ts
    duration = _frame_interval(chosen, tb)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream_from_template(template, opaque=True)
        if template.codec_tag:
            stream.codec_tag = template.codec_tag
        stream.time_base = tb
        last_dts = None
        for item in chosen:
            pts = int(round((item.ts - t0) / tb)) + max(chosen[0].reorder, 0)
            dts = pts - item.reorder
            if last_dts is not None and dts <= last_dts:
                dts = last_dts + 1
                pts = max(pts, dts)
            last_dts = dts
            packet = av.Packet(item.data)
            packet.pts, packet.dts, packet.time_base = pts, dts, tb
            packet.duration = duration  # without it MP4 gives the last sample no time, and players drop it
            packet.is_keyframe = item.keyframe
            packet.stream = stream
            out.mux(packet)


def _frame_interval(chosen: list, tb: Fraction) -> int:
    times = sorted(item.ts for item in chosen)
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    return max(1, int(round(gaps[len(gaps) // 2] / tb))) if gaps else 1


def write_reencode(path: Path, codec: tuple, tb: Fraction, chosen: list) -> None:
    """Decode the packets and encode them again as H.264 in MP4, each frame at its camera time."""
    name, width, height, extradata = codec
    decoder = av.CodecContext.create(name, "r")
    decoder.width, decoder.height = width, height  # some old codecs (cinepak) only learn it from the container
    if extradata:
        decoder.extradata = extradata
    t0 = chosen[0].ts
    by_pts = {}
    with av.open(str(path), "w", format="mp4") as out:
        stream = None
        for item in chosen:
            packet = av.Packet(item.data)
            pts = int(round((item.ts - t0) / tb))
            packet.pts, packet.dts, packet.time_base = pts, pts - item.reorder, tb
            by_pts[pts] = item.ts
            frames = decoder.decode(packet)
            stream = _encode(out, stream, frames, tb, t0, by_pts)
        stream = _encode(out, stream, decoder.decode(None), tb, t0, by_pts)
        if stream is not None:
            out.mux(stream.encode(None))


def _encode(out, stream, frames, tb: Fraction, t0: float, by_pts: dict):
    for frame in frames:
        if stream is None:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = frame.width & ~1, frame.height & ~1, "yuv420p"
            stream.time_base = _REENCODE_TB
            stream.options = {"preset": "veryfast", "crf": "20"}
        ts = by_pts.get(frame.pts, t0 + float((frame.pts or 0) * tb))
        image = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
        image.pts, image.time_base = int(round((ts - t0) / _REENCODE_TB)), _REENCODE_TB
        out.mux(stream.encode(image))
    return stream
