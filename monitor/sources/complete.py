"""Is an upload complete? What the container's own structure says about the bytes it needs.

A file whose size and mtime have settled may still be an upload that paused: an MP4 written with its index
at the front (`-movflags +faststart`) declares an `mdat` box larger than the bytes present; one written
index-last has no `moov` yet; an AVI's RIFF size and a Matroska segment's size say how long the file will
be. Formats without such a promise (MPEG-TS, raw streams) are complete once settled.
"""

from __future__ import annotations

import struct
from pathlib import Path

_MP4_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"meta", b"styp"}
_EBML = b"\x1a\x45\xdf\xa3"
_SEGMENT = b"\x18\x53\x80\x67"


def missing(path: Path) -> str | None:
    """Why the file is not complete yet (what its structure promises that is not there), or None."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
        if head[4:8] in _MP4_BOXES:
            return _mp4(f, size)
        if head[:4] in (b"RIFF", b"RF64"):
            return _riff(head, size)
        if head[:4] == _EBML:
            return _matroska(f, size)
    return None


def _mp4(f, size: int) -> str | None:
    pos, has_index = 0, False
    while pos < size:
        f.seek(pos)
        header = f.read(16)
        if len(header) < 8:
            return f"a partial box header at byte {pos}"
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1:
            if len(header) < 16:
                return f"a partial box header at byte {pos}"
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - pos  # "to the end of the file": only the last box may say so
        if box_size < 8:
            return f"a broken {kind!r} box at byte {pos}"
        if pos + box_size > size:
            return f"its {kind.decode('latin-1')} box needs {pos + box_size} bytes, {size} are present"
        has_index = has_index or kind == b"moov"
        pos += box_size
    return None if has_index else "no index (moov box) yet"


def _riff(head: bytes, size: int) -> str | None:
    riff_size = struct.unpack("<I", head[4:8])[0]
    if head[:4] == b"RIFF" and riff_size + 8 > size:
        return f"its RIFF header promises {riff_size + 8} bytes, {size} are present"
    return None


def _vint(data: bytes, at: int, keep_marker: bool = False) -> tuple[int, int] | None:
    """An EBML variable-length integer at `at`: (value, length), value -1 for 'unknown'."""
    if at >= len(data) or data[at] == 0:
        return None
    length = 9 - data[at].bit_length()
    if at + length > len(data):
        return None
    raw = int.from_bytes(data[at:at + length], "big")
    if keep_marker:
        return raw, length
    value = raw & ((1 << (7 * length)) - 1)
    return (-1 if value == (1 << (7 * length)) - 1 else value), length


def _matroska(f, size: int) -> str | None:
    f.seek(0)
    data = f.read(4096)
    header = _vint(data, 4)
    if header is None:
        return "a partial EBML header"
    pos = 4 + header[1] + header[0]
    if data[pos:pos + 4] != _SEGMENT:
        return None if len(data) > pos + 4 else "no segment yet"
    seg = _vint(data, pos + 4)
    if seg is None:
        return "a partial segment header"
    seg_size, length = seg
    end = pos + 4 + length + seg_size
    if seg_size >= 0 and end > size:
        return f"its segment needs {end} bytes, {size} are present"
    return None
