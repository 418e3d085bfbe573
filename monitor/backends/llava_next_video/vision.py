"""Video features: CLIP tower, feature-layer selection, spatial pooling and projection, per clip.

Written against the model's parts rather than `get_video_features`, whose arguments and return
type differ between transformers 5.17 and 5.24; the arithmetic is the same. The tower runs only
the layers whose output is used (LLaVA takes the second-to-last layer's, so CLIP's last layer is
skipped), each as one function of the layer's weights with q/k/v as one product, compiled with
the engine's other kernels (fusions.py) on CUDA.
"""

from __future__ import annotations

import torch

from monitor.backends.llava_next_video.fused_weights import fuse_linears


def vision_model(tower):
    """The CLIP transformer itself: transformers 5.17 wraps it as `vision_model`, 5.24 does not."""
    return getattr(tower, "vision_model", tower)


class VideoFeatures:
    def __init__(self, model, kernels):
        core, config = model.model, model.config
        self.core, self.config, self.kernels = core, config, kernels
        vision = vision_model(core.vision_tower)
        self.embeddings, self.pre_norm = vision.embeddings, vision.pre_layrnorm
        all_layers = list(vision.encoder.layers)
        wanted = config.vision_feature_layer
        wanted = [wanted] if isinstance(wanted, int) else list(wanted)
        # hidden_states[0] is the embeddings' output, hidden_states[i] the output of layer i.
        self.wanted = [i if i >= 0 else len(all_layers) + 1 + i for i in wanted]
        self.layers = all_layers[: max(self.wanted)]
        self.args = [self._layer_args(layer) for layer in self.layers]

    @staticmethod
    def _layer_args(layer) -> tuple:
        attn, mlp = layer.self_attn, layer.mlp
        qkv = fuse_linears([attn.q_proj, attn.k_proj, attn.v_proj])
        ln1, ln2 = layer.layer_norm1, layer.layer_norm2
        return (ln1.weight, ln1.bias, ln1.eps, qkv.weight, qkv.bias, attn.out_proj.weight, attn.out_proj.bias,
                ln2.weight, ln2.bias, ln2.eps, mlp.fc1.weight, mlp.fc1.bias, mlp.fc2.weight, mlp.fc2.bias,
                attn.num_heads, float(attn.scale))

    @torch.no_grad()
    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels N x K x 3 x H x W -> N x (K * tokens a frame) x text hidden size."""
        n, k = pixels.shape[:2]
        x = self.pre_norm(self.embeddings(pixels.flatten(0, 1).to(self.pre_norm.weight.dtype)))
        kept = {0: x} if 0 in self.wanted else {}
        for i, args in enumerate(self.args, start=1):
            x = self.kernels.clip_layer(x, *args)
            if i in self.wanted:
                kept[i] = x
        feats = kept[self.wanted[0]] if len(self.wanted) == 1 else torch.cat([kept[i] for i in self.wanted], dim=-1)
        if self.config.vision_feature_select_strategy == "default":
            feats = feats[:, 1:]  # drop CLS
        feats = self.core.multi_modal_projector(self.core.vision_resampler(feats))
        return feats.reshape(n, k * feats.shape[1], feats.shape[-1])
