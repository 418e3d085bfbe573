"""Ingest cost on this machine: CPU seconds per stream-minute and resident memory per camera.

Compares, in one run, a full decode of every frame to RGB (what the seed article's `read_video_pyav`
does) with the monitor's sources feeding the clip window (8 frames per 10 s window, 5 s stride) in each
decode mode, on the synthetic 1080p30 H.264 streams (GOP 2 s, no B-frames) and on real recordings with
B-frames (Debian's opencv-doc: vtest.avi transcoded by x264 with B-frames, an open GOP and keyframes at
scene cuts; box.mp4 as shipped). Each variant runs in a fresh subprocess so its CPU time and memory are
its own; `samples_exact` says whether the default (targeted) put every sample where decode: all does.
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
    from monitor.clip import SegmentEnd
    from monitor.config.models import CameraConfig, SourceConfig
    from monitor.sources import PacketRing, open_source
    from monitor.window import ClipWindow

    mode, _, snap = mode.partition(":")  # "targeted:0.5" = targeted with keyframe_snap_seconds 0.5
    settings = SourceConfig(decode=mode, keyframe_snap_seconds=float(snap or 0))
    clips, peak, rings, samples = [0], [0.0], [], []
    state = tempfile.mkdtemp()
    base_rss = rss_mb()

    def one(i, path):
        camera = CameraConfig(id=f"cam{i}", url=path, pace=pace)
        window = ClipWindow(camera.id, 10, 5, 8, whole_slice=mode == "keyframes")
        ring = PacketRing(seconds=30)  # the evidence ring the daemon keeps per camera
        rings.append(ring)
        source = open_source(camera, settings, state_dir=Path(state), wants=window.wants, packet_ring=ring)
        stop = threading.Event()

        def emit(item):
            made = window.finish(item.ts) if isinstance(item, SegmentEnd) else window.push(item)
            clips[0] += len(made)
            if i == 0:
                samples.extend(list(c.timestamps) for c in made)
            peak[0] = max(peak[0], rss_mb())

        source.run(emit, stop)

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t0 = samples[0][0] if samples else 0.0
    return {"clips": clips[0], "rss_base_mb": round(base_rss, 1), "rss_peak_mb": round(peak[0], 1),
            "ring_mb_per_camera": round(max((r.nbytes for r in rings), default=0) / 2**20, 2),
            "samples": [[round(t - t0, 4) for t in clip] for clip in samples]}


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

    from tests.fixtures_media import RealMedia, write_h264

    with tempfile.TemporaryDirectory() as tmp:
        print(f"writing a {args.seconds:.0f} s 1080p30 H.264 stream (GOP 2 s)...", flush=True)
        synthetic = write_h264(Path(tmp) / "s.mp4", width=1920, height=1080, fps=30, seconds=args.seconds, gop=60)
        real = RealMedia(Path(tmp))
        inputs = {
            "synthetic 1920x1080 30 fps H.264, GOP 2 s, no B-frames": (synthetic, args.seconds),
            "real: vtest.avi (opencv-doc) as 768x576 10 fps H.264, 3 B-frames, open GOP, scene-cut keyframes":
                (real.variant("h264-bframes.mp4", args.seconds), args.seconds),
            "real: box.mp4 (opencv-doc) as shipped, 640x480 30 fps H.264, B-frames, keyframes 8.3 s apart":
                (real.original("box.mp4"), 15.2),
        }
        report_inputs, live = {}, None
        for label, (source, seconds) in inputs.items():
            paths = [Path(tmp) / f"{abs(hash(label))}-{i}{source.suffix}" for i in range(args.streams)]
            for p in paths:
                os.link(source, p)
            variants = ("full", "all", "targeted", "targeted:0.5", "targeted:1.0", "keyframes") \
                if label.startswith("synthetic") else ("full", "all", "targeted", "keyframes")
            report_inputs[label] = measure(variants, paths, args.streams * seconds / 60)
            if live is None:
                # Memory at real-time pace, as cameras run: the process's peak over its idle start, per camera.
                print("targeted at real-time pace (memory)...", flush=True)
                live = run_variant("targeted", paths, pace="realtime")
                live.pop("samples", None)
    synth = next(iter(report_inputs.values()))
    report = {
        "date": str(date.today()), "machine": f"{platform.node()} {os.cpu_count()} cores, shared with other "
        "jobs: compare ratios within this run, not absolute seconds across runs",
        "streams": args.streams, "seconds": args.seconds,
        "sampling": "8 frames per 10 s window, 5 s stride, 336 px short side",
        "cpu_ratio_full_over_targeted": {k: v["cpu_ratio_full_over_targeted"] for k, v in report_inputs.items()},
        "cpu_ratio_all_over_targeted": {k: v["cpu_ratio_all_over_targeted"] for k, v in report_inputs.items()},
        "targeted_samples_exact": {k: v["targeted_samples_exact"] for k, v in report_inputs.items()},
        "streams_per_core_targeted_synthetic": round(60 / synth["variants"]["targeted"]["cpu_s_per_stream_min"], 1),
        "rss_mb_per_camera": round((live["rss_peak_mb"] - live["rss_base_mb"]) / args.streams, 1),
        # This synthetic stream's bitrate is below 4 Mbit/s: add what a 30 s ring at 4 Mbit/s holds over ours.
        "rss_mb_per_camera_with_4mbit_ring": round((live["rss_peak_mb"] - live["rss_base_mb"]) / args.streams
                                                   + max(0.0, 30 * 4e6 / 8 / 2**20 - live["ring_mb_per_camera"]), 1),
        "inputs": report_inputs, "realtime": live,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=ROOT).stdout.strip(),
    }
    out = ROOT / "bench" / "results" / f"ingest-{date.today()}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("inputs", "realtime")}, indent=1))
    return 0


def measure(variants: tuple[str, ...], paths: list[Path], stream_minutes: float) -> dict:
    """Every variant on the same streams, back to back; ratios of CPU seconds and the samples compared."""
    results = {}
    for variant in variants:
        print(f"{paths[0].name}: {variant}...", flush=True)
        results[variant] = run_variant(variant, paths)
        results[variant]["cpu_s_per_stream_min"] = round(results[variant]["cpu_s"] / stream_minutes, 3)
    exact = results["targeted"]["samples"] == results["all"]["samples"]
    for result in results.values():
        result.pop("samples", None)
    cpu = {k: v["cpu_s"] for k, v in results.items()}
    return {"cpu_ratio_full_over_targeted": round(cpu["full"] / cpu["targeted"], 2),
            "cpu_ratio_all_over_targeted": round(cpu["all"] / cpu["targeted"], 2),
            "cpu_ratio_full_over_keyframes": round(cpu["full"] / cpu["keyframes"], 1),
            "targeted_samples_exact": exact, "variants": results}


if __name__ == "__main__":
    raise SystemExit(main())
