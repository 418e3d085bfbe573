"""Run-time camera changes: commands on the `{prefix}control` stream and config reloads (SIGHUP).

A command is a stream entry with a `command` field (add, remove or update) and either `camera`, the
JSON of a camera as in the config file (add, update), or `camera_id` (remove). Every worker reads
every command; bad commands are reported on the status stream and otherwise ignored.

Whoever can write the stream can point the monitor at a source, so `add` and `update` open only URL
schemes in `control.allow_schemes`, and local files only under `control.allow_paths` (with `file`
allowed). Give only the admin write access to the stream (README: a Redis ACL).

Workers that share cameras (cluster.enabled) read the stream from its start, so one that joins
later knows the same cameras as the others; the lease decides which of them runs each one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Callable, Literal

import redis
from pydantic import ValidationError

from monitor.config.loader import describe_error, loc_path
from monitor.config.models import CameraConfig, ControlConfig, MonitorConfig
from monitor.keys import Keys
from monitor.publish import connect

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraChange:
    action: Literal["add", "remove", "update"]
    camera_id: str
    camera: CameraConfig | None = None


class ControlError(ValueError):
    pass


def parse_command(fields: dict[str, str]) -> CameraChange:
    action = fields.get("command", "")
    if action not in ("add", "remove", "update"):
        raise ControlError(f"command must be add, remove or update, not {action!r}")
    if action == "remove":
        camera_id = fields.get("camera_id") or ""
        if not camera_id:
            raise ControlError("remove needs camera_id")
        return CameraChange("remove", camera_id)
    try:
        camera = CameraConfig.model_validate(json.loads(fields.get("camera", "")))
    except json.JSONDecodeError as exc:
        raise ControlError(f"camera is not JSON: {exc.msg}") from None
    except ValidationError as exc:
        problems = "; ".join(f"camera.{loc_path(e['loc'])}: {describe_error(e)}" for e in exc.errors())
        raise ControlError(problems) from None
    return CameraChange(action, camera.id, camera)


def check_allowed(camera: CameraConfig, rules: ControlConfig) -> None:
    """Raise ControlError unless the camera's source is one the control stream may open."""
    scheme, path = source_scheme(camera.url)
    if scheme not in rules.allow_schemes:
        allowed = ", ".join(rules.allow_schemes) or "none"
        raise ControlError(f"camera.url: scheme {scheme!r} is not in control.allow_schemes ({allowed})")
    if scheme != "file":
        return
    real = os.path.realpath(path)  # symlinks and `..` resolved: no way out of an allowed folder
    for folder in rules.allow_paths:
        base = os.path.realpath(folder)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            return
    raise ControlError(f"camera.url: {path!r} is not under any of control.allow_paths")


def source_scheme(url: str) -> tuple[str, str]:
    """(scheme, path): `file` and the path for a local file or folder (plain or file://)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "file", url
    if scheme.lower() == "file":
        return "file", rest
    return scheme.lower(), ""


def diff_cameras(old: MonitorConfig, new: MonitorConfig) -> list[CameraChange]:
    """The changes that take `old`'s cameras to `new`'s (a reload)."""
    before = {c.id: c for c in old.cameras}
    after = {c.id: c for c in new.cameras}
    changes = [CameraChange("remove", cid) for cid in before if cid not in after]
    changes += [CameraChange("add", cid, cam) for cid, cam in after.items() if cid not in before]
    changes += [CameraChange("update", cid, cam) for cid, cam in after.items()
                if cid in before and before[cid] != cam]
    return changes


def restart_needed(old: MonitorConfig, new: MonitorConfig) -> list[str]:
    """Sections a reload cannot change in place: they need a restart."""
    return [name for name in ("redis", "model", "window", "prompts", "source", "state_dir", "alerts", "evidence",
                              "delivery", "cluster") if getattr(old, name) != getattr(new, name)]


class ControlListener:
    """Reads the control stream from the moment it starts (XREAD $), or with `from_start` every command
    ever sent first, and hands each command on. `caught_up` is set once it has read all there was."""

    def __init__(self, config: MonitorConfig, on_change: Callable[[CameraChange], None],
                 on_error: Callable[[str], None], *, from_start: bool = False):
        self.stream = Keys(config.redis.prefix).control
        self.rules = config.control
        self.client = connect(config.redis.model_copy(update={"socket_timeout": 10.0}))
        self.on_change, self.on_error = on_change, on_error
        self._start = "0-0" if from_start else "$"
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():  # never close the socket under a read in progress (a frozen Redis)
            self.client.close()

    def _loop(self) -> None:
        last = self._start
        while not self._stop.is_set():
            try:
                if last == "$":  # pin the position once, so no command between two reads is missed
                    info = self.client.xinfo_stream(self.stream) if self.client.exists(self.stream) else None
                    last = info["last-generated-id"] if info else "0-0"
                reply = self.client.xread({self.stream: last}, block=1000, count=100)
            except redis.RedisError as exc:
                logger.warning("control stream: %s", exc)
                self._stop.wait(2.0)
                continue
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    self._handle(entry_id, fields)
            if sum(len(entries) for _, entries in reply or []) < 100:
                self.caught_up.set()

    def _handle(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            change = parse_command(fields)
            if change.camera is not None:
                check_allowed(change.camera, self.rules)
        except ControlError as exc:
            self.on_error(f"control entry {entry_id} ignored: {exc}")
            return
        self.on_change(change)
