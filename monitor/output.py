"""Human-readable lines for descriptions, alerts and status (the demo's console, `monitor tail`); they start
with the message's RFC 3339 UTC time, as log lines do."""

from __future__ import annotations

import sys
from typing import Callable

from monitor.sanitize import safe_text
from monitor.schema import Alert, Description, Status

SEVERITY = {0: "info", 1: "suspicious", 2: "critical"}


def describe_line(message: Description) -> str:
    score = "" if message.score is None else f" score={message.score:.2f}"
    return f"{message.ts} {message.camera.id} {message.prompt_id}{score}: {_one_line(message.text)}"


def alert_line(message: Alert) -> str:
    evidence = f" evidence={message.evidence.clip}" if message.evidence.clip else ""
    return (f"{message.ts} ALERT {message.phase} {message.camera.id} {SEVERITY.get(message.severity)} "
            f"conf={message.confidence:.2f} {message.title}: {_one_line(message.text)}{evidence} "
            f"(alert {message.alert_id[:8]})")


def status_line(message: Status) -> str:
    who = message.camera.id if message.camera else "worker"
    detail = f": {message.detail}" if message.detail else ""
    return f"{message.ts} status {who} {message.state}{detail}"


def line_for(message) -> str:
    """One line for a terminal: whatever a message carries (model text, a file name, a status detail read
    back from Redis), no escape sequence or control character reaches the console."""
    if isinstance(message, Alert):
        line = alert_line(message)
    elif isinstance(message, Description):
        line = describe_line(message)
    else:
        line = status_line(message)
    return safe_text(line)


def _one_line(text: str, limit: int = 300) -> str:
    text = safe_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ResultPrinter:
    """A sink like any other: every description and alert, and each change of the worker's state, one line.
    A camera's state changes are already on the console as log lines, so they are not printed twice
    (they and the periodic health reports are in the status stream)."""

    def __init__(self, echo: Callable[[str], None] | None = None):
        self.echo = echo or (lambda line: print(line, file=sys.stdout, flush=True))
        self._state: str | None = None

    def publish(self, kind: str, message) -> None:
        if isinstance(message, Status):
            if message.camera is not None or self._state == message.state:
                return
            self._state = message.state
        self.echo(line_for(message))
