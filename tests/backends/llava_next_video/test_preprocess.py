"""Frame preprocessing on the device matches the HF video processor numerically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from monitor.backends.llava_next_video.preprocess import FramePreprocessor


@pytest.mark.parametrize("height,width", [(336, 448), (336, 336), (240, 320), (360, 640), (500, 336), (337, 999)])
def test_matches_the_hf_video_processor(tiny_model_dir, height, width):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    video = np.random.default_rng(height * width).integers(0, 256, (3, height, width, 3), dtype=np.uint8)
    want = processor.video_processor(videos=[video], return_tensors="pt")["pixel_values_videos"][0]
    got = FramePreprocessor(processor.video_processor, torch.device("cpu"), torch.float32)([video])[0]
    assert got.shape == want.shape == (3, 3, 336, 336)
    assert torch.isfinite(got).all()
    assert (got - want).abs().max().item() < 1e-5


def test_output_size_follows_the_short_side(tiny_model_dir):
    pre = FramePreprocessor(AutoProcessor.from_pretrained(tiny_model_dir).video_processor, torch.device("cpu"),
                            torch.float32)
    assert pre.output_size(720, 1280) == (336, 597)
    assert pre.output_size(1280, 720) == (597, 336)
    assert pre.output_size(336, 500) == (336, 500)
