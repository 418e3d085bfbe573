"""Trains the demo checkpoint on rendered scenes and writes it where the package ships it.

    python -m monitor.demo_model.train [OUT_DIR]      # default: monitor/assets/demo-model

Two stages: the vision tower and projector first learn to see the incidents through throw-away
readouts (pretrain_vision); then the whole model learns the answers, teacher-forced after the
prompt, with the readouts still on. Deterministic: fixed seeds for the scenes, the windows, the
initial weights and the batch order, one CPU thread. Inputs are built the way the fast engine builds
them: frames through the engine's preprocessing (clips.py, data.py), prompt ids split at the video
token by the engine's splitter, the video token repeated once per video feature.
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
from monitor.backends.llava_next_video.preprocess import FramePreprocessor
from monitor.backends.llava_next_video.prompt_tokens import PromptSplitter
from monitor.demo_model import DEMO_MODEL_DIR
from monitor.demo_model.answers import anomaly_answer, road_answer
from monitor.demo_model.build import PATCH, build_config, build_processor, build_tokenizer, prompts
from monitor.demo_model.data import FRAMES, normalise, render_set

logger = logging.getLogger(__name__)

SEED = 0
TRAIN_SEEDS = range(1000, 1300)  # scene seeds; the evaluation uses seeds from 100000 on
WINDOWS_PER_SCENE = 4
STEPS, BATCH, LR = 400, 8, 2e-3
VISION_STEPS, VISION_BATCH, VISION_LR = 550, 16, 2e-3
AUX_WEIGHT = 0.5
FIRST_TOKEN_WEIGHT = 10.0  # the Yes/No token carries the anomaly score: weigh it above the prose
CLASSES = (None, "person_fall", "car_stopped", "smoke", "wrong_way")


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
        incident = win.incident if win.label == "incident" else None
        out = [self.build(self.anomaly, anomaly_answer(win.spec.kind, incident))]
        if win.spec.kind == ROAD:
            out.append(self.build(self.road, road_answer(incident)))
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


class Readouts(torch.nn.Module):
    """Throw-away linear readouts of the video features, used only in training: of each video token
    (does it show the incident? from the generator's ground truth) and of the mean and max of a
    clip's tokens (which incident?)."""

    def __init__(self, hidden: int, pos_weight: float):
        super().__init__()
        self.clip, self.token = torch.nn.Linear(2 * hidden, len(CLASSES)), torch.nn.Linear(hidden, 1)
        self.pos_weight = torch.tensor(pos_weight)

    def forward(self, feats, tokens, labels) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.clip(torch.cat([feats.mean(1), feats.amax(1)], dim=-1))
        token_loss = torch.nn.functional.binary_cross_entropy_with_logits(
            self.token(feats).squeeze(-1), tokens.float(), pos_weight=self.pos_weight)
        return torch.nn.functional.cross_entropy(logits, labels) + token_loss, logits.argmax(-1) == labels


def class_labels(data) -> torch.Tensor:
    return torch.tensor([CLASSES.index(w.incident if w.label == "incident" else None) for w in data.windows])


def pretrain_vision(model, data, pre, readouts) -> float:
    """Teach the vision tower and projector to see the incidents before the language model learns to
    read them. Without this the language model learned the answers' wording but left the first token
    at the prior (P(Yes) 0.52 on every clip): one label a clip is too weak a signal for a vision tower
    trained from scratch; the per-token ground truth is 128 labels a clip."""
    core = model.model
    params = [*core.vision_tower.parameters(), *core.multi_modal_projector.parameters(), *readouts.parameters()]
    optimizer = torch.optim.AdamW(params, lr=VISION_LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=VISION_LR, total_steps=VISION_STEPS, pct_start=0.1)
    labels, order, accuracy = class_labels(data), np.random.default_rng(SEED + 1), []
    for step in range(VISION_STEPS):
        idx = torch.from_numpy(order.choice(len(data.windows), VISION_BATCH, replace=False))
        feats = core.get_video_features(pixel_values_videos=normalise(pre, data.pixels[idx])).pooler_output
        loss, right = readouts(feats, data.tokens[idx], labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        accuracy.append(float(right.float().mean()))
        if step % 25 == 0 or step == VISION_STEPS - 1:
            logger.info("vision step %d/%d loss %.4f clip accuracy %.2f", step, VISION_STEPS, loss.item(),
                        float(np.mean(accuracy[-25:])))
    return float(np.mean(accuracy[-50:]))


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
    hidden = model.config.text_config.hidden_size
    readouts = Readouts(hidden, float((~data.tokens).sum() / data.tokens.sum().clamp(min=1)))
    vision_accuracy = pretrain_vision(model, data, pre, readouts)
    per_frame = (pre.crop_h // PATCH // 2) * (pre.crop_w // PATCH // 2)
    seqs = Sequences(processor, FRAMES * per_frame)
    # The readouts stay on while the language model learns, so the video features stay sharp.
    features = {}
    hook = model.model.multi_modal_projector.register_forward_hook(
        lambda _m, _i, out: features.__setitem__("out", out))
    labels = class_labels(data)
    optimizer = torch.optim.AdamW([*model.parameters(), *readouts.parameters()], lr=LR, weight_decay=0.01)
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
        picked = torch.tensor(clip_of)
        aux, _ = readouts(features["out"].reshape(len(rows), -1, hidden), data.tokens[picked], labels[picked])
        loss = loss + AUX_WEIGHT * aux
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == STEPS - 1:
            logger.info("step %d/%d loss %.4f (%.0f s)", step, STEPS, float(np.mean(losses[-50:])),
                        time.time() - started)
    hook.remove()
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    record = {"train_seeds": [TRAIN_SEEDS.start, TRAIN_SEEDS.stop], "clips": len(data.windows),
              "incident_clips": sum(w.label == "incident" for w in data.windows), "steps": STEPS, "batch": BATCH,
              "lr": LR, "vision_steps": VISION_STEPS, "vision_accuracy": vision_accuracy,
              "final_loss": float(np.mean(losses[-50:])), "render_s": round(rendered, 1),
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
