"""Versioned message models: the JSON in each stream entry's `data` field is one of these."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
_NAMESPACE = uuid.UUID("6f1c2a52-8d0e-4e4f-9a57-1d5a3c1f0b7e")


def rfc3339(ts: float) -> str:
    """Unix seconds -> RFC 3339 UTC with milliseconds, e.g. 2026-11-26T12:00:00.123Z."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stable_id(*parts: object) -> str:
    """The same inputs give the same id, so a re-published message is recognisable as a duplicate."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    message_id: str
    ts: str = Field(description="When the message was made, RFC 3339 UTC with milliseconds.")
    worker: str | None = Field(None, description="Id of the worker process that published it (host-pid; "
                               "the heartbeat key's suffix); absent in messages of older workers.")


class CameraRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str


class WindowRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: str
    end: str


class FramesRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    count: int
    timestamps: list[str]
    decode: str = Field("", description="How the frames were picked: targeted or all (within one frame interval "
                        "of the sample times), keyframes (within one GOP).")


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    backend: str


class Description(Message):
    """What the model said about one clip for one prompt."""

    camera: CameraRef
    window: WindowRef
    frames: FramesRef
    model: ModelRef
    prompt_id: str
    text: str
    score: float | None = Field(None, ge=0.0, le=1.0)


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    clip: str | None = None
    image: str | None = None
    start: str | None = None
    end: str | None = None
    clip_url: str | None = Field(None, description="Signed, expiring HTTP URL of the clip (evidence.urls).")
    image_url: str | None = Field(None, description="Signed, expiring HTTP URL of the image (evidence.urls).")


class Alert(Description):
    """An alert's phase: `new` opens it, `update` carries later windows, `end` closes it."""

    alert_id: str
    phase: Literal["new", "update", "end"]
    title: str
    category: str = Field("other", description="What kind of event, from the verdict's fixed list; route on it.")
    summary: str = ""
    verdict_parsed: bool = Field(True, description="False: the model's JSON verdict was missing or broken and the "
                                 "fields come from its plain text.")
    severity: int = Field(ge=0, le=2, description="0 info, 1 suspicious, 2 critical.")
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: Evidence = Field(default_factory=Evidence)


class Status(Message):
    """A camera's or the worker's state change or periodic health."""

    camera: CameraRef | None = None
    state: str
    detail: str = ""
    stats: dict[str, Any] = Field(default_factory=dict)


MESSAGE_TYPES: dict[str, type[Message]] = {"description": Description, "alert": Alert, "status": Status}


def stream_fields(kind: str, message: Message) -> dict[str, str]:
    """The flat fields of one stream entry: type, camera, ts, and the JSON of the message in data."""
    camera = getattr(message, "camera", None)
    return {
        "type": kind,
        "camera": camera.id if camera is not None else "",
        "ts": message.ts,
        "data": message.model_dump_json(),
    }


def parse_entry(fields: dict[str, str]) -> Message:
    """Validate one stream entry read back from Redis (consumers and tests use this)."""
    kind = fields["type"]
    model = MESSAGE_TYPES[kind]
    return model.model_validate(json.loads(fields["data"]))
