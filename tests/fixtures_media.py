"""Small test videos made with PyAV + numpy: good H.264 MP4s and hostile files for the sources' tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_frame(i: int, width: int, height: int, fps: float) -> np.ndarray:
    """An RGB frame with a gradient background and two shapes that move with `i` (so frames differ)."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    img[..., 2] = 96
    t = i / fps
    bw, bh = max(width // 8, 2), max(height // 6, 2)
    bx = int((t * width / 3) % max(width - bw, 1))
    by = height // 3
    img[by:by + bh, bx:bx + bw] = (250, 250, 40)
    cx = int(width / 2 + width / 4 * np.cos(t * 2))
    cy = int(height / 2 + height / 4 * np.sin(t * 2))
    r = max(min(width, height) // 10, 1)
    img[max(cy - r, 0):cy + r, max(cx - r, 0):cx + r] = (30, 30, 230)
    return img


def write_h264(path: Path | str, *, width: int = 320, height: int = 240, fps: int = 15, seconds: float = 2.0,
               gop: int | None = None, bframes: int = 0, container_format: str | None = None) -> Path:
    """Write an H.264 video of moving shapes; keyframes exactly every `gop` frames (default: 1 s)."""
    path = Path(path)
    gop = gop or fps
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast",
                          "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"}
        for i in range(int(round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(moving_frame(i, width, height, fps), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_zero_bytes(path: Path | str) -> Path:
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_not_video(path: Path | str) -> Path:
    path = Path(path)
    path.write_text("this is a shopping list, not a video\n" * 50)
    return path


def write_truncated(path: Path | str, good: Path, keep: float = 0.5) -> Path:
    """The first `keep` of a good MP4 (its moov box is at the end, so the index is gone)."""
    path = Path(path)
    data = good.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_corrupt(path: Path | str, good: Path, seed: int = 1) -> Path:
    """A good MP4 with garbage written over stretches of its middle (the sample data, mostly)."""
    path = Path(path)
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(seed)
    lo, hi = len(data) // 10, len(data) * 8 // 10
    for start in rng.integers(lo, hi, size=12):
        n = int(rng.integers(50, 400))
        data[start:start + n] = rng.integers(0, 256, size=len(data[start:start + n]), dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


# --- absurd declared sizes: a small H.264 stream whose SPS claims a huge picture ------------------------------
class _Bits:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.pos = 0

    def u(self, n: int) -> int:
        value = int(self.bits[self.pos:self.pos + n], 2)
        self.pos += n
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bits[self.pos + zeros] == "0":
            zeros += 1
        value = int(self.bits[self.pos + zeros:self.pos + 2 * zeros + 1], 2) - 1
        self.pos += 2 * zeros + 1
        return value


def _ue(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _unescape(rbsp: bytes) -> bytes:
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _patch_sps(nal: bytes, width: int, height: int) -> bytes:
    """Rewrite pic_width/height_in_mbs of a baseline-profile SPS (no cropping written by x264 here)."""
    bits = _Bits(_unescape(nal[1:]))
    profile = bits.u(8)
    assert profile == 66, "baseline profile SPS expected"
    bits.u(16)
    bits.ue()  # sps id
    bits.ue()  # log2_max_frame_num
    poc_type = bits.ue()
    assert poc_type in (0, 2)
    if poc_type == 0:
        bits.ue()
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps allowed
    head = bits.bits[:bits.pos]
    bits.ue(), bits.ue()
    tail = bits.bits[bits.pos:].rstrip("0")  # keep the rbsp stop bit, re-pad below
    body = head + _ue(width // 16 - 1) + _ue(height // 16 - 1) + tail
    body += "0" * (-len(body) % 8)
    return nal[:1] + _escape(int(body, 2).to_bytes(len(body) // 8, "big"))


def write_absurd_size(path: Path | str, width: int = 32768, height: int = 32768) -> Path:
    """A raw H.264 (Annex B) file, whatever its name, of a 64x64 picture whose SPS declares width x height."""
    path = Path(path)
    raw = path.with_name(path.name + ".raw.h264")
    with av.open(str(raw), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.options = {"preset": "ultrafast", "profile": "baseline", "x264-params": "keyint=5:scenecut=0"}
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(moving_frame(i, 64, 64, 10), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = raw.read_bytes()
    raw.unlink()
    parts = data.split(b"\x00\x00\x00\x01")
    parts = [_patch_sps(p, width, height) if p and (p[0] & 0x1F) == 7 else p for p in parts]
    path.write_bytes(b"\x00\x00\x00\x01".join(parts))
    return path


def feed_ring(ring, video: Path | str, t0: float = 0.0):
    """Feed every packet of a file into a PacketRing as a live source would, at camera time t0 + pts."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        ring.set_stream(stream)
        for packet in container.demux(stream):
            if packet.pts is not None:
                ring.add(packet, t0 + float(packet.pts * stream.time_base))
    return ring


# --- real recordings, shipped by Debian's opencv-doc (.ci/run installs it) ------------------------------------
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_HTML = Path("/usr/share/doc/opencv-doc/opencv4/html")
# name -> what it is: vtest.avi, a pedestrian surveillance clip (768x576, 10 fps, msmpeg4v3, 79.5 s, keyframes
# every 25 s); tree.avi (cinepak); box.mp4, a hand-held H.264 clip with B-frames and a keyframe at 8.3 s.
REAL = {"vtest.avi": OPENCV_DATA / "vtest.avi", "tree.avi": OPENCV_DATA / "tree.avi",
        "box.mp4": OPENCV_HTML / "box.mp4.gz"}
# Transcodes of vtest.avi: codecs dashcams write. x264 with B-frames, an open GOP and keyframes at scene
# cuts (keyint 4 s, min 0.5 s) is the "street clip" of real cameras; all keep vtest's own timing (10 fps).
VARIANTS = {
    "h264-bframes.mp4": ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "40", "-keyint_min", "5",
                         "-sc_threshold", "40", "-x264-params", "open-gop=1"],
    "h264-faststart.mp4": ["-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "20",
                           "-movflags", "+faststart"],
    "hevc.mp4": ["-vf", "scale=384:288", "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1",
                 "-x265-params", "keyint=20:bframes=3:log-level=error"],
    "vp9.webm": ["-vf", "scale=384:288", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                 "-g", "20", "-b:v", "400k"],
    "mjpeg.avi": ["-vf", "scale=384:288", "-c:v", "mjpeg", "-q:v", "6"],
    "msmpeg4.avi": ["-c:v", "copy"],  # the original codec, cut short
    # 3 s missing from 12 s to 15 s, timestamps kept: what a camera that dropped off for a while leaves
    "h264-gap.mp4": ["-vf", "select='not(between(t,12,15))'", "-fps_mode", "passthrough", "-c:v", "libx264",
                     "-preset", "veryfast", "-bf", "3"],
}


class RealMedia:
    """Real recordings at their install path, and ffmpeg transcodes of them made once into `cache`."""

    def __init__(self, cache: Path) -> None:
        self.cache = Path(cache)

    def original(self, name: str) -> Path:
        import gzip

        import pytest

        path = REAL[name]
        if not path.exists():
            pytest.skip(f"{path} is missing: install Debian's opencv-doc (.ci/run does)")
        if path.suffix != ".gz":
            return path
        out = self.cache / name
        if not out.exists():
            out.write_bytes(gzip.decompress(path.read_bytes()))
        return out

    def variant(self, name: str, seconds: float = 30.0, source: str = "vtest.avi") -> Path:
        """`name` (a key of VARIANTS) made from the first `seconds` of a real recording."""
        import shutil
        import subprocess

        import pytest

        out = self.cache / f"{Path(name).stem}-{seconds:g}s{Path(name).suffix}"
        if out.exists():
            return out
        if shutil.which("ffmpeg") is None:
            pytest.skip("ffmpeg is missing (.ci/run installs it)")
        args = ["ffmpeg", "-v", "error", "-y", "-i", str(self.original(source)), "-t", f"{seconds:g}", "-an",
                *VARIANTS[name], str(out)]
        subprocess.run(args, check=True, timeout=300)
        return out


def full_decode_times(path: Path | str) -> list[float]:
    """Presentation time of every frame a full decode of the file gives (the reference for sampling)."""
    times = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is not None:
                times.append(float(frame.pts * stream.time_base))
    return sorted(times)
