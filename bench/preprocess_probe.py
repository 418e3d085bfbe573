"""Preprocessing on the GPU, the previous recipe (torchvision normalize, upload on the compute stream)
against the engine's (device-resident mean/std, upload on its own stream), in the
bench's context (7B model loaded): ms a clip, host syncs a call, CPU time to return while the GPU is busy.
Run on a GPU machine: python3 bench/preprocess_probe.py (writes $OUT/prep_probe.json)."""
import json, os, sys, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from bench.arch import build_model, build_processor
from bench.workload import make_clips
from monitor.backends.llava_next_video.preprocess import FramePreprocessor

class OldPre(FramePreprocessor):
    def one(self, video):
        import numpy as np
        from torchvision.transforms.v2 import functional as tvF
        x = torch.from_numpy(np.ascontiguousarray(video)).pin_memory().to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2)
        oh, ow = self.output_size(x.shape[-2], x.shape[-1])
        top, left = int((oh - self.crop_h) / 2.0), int((ow - self.crop_w) / 2.0)
        x = x[..., top:top + self.crop_h, left:left + self.crop_w]
        return tvF.normalize(x.to(torch.float32), self.mean, self.std).to(self.dtype)

class NoStreamPre(FramePreprocessor):
    def _upload(self, frames):
        return frames.pin_memory().to(self.device, non_blocking=True)

dev = torch.device("cuda")
proc = build_processor()
model = build_model(os.environ.get("ARCH", "7b"), proc, dev, torch.bfloat16)
clips = make_clips(8, 8, 336, 597)
frames = [c.frames for c in clips]
out = {"card": torch.cuda.get_device_name()}
pres = {"old": OldPre(proc.video_processor, dev, torch.bfloat16), "nosync_same_stream": NoStreamPre(proc.video_processor, dev, torch.bfloat16), "new": FramePreprocessor(proc.video_processor, dev, torch.bfloat16)}
a = pres["old"](frames); b = pres["new"](frames)
out["max_abs_diff"] = (a.float() - b.float()).abs().max().item()
big = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
for name, pre in pres.items():
    pre(frames); torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5): pre(frames)
    torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) / 5 / 8 * 1000
    torch.cuda.set_sync_debug_mode(1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        pre(frames)
    torch.cuda.set_sync_debug_mode(0)
    syncs = sum("synchroniz" in str(x.message) for x in w)
    torch.cuda.synchronize()
    for _ in range(20): big @ big   # about 20 x 1.1 TFLOP queued: tens of ms of GPU work
    t0 = time.perf_counter(); pre(frames); cpu_busy = (time.perf_counter() - t0) * 1000
    torch.cuda.synchronize()
    out[name] = {"ms_per_clip": ms, "syncs_per_call_8_clips": syncs, "cpu_ms_to_return_gpu_busy_8_clips": cpu_busy}
    print(name, out[name], flush=True)
torch.cuda.synchronize()
host = torch.from_numpy(frames[0])
for label in ("pin_idle", "pin_busy"):
    if label == "pin_busy":
        for _ in range(20): big @ big
    t0 = time.perf_counter(); h = host.pin_memory(); h.to(dev, non_blocking=True); out[label + "_ms"] = (time.perf_counter() - t0) * 1000
    del h
torch.cuda.synchronize()
print(json.dumps(out))
Path(os.environ.get("OUT", "."), "prep_probe.json").write_text(json.dumps(out, indent=1))
