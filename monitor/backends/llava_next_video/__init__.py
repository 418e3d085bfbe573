"""LLaVA-NeXT-Video: the fast engine and its parts, the reference runner, the tiny offline checkpoint.

This module stays free of torch: the config loader reads `LlavaNextVideoOptions` from it to validate
`model.options`, and `create` imports the engine only when a model is really loaded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LlavaNextVideoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    engine: Literal["fast", "reference"] = Field(
        "fast", description="fast (batched clips, shared video prefix, one-forward scores, continuous batching "
        "of descriptions) or reference (HF processor + generate per clip and prompt; slow, for fidelity checks).")
    compile: bool | None = Field(None, description="Fuse the engine's elementwise work (RMSNorm with the residual "
                                 "addition, rotary embedding, SiLU-multiply, the CLIP layers' norms and activations) "
                                 "with torch.compile, compiled in warmup() (about 20 s on an H100); matrix products and "
                                 "attention stay torch's. Scores then differ from plain bf16 generate by rounding "
                                 "(up to about 0.02 on the 7B architecture; 0.01 uncompiled). Unset: on with CUDA, off "
                                 "on CPU (there it needs a C++ compiler and gains little).")
    batch_shapes: list[int] = Field([1, 8], min_length=1, description="Clip batch sizes run once by warmup() "
                                    "before readiness (kernel selection and compilation, memory reservation); every "
                                    "decoding graph of the pool is captured then too. At most max_batch.")


def create(model, options: LlavaNextVideoOptions):
    from monitor.backends.llava_next_video.backend import EngineBackend, ReferenceBackend

    return (EngineBackend if options.engine == "fast" else ReferenceBackend)(model, options)


create.options = LlavaNextVideoOptions
