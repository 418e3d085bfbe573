"""What `monitor check-config` can check past validation, without side effects: the model folder,
the device, Redis (a PING), the local camera files and folders. Nothing is created or downloaded."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from monitor.config.models import CameraConfig, MonitorConfig

Level = Literal["ok", "note", "warning", "error"]


@dataclass(frozen=True)
class Check:
    level: Level
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


def is_local_model(model_id: str) -> bool:
    """A hub id is `name` or `owner/name`; a path that exists, or one that can only be a path, is a folder."""
    return (Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~"))
            or model_id.count("/") > 1)


def hub_offline(local_files_only: bool = False) -> bool:
    return local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")


def check_config(config: MonitorConfig, *, redis_timeout: float = 1.0) -> list[Check]:
    checks = [check_model(config), *check_device(config), check_redis(config, redis_timeout)]
    checks += [check_camera(camera) for camera in config.cameras if camera.enabled]
    return checks


def check_model(config: MonitorConfig) -> Check:
    model_id = config.model.id
    if is_local_model(model_id):
        path = Path(model_id).expanduser()
        if not path.is_dir():
            return Check("error", f"model.id {model_id!r}: no such folder (a hub id is owner/name; "
                                  "`monitor model make-tiny DIR` writes a tiny test model)")
        if not (path / "config.json").is_file():
            return Check("error", f"model.id {model_id!r} is not a checkpoint folder (no config.json in it)")
        return Check("ok", f"model.id {model_id!r} is a checkpoint folder")
    cached = in_hub_cache(model_id, config.model.revision)
    if cached:
        return Check("ok", f"model.id {model_id!r} is a hub id found in the Hugging Face cache")
    if hub_offline(config.model.local_files_only):
        # A warning, like Redis: the cache is this machine's state (a volume filled at deploy time), not the config's.
        return Check("warning", f"model.id {model_id!r} is a hub id that is not in the Hugging Face cache here, and "
                                "HF_HUB_OFFLINE (or model.local_files_only) forbids fetching it: a run here fails "
                                "unless the cache is filled first or model.id points at a local folder")
    return Check("note", f"model.id {model_id!r} is a hub id, not in the Hugging Face cache: it is fetched at "
                         "the first run (offline: download it elsewhere and point model.id at the folder)")


def in_hub_cache(model_id: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(model_id, "config.json", revision=revision)
    except Exception:  # a malformed id: from_pretrained will say so
        return False
    return isinstance(found, str)


def check_device(config: MonitorConfig) -> list[Check]:
    if not config.model.device.startswith("cuda"):
        return []
    import torch

    if torch.cuda.is_available():
        return [Check("ok", f"model.device {config.model.device!r}: CUDA is available")]
    build = f"a CPU build of torch {torch.__version__}" if torch.version.cuda is None else "no CUDA device visible"
    return [Check("error", f"model.device is {config.model.device!r} but this machine has no CUDA ({build}): "
                           "set model.device to auto or cpu")]


def check_redis(config: MonitorConfig, timeout: float) -> Check:
    from monitor.redact import mask_url
    from monitor.redis_local import answers

    where = mask_url(config.redis.url)
    if answers(config.redis, timeout=timeout):
        return Check("ok", f"Redis at {where} answers")
    if config.redis.start_local:
        if shutil.which("redis-server") is None:
            return Check("error", f"nothing answers at {where} and redis.start_local needs redis-server, "
                                  "which is not installed (Debian: apt-get install redis-server)")
        return Check("note", f"nothing answers at {where}: a private redis-server is started at run time "
                             "(redis.start_local)")
    return Check("warning", f"Redis at {where} does not answer now: messages wait in the outbox until it does")


def check_camera(camera: CameraConfig) -> Check:
    """Local files and folders must exist (the sources' own rules say which a url is)."""
    from monitor.redact import mask_url
    from monitor.sources import _is_folder
    from monitor.sources.media import local_path, url_kind

    if url_kind(camera.url) != "file":
        return Check("note", f"camera {camera.id}: {mask_url(camera.url)} is not contacted by check-config")
    path = local_path(camera.url)
    if _is_folder(camera):
        if path.is_dir():
            return Check("ok", f"camera {camera.id}: folder {path} exists")
        return Check("error", f"camera {camera.id}: no such folder {path}")
    if path.is_file():
        return Check("ok", f"camera {camera.id}: file {path} exists")
    return Check("error", f"camera {camera.id}: no such file {path}")
