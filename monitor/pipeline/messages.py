"""Turns the model's answers about one clip into the messages that are published."""

from __future__ import annotations

import time

from monitor.inference.contract import InferenceResult, PromptResult
from monitor.clip import Clip
from monitor.config.models import CameraConfig
from monitor.schema import CameraRef, Description, FramesRef, ModelRef, WindowRef, rfc3339, stable_id


def descriptions(result: InferenceResult, camera: CameraConfig, model: ModelRef) -> list[Description]:
    """One Description per prompt answered for the clip, with ids stable across re-publication."""
    clip = result.request.clip
    return [description(clip, camera, model, answer) for answer in result.results]


def description(clip: Clip, camera: CameraConfig, model: ModelRef, answer: PromptResult) -> Description:
    return Description(
        message_id=stable_id("description", camera.id, f"{clip.window_end:.3f}", answer.prompt_id),
        ts=rfc3339(time.time()),
        camera=CameraRef(id=camera.id, name=camera.display_name),
        window=WindowRef(start=rfc3339(clip.window_start), end=rfc3339(clip.window_end)),
        frames=FramesRef(count=len(clip.timestamps), timestamps=[rfc3339(t) for t in clip.timestamps],
                         decode=clip.decode),
        model=model,
        prompt_id=answer.prompt_id,
        text=answer.text,
        score=None if answer.score is None else min(1.0, max(0.0, float(answer.score))),
    )

