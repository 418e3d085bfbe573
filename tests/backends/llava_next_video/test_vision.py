"""The engine's vision tower gives what transformers' tower gives at the configured feature layer."""

from __future__ import annotations

import torch

from monitor.inference.registry import create_backend
from monitor.backends.llava_next_video.vision import vision_model
from monitor.config.models import ModelConfig
from tests.backends.conftest import make_clip


def test_features_match_the_library_tower_and_skip_unused_layers(tiny_model_dir):
    backend = create_backend(ModelConfig(id=str(tiny_model_dir), options={"engine": "fast"}))
    engine, model = backend.engine, backend.model
    pixels = engine.preprocess([make_clip(s, frames=2).frames for s in range(2)])
    got = engine.runner.video_features(pixels)

    core, config = model.model, model.config
    with torch.no_grad():
        out = core.vision_tower(pixels.flatten(0, 1), output_hidden_states=True, return_dict=True)
        feats = out.hidden_states[config.vision_feature_layer][:, 1:]
        want = core.multi_modal_projector(core.vision_resampler(feats)).reshape(got.shape)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    layers = len(vision_model(core.vision_tower).encoder.layers)
    assert config.vision_feature_layer == -2
    assert len(engine.runner.video_features.layers) == layers - 1
