"""Log lines cannot be forged, tracebacks are masked, and JSON is the default where a pipeline reads them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from monitor.logs import escape_controls, resolve_format

FORGED = "2026-01-01 00:00:00,000 INFO monitor: camera gate-1 online"


def _run_logging(code: str, env_extra: dict | None = None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "KUBERNETES_SERVICE_HOST")}
    env.update(env_extra or {})
    prog = "from monitor.logs import setup_logging\nimport logging, threading\nsetup_logging()\n" \
           "log = logging.getLogger('monitor.test')\n" + code
    done = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    return done.stderr


def test_a_file_name_with_a_newline_stays_on_its_log_line():
    err = _run_logging(f"log.info('file %s done', 'a.mp4\\n{FORGED}\\x1b[2J\\u202e')")
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].endswith("done")
    assert "\\n2026-01-01" in lines[0] and "\x1b" not in err and "\u202e" not in err


def test_a_traceback_is_masked_and_indented_under_its_record():
    err = _run_logging("try:\n    raise OSError('rtsp://u:hunter2@cam/?password=hunter2\\n" + FORGED + "')\n"
                       "except OSError:\n    log.exception('camera failed')")
    assert "hunter2" not in err
    assert all(line.startswith("    ") for line in err.splitlines()[1:])


def test_a_thread_that_dies_is_logged_masked_not_printed_raw():
    err = _run_logging("def die():\n    raise ValueError('http://cam/snap?token=hunter2')\n"
                       "t = threading.Thread(target=die, name='worker'); t.start(); t.join()")
    assert "thread worker died" in err and "hunter2" not in err


@pytest.mark.parametrize("env", [{"JOURNAL_STREAM": "8:12345"}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}])
def test_logs_are_json_under_systemd_and_kubernetes(env):
    err = _run_logging(f"log.info('file %s', 'a\\n{FORGED}')", env)
    (line,) = err.splitlines()
    assert json.loads(line)["msg"] == f"file a\n{FORGED}"


def test_auto_is_text_on_a_terminal_and_explicit_formats_win(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert resolve_format("auto") == "text"
    monkeypatch.setenv("JOURNAL_STREAM", "8:1")
    assert resolve_format("auto") == "json" and resolve_format("text") == "text"


def test_escape_controls_keeps_printable_text():
    assert escape_controls("café ok") == "café ok"
    assert escape_controls("a\r\nb\x00\u2028") == "a\\r\\nb\\x00\\u2028"
