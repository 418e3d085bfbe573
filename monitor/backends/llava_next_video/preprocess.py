"""Frame preprocessing on the model's device, numerically the HF video processor's recipe.

The processor's CPU path cost about 106 ms a clip for two prompts (DESIGN.md); here the uint8
frames travel to the device once and the resize, centre crop and CLIP normalisation run there,
with the processor's own parameters (size, crop, mean, std, resampling) read from the checkpoint.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

logger = logging.getLogger(__name__)


class FramePreprocessor:
    def __init__(self, video_processor, device: torch.device, dtype: torch.dtype):
        size, crop = video_processor.size, video_processor.crop_size
        self.shortest_edge = int(size["shortest_edge"] if isinstance(size, dict) else size.shortest_edge)
        self.crop_h = int(crop["height"] if isinstance(crop, dict) else crop.height)
        self.crop_w = int(crop["width"] if isinstance(crop, dict) else crop.width)
        rescale = float(video_processor.rescale_factor)
        # The processor fuses rescale into normalize (mean / rescale, std / rescale); so do we,
        # so that the float arithmetic is the same operation for operation.
        self.mean = [m / rescale for m in video_processor.image_mean]
        self.std = [s / rescale for s in video_processor.image_std]
        self.resample = video_processor.resample
        self.device, self.dtype = device, dtype
        # On the device once: torchvision's normalize builds them from lists on every call, two
        # synchronous host-to-device copies a clip that stall the CPU until the GPU's queue drains.
        self._mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
        self._std = torch.tensor(self.std, dtype=torch.float32, device=device).view(-1, 1, 1)
        # Uploads go on a stream of their own: on the compute stream a copy (and the pinned block it
        # holds) waits behind every queued kernel, so the next batch's frames could not be staged
        # while the current batch runs, and the CPU stalled in pinned allocation until the GPU drained.
        self._upload_stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        if not (video_processor.do_resize and video_processor.do_center_crop and video_processor.do_normalize):
            raise ValueError("the fast engine implements resize + centre crop + normalize; this processor differs")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Short side to `shortest_edge`, long side scaled and truncated, as transformers does."""
        s = self.shortest_edge
        if (height <= width and height == s) or (width <= height and width == s):
            return height, width
        if width < height:
            return int(s * height / width), s
        return s, int(s * width / height)

    def __call__(self, videos: Sequence[np.ndarray]) -> torch.Tensor:
        """K x H x W x 3 uint8 videos (all with the same K) -> N x K x 3 x crop_h x crop_w in the model dtype."""
        return torch.stack([self.one(v) for v in videos])

    def one(self, video: np.ndarray) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as tvF

        x = self._upload(torch.from_numpy(np.ascontiguousarray(video)))
        x = x.permute(0, 3, 1, 2)
        oh, ow = self.output_size(x.shape[-2], x.shape[-1])
        if (oh, ow) != tuple(x.shape[-2:]):
            x = tvF.resize(x, [oh, ow], interpolation=_interpolation(self.resample), antialias=True)
        top, left = int((oh - self.crop_h) / 2.0), int((ow - self.crop_w) / 2.0)
        if top < 0 or left < 0:
            raise ValueError(f"frames {oh}x{ow} after resize are smaller than the {self.crop_h}x{self.crop_w} crop")
        x = x[..., top:top + self.crop_h, left:left + self.crop_w]
        # torchvision's normalize, operation for operation (sub, then div), without a host sync.
        x = x.to(torch.float32).sub_(self._mean).div_(self._std)
        return x.to(self.dtype)

    def _upload(self, frames: torch.Tensor) -> torch.Tensor:
        if self._upload_stream is None:
            return frames
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self._upload_stream):
            on_device = frames.pin_memory().to(self.device, non_blocking=True)
        compute.wait_stream(self._upload_stream)
        on_device.record_stream(compute)  # allocated on the upload stream, used and freed on compute
        return on_device


def _interpolation(resample):
    from torchvision.transforms.v2 import InterpolationMode

    if isinstance(resample, InterpolationMode):
        return resample
    # PIL codes: 0 nearest, 2 bilinear, 3 bicubic (the LLaVA checkpoints use 3).
    return {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC}.get(
        int(resample), InterpolationMode.BICUBIC)
