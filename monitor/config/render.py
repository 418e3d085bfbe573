"""Renders a config for people: the resolved tree with secrets masked, and the reference from the models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from monitor.config.models import MonitorConfig
from monitor.redact import MASK, mask_url


def redacted_dict(config: MonitorConfig) -> dict[str, Any]:
    """The resolved config as plain data, every password masked."""
    data = config.model_dump(mode="json")
    _mask_secrets(MonitorConfig, data)
    data["redis"]["url"] = mask_url(data["redis"]["url"])
    for cam in data["cameras"]:
        cam["url"] = mask_url(cam["url"])
    return data


def _mask_secrets(model: type[BaseModel], data: Any) -> None:
    """Every field marked secret in the models (passwords, tokens, HMAC keys) is masked, however deep."""
    if not isinstance(data, dict):
        return
    for name, field in model.model_fields.items():
        value = data.get(name)
        if value in (None, {}, ""):
            continue
        if (field.json_schema_extra or {}).get("secret"):
            data[name] = {k: MASK for k in value} if isinstance(value, dict) else MASK
            continue
        sub = _submodel(field.annotation)
        if sub is not None:
            for item in value if isinstance(value, list) else [value]:
                _mask_secrets(sub, item)


def reference_markdown(model: type[BaseModel] = MonitorConfig, prefix: str = "") -> str:
    """A Markdown table of every key, its default and its description, from the models themselves."""
    rows: list[str] = []
    _walk(model, prefix, rows)
    head = "| key | default | description |\n| --- | --- | --- |\n"
    return head + "\n".join(rows) + "\n"


def _walk(model: type[BaseModel], prefix: str, rows: list[str], note: str = "") -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        sub = _submodel(annotation)
        if key == "model.options":
            rows.append(f"| `{key}` | | {field.description or ''} |")
            _backend_options(rows)
            continue
        if sub is not None and _is_dict(annotation):
            rows.append(f"| `{key}` | | {field.description or ''} |")
            _walk(sub, key + ".<name>.", rows)
            continue
        if sub is not None and not _is_list(annotation):
            rows.append(f"| `{key}` | | {field.description or ''} |")
            _walk(sub, key + ".", rows)
            continue
        if sub is not None:
            rows.append(f"| `{key}` | `[]` | {field.description or ''} |")
            _walk(sub, key + "[].", rows)
            continue
        default = "required" if field.is_required() else f"`{field.get_default(call_default_factory=True)!r}`"
        rows.append(f"| `{key}` | {default} | {note}{field.description or ''} |")


def _backend_options(rows: list[str]) -> None:
    """Each built-in backend's own options, from its options model."""
    from monitor.inference.registry import BUILTIN, options_model

    for name in BUILTIN:
        model = options_model(name)
        if model is not None:
            _walk(model, "model.options.", rows, note=f"({name}) ")


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _is_dict(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is dict


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list
