"""Video features: CLIP tower, feature-layer selection, spatial pooling and projection, per clip.

Written against the model's parts rather than `get_video_features`, whose arguments and return
type differ between transformers 5.17 and 5.24; the arithmetic is the same.
"""

from __future__ import annotations

import torch


def video_features(model, pixels: torch.Tensor) -> torch.Tensor:
    """pixels N x K x 3 x H x W -> N x (K * tokens a frame) x text hidden size."""
    core = model.model
    config = model.config
    n, k = pixels.shape[:2]
    out = core.vision_tower(pixels.flatten(0, 1), output_hidden_states=True, return_dict=True)
    layer = config.vision_feature_layer
    if isinstance(layer, int):
        feats = out.hidden_states[layer]
    else:
        feats = torch.cat([out.hidden_states[i] for i in layer], dim=-1)
    if config.vision_feature_select_strategy == "default":
        feats = feats[:, 1:]  # drop CLS
    feats = core.multi_modal_projector(core.vision_resampler(feats))
    return feats.reshape(n, k * feats.shape[1], feats.shape[-1])
