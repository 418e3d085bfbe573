"""How well the demo model tells incident windows from normal ones, on scenes the training never saw.

Held-out scenes (seeds from 100000 on; training used 1000-1299) are rendered, encoded to H.264 like
the bundled footage (CRF 30; preset veryfast, for speed), decoded and scaled as a camera does, cut
into the demo's windows and run through the real backend (`from_pretrained` on the checkpoint
folder, the fast engine the daemon uses). The bundled footage (street.mp4, road.mp4) is scored
the same way. Reports ROC AUC of the anomaly score, a few descriptions next to the ground truth,
and how often the first sentence of a description is the true one.
Usage: python3 bench/demo_model_eval.py [--scenes 40] [--model DIR]
Writes bench/results/demo-model-eval-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.assets.make_footage import BUNDLED, scene_frames, write_mp4  # noqa: E402
from monitor.assets.scenes import ROAD, STREET, random_spec  # noqa: E402
from monitor.demo_model import DEMO_MODEL_DIR  # noqa: E402
from monitor.demo_model.answers import anomaly_answer  # noqa: E402
from monitor.demo_model.clips import decoded_frames, decoded_video, windows  # noqa: E402

HELD_OUT_SEED = 100_000
WINDOW_SECONDS, STRIDE, FRAMES = 4.0, 1.0, 8  # the demo's window, cut every second for more windows


def roc_auc(positives: list[float], negatives: list[float]) -> float | None:
    """P(score of a random positive > score of a random negative), ties counting half (Mann-Whitney)."""
    if not positives or not negatives:
        return None
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def load_backend(model_dir: Path):
    from monitor.inference.registry import create_backend
    from monitor.config.models import ModelConfig

    return create_backend(ModelConfig(id=str(model_dir), max_new_tokens=80, max_batch=8, describe="always"))


def requests_for(spec, video, camera_kind: str, describe: bool):
    from monitor.inference.contract import InferenceRequest
    from monitor.clip import Clip
    from monitor.config.models import default_prompts
    from monitor.inference.prompts import ANOMALY, build_prompt

    prompt = build_prompt(ANOMALY, default_prompts())
    out = []
    for n, win in enumerate(windows(spec, WINDOW_SECONDS, STRIDE, FRAMES)):
        clip = Clip(camera_kind, n, decoded_frames(video, win), win.times, win.start, win.end)
        out.append((win, InferenceRequest(clip=clip, prompts=(prompt,), describe=describe)))
    return out


def run_scene(backend, spec, path: Path, describe_every: int) -> list[dict]:
    video = decoded_video(path)
    pairs = requests_for(spec, video, spec.kind, describe=False)
    scores = backend.infer([r for _, r in pairs])
    rows = []
    for n, ((win, request), result) in enumerate(zip(pairs, scores)):
        row = {"scene": spec.kind, "seed": spec.seed, "start": round(win.start, 2), "end": round(win.end, 2),
               "label": win.label, "incident": win.incident, "score": round(result.results[0].score, 4)}
        if describe_every and n % describe_every == 0 and win.label != "ambiguous":
            from dataclasses import replace
            text = backend.infer([replace(request, describe=True)])[0].results[0].text
            truth = anomaly_answer(spec.kind, win.incident if win.label == "incident" else None, verdict=False)
            row.update(text=text, true_first_sentence=truth, first_sentence_right=text.startswith(truth))
        rows.append(row)
    return rows


def summary(rows: list[dict]) -> dict:
    pos = [r["score"] for r in rows if r["label"] == "incident"]
    neg = [r["score"] for r in rows if r["label"] == "normal"]
    any_overlap = [r["score"] for r in rows if r["label"] != "normal"]
    per_kind = {}
    for kind in sorted({r["incident"] for r in rows if r["label"] == "incident"}):
        per_kind[kind] = roc_auc([r["score"] for r in rows if r["label"] == "incident" and r["incident"] == kind], neg)
    described = [r for r in rows if "text" in r]
    return {
        "windows": {"incident": len(pos), "normal": len(neg), "ambiguous": len(any_overlap) - len(pos)},
        "roc_auc": roc_auc(pos, neg),
        "roc_auc_ambiguous_as_incident": roc_auc(any_overlap, neg),
        "roc_auc_by_incident": per_kind,
        "accuracy_at_0.5": (sum(s >= 0.5 for s in pos) + sum(s < 0.5 for s in neg)) / max(1, len(pos) + len(neg)),
        "descriptions": len(described),
        "first_sentence_right": sum(r["first_sentence_right"] for r in described) / max(1, len(described)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=40, help="held-out scenes (half street, half road)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each held-out scene")
    parser.add_argument("--describe-every", type=int, default=5, help="describe every Nth window (0: none)")
    parser.add_argument("--model", default=str(DEMO_MODEL_DIR), help="checkpoint folder")
    parser.add_argument("--out", default=None, help="result JSON (default bench/results/demo-model-eval-<date>.json)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.time()
    backend = load_backend(Path(args.model))
    held_out, bundled = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.scenes):
            spec = random_spec(STREET if i % 2 == 0 else ROAD, HELD_OUT_SEED + i, args.seconds)
            path = write_mp4(Path(tmp) / f"{i}.mp4", scene_frames(spec), preset="veryfast")
            held_out += run_scene(backend, spec, path, args.describe_every)
            print(f"scene {i + 1}/{args.scenes}: {summary(held_out)['roc_auc']}", flush=True)
    for name, spec in BUNDLED.items():
        bundled += run_scene(backend, spec, ROOT / "monitor" / "assets" / name, args.describe_every)
    result = {
        "what": "demo model: anomaly score (P(Yes) of the anomaly prompt) on held-out rendered scenes",
        "date": date.today().isoformat(), "model": str(Path(args.model).resolve().relative_to(ROOT))
        if Path(args.model).resolve().is_relative_to(ROOT) else args.model,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} thread, shared CPU",
        "window": {"seconds": WINDOW_SECONDS, "stride": STRIDE, "frames": FRAMES},
        "label_rule": "incident: the incident is in >= 3 of the 8 sampled frames; normal: in none; ambiguous: 1-2",
        "held_out": {"seeds": [HELD_OUT_SEED, HELD_OUT_SEED + args.scenes], "scene_seconds": args.seconds,
                     **summary(held_out)},
        "bundled_footage": summary(bundled),
        "seconds": round(time.time() - started, 1),
        "examples": [r for r in held_out + bundled if "text" in r][:12],
        "windows_scored": held_out + bundled,
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"demo-model-eval-{date.today().isoformat()}.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("held_out", "bundled_footage", "seconds")}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
