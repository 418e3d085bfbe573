"""Builds every prompt in one place; model backends only render and transport what this returns."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config.models import CameraConfig, PromptsConfig

ANOMALY = "anomaly"
ROAD = "road"


@dataclass(frozen=True)
class Prompt:
    """A question about one clip. `scored` prompts also yield P(Yes) from the first answer token."""

    id: str
    question: str
    scored: bool = False

    def messages(self) -> list[dict]:
        """Chat messages in the transformers multimodal format; the video comes before the question,
        so every prompt of a clip shares the video's prefix."""
        return [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": self.question}]}]


def prompts_for(camera: CameraConfig, config: PromptsConfig) -> tuple[Prompt, ...]:
    return tuple(build_prompt(pid, config, camera.context) for pid in camera.prompt_ids)


def build_prompt(prompt_id: str, config: PromptsConfig, context: str | None = None) -> Prompt:
    question = getattr(config, prompt_id)
    if context:
        question = f"What is normal at this camera: {context.strip()}\n{question}"
    return Prompt(id=prompt_id, question=question, scored=prompt_id == ANOMALY)


def answer_is_yes(text: str) -> bool | None:
    """Read the Yes/No that the anomaly prompt asks to come first; None when the answer has neither."""
    words = text.strip().lstrip("*\"' ").split(maxsplit=1)
    if not words:
        return None
    first = words[0].strip(".,:;!*\"'").lower()
    if first == "yes":
        return True
    if first == "no":
        return False
    return None
