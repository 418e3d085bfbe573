"""Logging set-up: text or JSON lines on stderr, every record passed through the credential mask.

No logged value can forge a log line: text lines escape newlines and control characters (a file name
with a newline stays on its line), tracebacks are indented under their record, and JSON is the default
where a log pipeline reads the lines (systemd's journal, Kubernetes)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time

from monitor.redact import RedactingFilter, redact_text

# C0/C1 controls, DEL, and the Unicode line/paragraph separators and bidi overrides a terminal honours.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """`text` on one line: a newline becomes the two characters \\n, other controls \\xNN or \\uNNNN."""
    def one(match: re.Match) -> str:
        char = match.group(0)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (
            f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
    return _CONTROL.sub(one, text)


def timestamp(record: logging.LogRecord) -> str:
    """RFC 3339 UTC with milliseconds: the format of every message's `ts` and of the printed results."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return timestamp(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's naming
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(self.formatException(record.exc_info))
        saved = record.exc_text
        if saved:  # indented, so no line of a traceback (an exception's message) starts like a record
            record.exc_text = _indented(saved)
        try:
            return super().format(record)
        finally:
            record.exc_text = saved

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _indented(stack_info)


def _indented(text: str) -> str:
    return "\n".join("    " + escape_controls(line) for line in text.splitlines())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": timestamp(record),
                 "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def resolve_format(fmt: str) -> str:
    """`auto`: JSON where a pipeline reads the lines (systemd's journal, Kubernetes), text elsewhere."""
    if fmt != "auto":
        return fmt
    return "json" if os.environ.get("JOURNAL_STREAM") or os.environ.get("KUBERNETES_SERVICE_HOST") else "text"


def setup_logging(level: str = "INFO", fmt: str = "auto") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if resolve_format(fmt) == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that chatter at INFO about things an operator cannot act on.
    for noisy in ("libav", "urllib3", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    _log_uncaught_exceptions()


def _log_uncaught_exceptions() -> None:
    """Tracebacks that would go to stderr raw (main thread, other threads) go through the log, masked."""
    log = logging.getLogger("monitor")

    def main_hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            return sys.__excepthook__(exc_type, exc, tb)
        log.critical("uncaught %s", exc_type.__name__, exc_info=(exc_type, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread else "?"
        log.error("thread %s died: %s", name, redact_text(str(args.exc_value)),
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
