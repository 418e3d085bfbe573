"""Trains the demo checkpoint on rendered scenes and writes it where the package ships it.

    python -m monitor.demo_model.train [OUT_DIR]      # default: monitor/assets/demo-model

Deterministic: fixed seeds for the scenes, the windows, the initial weights and the batch order, one
CPU thread. Inputs are built the way the fast engine builds them: frames through the engine's
preprocessing (clips.py, data.py), prompt ids split at the video token by the engine's splitter,
the video token repeated once per video feature; the answers are teacher-forced after the prompt.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from monitor.assets.scenes import ROAD
from monitor.backends.preprocess import FramePreprocessor
from monitor.backends.prompt_tokens import PromptSplitter
from monitor.demo_model import DEMO_MODEL_DIR
from monitor.demo_model.answers import anomaly_answer, road_answer
from monitor.demo_model.build import PATCH, build_config, build_processor, build_tokenizer, prompts
from monitor.demo_model.data import FRAMES, normalise, render_set

logger = logging.getLogger(__name__)

SEED = 0
TRAIN_SEEDS = range(1000, 1300)  # scene seeds; the evaluation uses seeds from 100000 on
WINDOWS_PER_SCENE = 4
STEPS, BATCH, LR = 400, 8, 2e-3
FIRST_TOKEN_WEIGHT = 4.0  # the Yes/No token carries the anomaly score: weigh it above the prose


class Sequences:
    """Token ids of prompt + video + answer, and which positions are answer (to learn)."""

    def __init__(self, processor, video_tokens: int):
        self.tok = processor.tokenizer
        self.video_id = self.tok.convert_tokens_to_ids("<video>")
        splitter = PromptSplitter(processor)
        self.anomaly, self.road = (splitter.split(p) for p in prompts())
        self.video_tokens = video_tokens

    def build(self, split, answer: str) -> tuple[list[int], int]:
        """(ids, index of the first answer token)."""
        ids = [*split.prefix, *[self.video_id] * self.video_tokens, *split.suffix]
        answer_ids = self.tok.encode(" " + answer, add_special_tokens=False) + [self.tok.eos_token_id]
        return ids + answer_ids, len(ids)

    def for_window(self, win) -> list[tuple[list[int], int]]:
        """The anomaly prompt for every camera; dashcams (road scenes) also answer the road prompt."""
        out = [self.build(self.anomaly, anomaly_answer(win.spec.kind, win.incident if win.label == "incident" else None))]
        if win.spec.kind == ROAD:
            out.append(self.build(self.road, road_answer(win.incident if win.label == "incident" else None)))
        return out


def batch_tensors(seqs, pad: int):
    length = max(len(ids) for ids, _ in seqs)
    input_ids = torch.full((len(seqs), length), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    weights = torch.zeros((len(seqs), length))
    for row, (ids, first) in enumerate(seqs):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        mask[row, :len(ids)] = 1
        weights[row, first:len(ids)] = 1.0
        weights[row, first] = FIRST_TOKEN_WEIGHT
    return input_ids, mask, weights


def loss_of(model, pixels, input_ids, mask, weights) -> torch.Tensor:
    logits = model(input_ids=input_ids, attention_mask=mask, pixel_values_videos=pixels).logits
    # The logit at position i predicts token i + 1.
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), input_ids[:, 1:].flatten(), reduction="none")
    w = weights[:, 1:].flatten()
    return (ce * w).sum() / w.sum()


def train(out: Path) -> dict:
    from transformers import LlavaNextVideoForConditionalGeneration

    started = time.time()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    model = LlavaNextVideoForConditionalGeneration(build_config(tokenizer)).train()
    pre = FramePreprocessor(processor.video_processor, torch.device("cpu"), torch.float32)
    data = render_set(pre, TRAIN_SEEDS, WINDOWS_PER_SCENE, SEED)
    rendered = time.time() - started
    per_frame = (pre.crop_h // PATCH // 2) * (pre.crop_w // PATCH // 2)
    seqs = Sequences(processor, FRAMES * per_frame)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=STEPS, pct_start=0.1)
    order = np.random.default_rng(SEED)
    losses = []
    for step in range(STEPS):
        idx = order.choice(len(data.windows), BATCH, replace=False)
        rows, clip_of = [], []
        for i in idx:
            for seq in seqs.for_window(data.windows[i]):
                rows.append(seq)
                clip_of.append(i)
        pixels = normalise(pre, data.pixels[torch.tensor(clip_of)])
        loss = loss_of(model, pixels, *batch_tensors(rows, tokenizer.pad_token_id))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == STEPS - 1:
            logger.info("step %d/%d loss %.4f (%.0f s)", step, STEPS, float(np.mean(losses[-50:])), time.time() - started)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    record = {"train_seeds": [TRAIN_SEEDS.start, TRAIN_SEEDS.stop], "clips": len(data.windows),
              "incident_clips": sum(w.label == "incident" for w in data.windows), "steps": STEPS, "batch": BATCH,
              "lr": LR, "final_loss": float(np.mean(losses[-50:])), "render_s": round(rendered, 1),
              "total_s": round(time.time() - started, 1), "threads": 1}
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    logger.info("wrote the demo model to %s: %s", out, record)
    return record


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = sys.argv[1:] if argv is None else argv
    train(Path(args[0]) if args else DEMO_MODEL_DIR)


if __name__ == "__main__":
    main()
