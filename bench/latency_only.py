"""Latency only (describe-always, on_alert) through the daemon's scheduler, as bench/throughput.py's last part: a
short GPU check. Run on a GPU machine: python3 bench/latency_only.py (writes $OUT/latency_fixed_bench.json)."""
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
import torch
from bench.arch import build_model, build_processor
from bench.workload import PROMPTS, make_clips
from bench.latency import latency, on_alert_latency
from monitor.backends.llava_next_video.backend import EngineSettings
from monitor.backends.llava_next_video.engine import Engine
dev = torch.device("cuda")
proc = build_processor(); model = build_model("7b", proc, dev, torch.bfloat16)
engine = Engine(model, proc, EngineSettings(max_batch=32, max_new_tokens=100, compile=True, batch_shapes=[1, 2, 4, 32]), dev, torch.bfloat16)
engine.ignore_eos = True
clips = make_clips(32, 8, 336, 597)
t0 = time.perf_counter(); engine.warmup(PROMPTS, 8); print("warmup", time.perf_counter() - t0, flush=True)
class A: cameras = 50; stride = 5.0; strides = 3; latency_batch = 32; alert_share = 0.1
out = {"card": torch.cuda.get_device_name(), "python": sys.version.split()[0]}
out["latency_describe"] = latency(engine, clips, 50, 5.0, 3, 32, True)
print("describe", out["latency_describe"], flush=True)
out["latency_on_alert"] = on_alert_latency(engine, clips, A)
print("on_alert", out["latency_on_alert"], flush=True)
Path(os.environ.get("OUT", "."), "latency_fixed_bench.json").write_text(json.dumps(out, indent=1))
