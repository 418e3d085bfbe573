"""End-to-end soak on this machine: the whole daemon, real RTSP and files, the tiny model, real Redis.

Scenarios (issue 2's measurements):
  cadence  one RTSP camera plus one dashcam folder (uploads arriving during the run) for --seconds;
           counts descriptions per camera against one per stride, and ERROR log records.
  memory   --cameras RTSP cameras of 1080p30 H.264 (GOP 2 s) for --seconds; resident memory after
           the first clips versus at the end, per camera.
Writes bench/results/soak-<scenario>-<date>.json.
Usage: python3 bench/soak.py cadence --seconds 120 ; python3 bench/soak.py memory --cameras 4 --seconds 120
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc import rss_mb  # noqa: E402

from monitor.backends.llava_next_video.tiny import make_tiny_checkpoint  # noqa: E402
from monitor.config import validate  # noqa: E402
from monitor.app.daemon import Monitor  # noqa: E402
from monitor.logs import setup_logging  # noqa: E402
from monitor.schema import parse_entry  # noqa: E402
from tests.fixtures_media import write_h264  # noqa: E402


class ErrorCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record):
        self.records.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def start_rtsp(mounts: dict[str, str]) -> tuple[subprocess.Popen, str]:
    args = ["/usr/bin/python3", str(ROOT / "tests" / "rtsp_server.py"), "--port", "0"]
    for path, spec in mounts.items():
        args += ["--mount", f"{path}={spec}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        raise RuntimeError(f"RTSP server did not start: {line!r}")
    return proc, line.split()[1]


def config_for(cameras, tmp: Path, model_dir: Path, prefix: str):
    return validate({
        "redis": {"url": "redis://127.0.0.1:6379/0", "prefix": prefix},
        "model": {"id": str(model_dir), "max_new_tokens": 16, "max_batch": 4},
        "window": {"seconds": 10, "stride": 5, "frames": 8},
        "source": {"scan_interval": 1.0, "settle_seconds": 1.0},
        "evidence": {"dir": str(tmp / "evidence")},
        "delivery": {"outbox_dir": str(tmp / "outbox")},
        "state_dir": str(tmp / "state"),
        "cameras": cameras,
    })


def run_monitor(config, seconds: float, during=None) -> tuple[Monitor, dict]:
    monitor = Monitor(config)
    stop = threading.Event()
    marks: dict = {"rss_start": rss_mb()}
    thread = threading.Thread(target=lambda: marks.setdefault("code", monitor.run(stop)))
    thread.start()
    started = time.monotonic()
    while not monitor.ready and thread.is_alive():  # the model is loaded and warmed up, no camera yet
        time.sleep(0.02)
    marks["rss_ready"] = rss_mb()
    samples = []
    while time.monotonic() - started < seconds:
        time.sleep(5)
        samples.append((round(time.monotonic() - started, 1), round(rss_mb(), 1)))
        if during:
            during(time.monotonic() - started)
    stop.set()
    thread.join(60)
    marks["rss_samples"] = samples
    marks["wall_s"] = time.monotonic() - started
    return monitor, marks


def count_descriptions(prefix: str) -> dict:
    client = redis.Redis(decode_responses=True)
    counts: dict = {}
    for _, fields in client.xrange(f"{prefix}descriptions"):
        msg = parse_entry(fields)
        counts.setdefault(msg.camera.id, {}).setdefault(msg.prompt_id, 0)
        counts[msg.camera.id][msg.prompt_id] += 1
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    return counts


def cadence(args, tmp: Path, model_dir: Path) -> dict:
    prefix = f"bench:soak:{os.getpid()}:"
    uploads = tmp / "uploads"
    uploads.mkdir()
    clips = [write_h264(tmp / f"upload-{i}.mp4", width=640, height=360, fps=15, seconds=30, gop=30)
             for i in range(int(args.seconds // 30) + 1)]
    os.rename(clips[0], uploads / clips[0].name)  # the first upload is there at start, the rest arrive
    server, base = start_rtsp({"/cam": "live:640x360@15/30"})
    cams = [{"id": "rtsp-cam", "url": f"{base}/cam", "kind": "fixed"},
            {"id": "dashcam", "url": str(uploads), "kind": "dashcam", "pace": "realtime"}]

    def drop_uploads(elapsed):
        due = int(elapsed // 30) + 1
        for clip in clips[1:due]:
            if clip.exists():
                os.rename(clip, uploads / clip.name)

    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    try:
        monitor, marks = run_monitor(config_for(cams, tmp, model_dir, prefix), args.seconds, drop_uploads)
    finally:
        server.terminate()
        server.wait(10)
    counts = count_descriptions(prefix)
    expected = args.seconds / 5
    return {"seconds": args.seconds, "stride_s": 5, "expected_per_camera": expected, "descriptions": counts,
            "errors": [r for r in errors.records if r.startswith("ERROR") or r.startswith("CRITICAL")],
            "warnings": [r for r in errors.records if r.startswith("WARNING")][:20],
            "scheduler": monitor.stats(), "exit_code": marks.get("code")}


def memory(args, tmp: Path, model_dir: Path) -> dict:
    prefix = f"bench:soak:{os.getpid()}:"
    video = write_h264(tmp / "cam1080.mp4", width=1920, height=1080, fps=30, seconds=20, gop=60)
    server, base = start_rtsp({f"/cam{i}": str(video) for i in range(args.cameras)})
    cams = [{"id": f"cam{i}", "url": f"{base}/cam{i}", "kind": "fixed"} for i in range(args.cameras)]
    warm = {}

    def mark_warm(elapsed):
        if "rss" not in warm and elapsed >= 20:  # the first clips of every camera are out by then
            warm.update(rss=rss_mb(), at_s=elapsed)

    try:
        monitor, marks = run_monitor(config_for(cams, tmp, model_dir, prefix), args.seconds, mark_warm)
    finally:
        server.terminate()
        server.wait(10)
    end_rss = marks["rss_samples"][-1][1]
    counts = count_descriptions(prefix)
    return {"cameras": args.cameras, "seconds": args.seconds, "stream": "1920x1080 30 fps H.264, GOP 2 s, RTSP",
            "rss_before_model_warmup_mb": round(marks["rss_start"], 1),
            "rss_ready_before_frames_mb": round(marks["rss_ready"], 1), "rss_warm_mb": round(warm.get("rss", 0), 1),
            "warm_at_s": warm.get("at_s"), "rss_end_mb": end_rss,
            "rss_growth_after_warm_mb_per_camera": round((end_rss - warm.get("rss", end_rss)) / args.cameras, 2),
            "rss_over_ready_mb_per_camera": round((end_rss - marks["rss_ready"]) / args.cameras, 2),
            "rss_samples": marks["rss_samples"], "descriptions": counts, "scheduler": monitor.stats()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["cadence", "memory"])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--cameras", type=int, default=4)
    args = parser.parse_args()
    setup_logging("INFO")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        model_dir = make_tiny_checkpoint(tmp / "tiny")
        result = (cadence if args.scenario == "cadence" else memory)(args, tmp, model_dir)
    result.update(scenario=args.scenario, date=str(date.today()), machine=f"{platform.node()} {os.cpu_count()} cores",
                  command=" ".join(sys.argv), commit=subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                                                    capture_output=True, text=True, cwd=ROOT).stdout.strip())
    out = ROOT / "bench" / "results" / f"soak-{args.scenario}-{date.today()}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
