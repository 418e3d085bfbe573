"""Loads the YAML file, applies ${VAR} references and MONITOR__ overrides, and explains every error."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import ValidationError

from monitor.config.models import MonitorConfig

ENV_PREFIX = "MONITOR__"
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """A config problem, with the file and the key path it concerns. Never carries a secret value."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> MonitorConfig:
    """Read, expand and validate a config file; raise ConfigError naming file, key path and problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    return parse_config(text, source, environ)


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> MonitorConfig:
    env = os.environ if environ is None else environ
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [("", f"{where}invalid YAML: {problem}")]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [("", "the top level must be a mapping of sections (redis, model, cameras, ...)")])
    raw = _expand_vars(raw, env, source, "")
    _apply_redis_env(raw, env)
    _apply_overrides(raw, env, source)
    _apply_secret_env(raw, env)
    config = validate(raw, source)
    if config.model.id.startswith("~"):  # from_pretrained takes a path as it is
        config.model.id = str(Path(config.model.id).expanduser())
    return config


def validate(raw: dict[str, Any], source: str = "<config>") -> MonitorConfig:
    try:
        return MonitorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, [(loc_path(e["loc"]), describe_error(e)) for e in exc.errors()]) from None


def describe_error(error: Mapping[str, Any]) -> str:
    # pydantic's own message, never the offending input: it may be a password.
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"])


def loc_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _expand_vars(node: Any, env: Mapping[str, str], source: str, path: str) -> Any:
    """Replace ${VAR} and ${VAR:-default} in string values, so secrets can live in the environment."""
    if isinstance(node, dict):
        return {k: _expand_vars(v, env, source, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_vars(v, env, source, f"{path}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(source, [(path, f"environment variable {name} is not set")])

    return _VAR_RE.sub(sub, node)


def _apply_overrides(raw: dict[str, Any], env: Mapping[str, str], source: str) -> None:
    """MONITOR__WINDOW__STRIDE=2 sets window.stride; values are parsed as YAML scalars."""
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or len(name) == len(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__")]
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(source, [(".".join(keys), f"{name} overrides a key that is not a section")])
            node = child
        node[keys[-1]] = _scalar(value)


def _scalar(value: str) -> Any:
    """'2.5' -> 2.5, 'true' -> True, '[1, 4]' -> [1, 4]; anything else stays the string ('site7:')."""
    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        return value
    if isinstance(parsed, dict) and not value.lstrip().startswith("{"):
        return value
    return parsed


SECRET_ENV = {  # variable -> key path: secrets that may stay out of the file
    "MONITOR_REDIS_PASSWORD": ("redis", "password"),
    "MONITOR_EVIDENCE_URL_KEY": ("evidence", "urls", "signing_key"),
    "MONITOR_UI_TOKEN": ("ui", "token"),
    "MONITOR_UI_PASSWORD": ("ui", "password"),
}


# Short names for the Redis keys every command (run, tail, outbox) reads; MONITOR__REDIS__* wins over them.
REDIS_ENV = {"MONITOR_REDIS_URL": "url", "MONITOR_REDIS_PREFIX": "prefix"}


def _apply_redis_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, key in REDIS_ENV.items():
        if env.get(name):
            section = raw.setdefault("redis", {})
            if isinstance(section, dict):
                section[key] = env[name]


def _apply_secret_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, path in SECRET_ENV.items():
        if env.get(name):
            node = raw
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = env[name]
    mqtt = (raw.get("notify") or {}).get("mqtt")
    if env.get("MONITOR_MQTT_PASSWORD") and isinstance(mqtt, dict):
        mqtt["password"] = env["MONITOR_MQTT_PASSWORD"]
