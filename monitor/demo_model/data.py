"""Training and evaluation clips rendered from the scene generator, held as uint8 model inputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch

from monitor.assets.scenes import H, ROAD, STREET, W, make_scene, random_spec
from monitor.demo_model.clips import Window, as_decoded, frame_time, window

logger = logging.getLogger(__name__)

FRAMES = 8
WINDOW_SECONDS = (3.0, 10.0)  # training windows vary in length around the demo's 4 s
SCENE_SECONDS = 20.0


GRID = 4  # video tokens a frame side after pooling (8 x 8 patches of 21 px, pooled by 2)
TOKEN_SHARE = 0.02  # a video token shows the incident when this share of its cell does


@dataclass
class ClipSet:
    pixels: torch.Tensor        # N x K x 3 x crop x crop uint8, resized and cropped as the engine does
    tokens: torch.Tensor        # N x K*GRID*GRID bool: which video tokens show the incident
    windows: list[Window]


def incident_tokens(scene, clean, t: float) -> torch.Tensor:
    """Which of a frame's GRID x GRID video tokens show the incident: pixels that differ from the same
    scene without its incidents, over the square centre crop the processor keeps."""
    if scene.spec.incident_at(t) is None:
        return torch.zeros(GRID * GRID, dtype=torch.bool)
    diff = (scene.frame(t) != clean.frame(t)).any(-1)
    left = (W - H) // 2
    cells = diff[:, left:left + H].reshape(GRID, H // GRID, GRID, H // GRID).mean(axis=(1, 3))
    return torch.from_numpy(cells.reshape(-1) > TOKEN_SHARE)


def crop_uint8(pre, video: np.ndarray) -> torch.Tensor:
    """The engine's FramePreprocessor up to (not including) normalisation, kept as uint8 to save memory;
    `normalise` finishes it. The same calls as FramePreprocessor.one, so the inputs are identical."""
    from torchvision.transforms.v2 import functional as tvF

    from monitor.backends.llava_next_video.preprocess import _interpolation

    x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2)
    oh, ow = pre.output_size(x.shape[-2], x.shape[-1])
    if (oh, ow) != tuple(x.shape[-2:]):
        x = tvF.resize(x, [oh, ow], interpolation=_interpolation(pre.resample), antialias=True)
    top, left = int((oh - pre.crop_h) / 2.0), int((ow - pre.crop_w) / 2.0)
    return x[..., top:top + pre.crop_h, left:left + pre.crop_w].contiguous()


def normalise(pre, pixels: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as tvF

    return tvF.normalize(pixels.to(torch.float32), pre.mean, pre.std)


def _frame(pre, scene, t: float, cache: dict) -> torch.Tensor:
    """One frame as the model input (1 x 3 x crop x crop uint8); windows of a scene share frames."""
    if t not in cache:
        cache[t] = crop_uint8(pre, as_decoded(scene.frame(t))[None])
    return cache[t]


def render_set(pre, seeds: range, windows_per_scene: int, rng_seed: int) -> ClipSet:
    """Scenes of both kinds (even seeds street, odd road), each cut into windows of one random length
    on a stride that is a multiple of the sample spacing (so windows share frames: cheaper to render);
    windows whose incident is only at their edge (ambiguous) are skipped."""
    rng = np.random.default_rng(rng_seed)
    pixels, tokens, wins = [], [], []
    for seed in seeds:
        spec = random_spec(STREET if seed % 2 == 0 else ROAD, seed, SCENE_SECONDS)
        scene, clean, cache = make_scene(spec), make_scene(replace(spec, incidents=())), {}
        seconds = float(rng.uniform(*WINDOW_SECONDS))
        stride = seconds / FRAMES * max(1, round(1.5 * FRAMES / seconds))
        ends = np.arange(seconds, SCENE_SECONDS, stride)
        candidates = [window(spec, e - seconds, e, FRAMES) for e in ends]
        candidates = [w for w in candidates if w.label != "ambiguous"]
        for i in rng.permutation(len(candidates))[:windows_per_scene]:
            win = candidates[i]
            pixels.append(torch.cat([_frame(pre, scene, frame_time(t), cache) for t in win.times]))
            tokens.append(torch.cat([incident_tokens(scene, clean, frame_time(t)) for t in win.times]))
            wins.append(win)
    logger.info("rendered %d clips (%d with an incident)", len(wins), sum(w.label == "incident" for w in wins))
    return ClipSet(torch.stack(pixels), torch.stack(tokens), wins)
