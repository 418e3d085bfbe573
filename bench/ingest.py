"""Ingest cost on this machine: CPU seconds per stream-minute and resident memory per camera.

Compares, in one run and on the same synthetic 1080p30 H.264 streams (GOP 2 s), a full decode of every
frame to RGB (what the seed article's `read_video_pyav` does) with the monitor's sources feeding the
clip window (8 frames per 10 s window, 5 s stride) in each decode mode. Each variant runs in a fresh
subprocess so its CPU time and memory are its own.
Usage: python3 bench/ingest.py --streams 4 --seconds 60
Writes bench/results/ingest-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc import rss_mb  # noqa: E402


def full_decode(paths: list[str]) -> dict:
    """Every frame decoded and converted to full-size RGB, one thread per stream."""
    import av

    frames = []

    def one(path):
        with av.open(path) as container:
            n = 0
            for frame in container.decode(video=0):
                frame.to_ndarray(format="rgb24")
                n += 1
            frames.append(n)

    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"frames": sum(frames)}


def monitor_sources(paths: list[str], mode: str, pace: str) -> dict:
    """The monitor's own path: open_source -> ClipWindow, one thread per camera, as the daemon runs it."""
    from monitor.config.models import CameraConfig, SourceConfig
    from monitor.sources import PacketRing, open_source
    from monitor.window import ClipWindow

    mode, _, snap = mode.partition(":")  # "targeted:0.5" = targeted with keyframe_snap_seconds 0.5
    settings = SourceConfig(decode=mode, keyframe_snap_seconds=float(snap or 0))
    clips, peak, rings = [0], [0.0], []
    state = tempfile.mkdtemp()
    base_rss = rss_mb()

    def one(i, path):
        camera = CameraConfig(id=f"cam{i}", url=path, pace=pace)
        window = ClipWindow(camera.id, 10, 5, 8)
        ring = PacketRing(seconds=30)  # the evidence ring the daemon keeps per camera
        rings.append(ring)
        source = open_source(camera, settings, state_dir=Path(state), wants=window.wants, packet_ring=ring)
        stop = threading.Event()

        def emit(frame):
            clips[0] += len(window.push(frame))
            peak[0] = max(peak[0], rss_mb())

        source.run(emit, stop)

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"clips": clips[0], "rss_base_mb": round(base_rss, 1), "rss_peak_mb": round(peak[0], 1),
            "ring_mb_per_camera": round(max((r.nbytes for r in rings), default=0) / 2**20, 2)}


def child(args) -> int:
    """Run one variant and print its own CPU time and memory as JSON."""
    paths = args.paths.split(",")
    started = time.monotonic()
    if args.variant == "full":
        out = full_decode(paths)
    else:
        out = monitor_sources(paths, args.variant, args.pace)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update(cpu_s=usage.ru_utime + usage.ru_stime, wall_s=time.monotonic() - started,
               max_rss_mb=usage.ru_maxrss / 1024)
    print(json.dumps(out))
    return 0


def run_variant(variant: str, paths: list[Path], pace: str = "fast") -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--paths", ",".join(map(str, paths)), "--pace", pace]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--child")
    parser.add_argument("--paths")
    parser.add_argument("--pace", default="fast")
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        return child(args)

    from tests.fixtures_media import write_h264

    with tempfile.TemporaryDirectory() as tmp:
        print(f"writing a {args.seconds:.0f} s 1080p30 H.264 stream (GOP 2 s)...", flush=True)
        one = write_h264(Path(tmp) / "s0.mp4", width=1920, height=1080, fps=30, seconds=args.seconds, gop=60)
        paths = [one] + [Path(tmp) / f"s{i}.mp4" for i in range(1, args.streams)]
        for p in paths[1:]:
            os.link(one, p)
        stream_minutes = args.streams * args.seconds / 60
        results = {}
        for variant in ("full", "targeted", "targeted:0.5", "targeted:1.0", "keyframes"):
            print(f"{variant}...", flush=True)
            results[variant] = run_variant(variant, paths)
            results[variant]["cpu_s_per_stream_min"] = round(results[variant]["cpu_s"] / stream_minutes, 3)
        # Memory at real-time pace, as cameras run: the process's peak over its idle start, per camera.
        print("targeted at real-time pace (memory)...", flush=True)
        live = run_variant("targeted", paths, pace="realtime")
    full, mine = results["full"], results["targeted"]
    report = {
        "date": str(date.today()), "machine": f"{platform.node()} {os.cpu_count()} cores",
        "streams": args.streams, "seconds": args.seconds, "stream": "1920x1080 30 fps H.264, GOP 2 s, files",
        "sampling": "8 frames per 10 s window, 5 s stride, 336 px short side",
        "full_decode_cpu_s_per_min": full["cpu_s_per_stream_min"],
        "monitor_cpu_s_per_min": mine["cpu_s_per_stream_min"],
        "keyframes_cpu_s_per_min": results["keyframes"]["cpu_s_per_stream_min"],
        "targeted_snap_0_5_cpu_s_per_min": results["targeted:0.5"]["cpu_s_per_stream_min"],
        "targeted_snap_1_0_cpu_s_per_min": results["targeted:1.0"]["cpu_s_per_stream_min"],
        "cpu_ratio_full_over_keyframes": round(full["cpu_s"] / results["keyframes"]["cpu_s"], 1),
        "cpu_ratio_full_over_monitor": round(full["cpu_s"] / mine["cpu_s"], 1),
        "streams_per_core_monitor": round(60 / mine["cpu_s_per_stream_min"], 1),
        "rss_mb_per_camera": round((live["rss_peak_mb"] - live["rss_base_mb"]) / args.streams, 1),
        # This synthetic stream's bitrate is below 4 Mbit/s: add what a 30 s ring at 4 Mbit/s holds over ours.
        "rss_mb_per_camera_with_4mbit_ring": round((live["rss_peak_mb"] - live["rss_base_mb"]) / args.streams
                                                   + max(0.0, 30 * 4e6 / 8 / 2**20 - live["ring_mb_per_camera"]), 1),
        "realtime": live, "variants": results,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=ROOT).stdout.strip(),
    }
    out = ROOT / "bench" / "results" / f"ingest-{date.today()}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("variants", "realtime")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
