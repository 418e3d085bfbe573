"""The README's first run, as a new user follows it: the demo (`monitor run`, bounded by --duration) prints
descriptions and alerts, the `monitor tail` command it prints shows them, and the README's consumer, run as
written in the README, prints the alert. All under a private prefix (MONITOR__REDIS__PREFIX).

The tiny random model's scores sit near 0.5, so this test lowers alerts.threshold through the environment
to see an alert; the demo's own model needs no such help."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = re.compile(r"^(\S+Z street-1 anomaly score=\d\.\d\d): ")


def readme_consumer() -> str:
    """The README's Python consumer, exactly as written there."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    [code] = [b for b in blocks if "xreadgroup" in b]
    return code


class Lines:
    """Collects a pipe's lines on a thread of its own."""

    def __init__(self, pipe):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(pipe), daemon=True)
        self._thread.start()

    def wait_for(self, predicate, deadline: float) -> str | None:
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if predicate(line):
                    return line
            time.sleep(0.2)
        return None

    def text(self) -> str:
        return "".join(self.lines)


def first_run_env(tmp_path: Path, tiny_model_dir: Path, redis_config) -> dict[str, str]:
    cache = tmp_path / "cache"
    (cache / "monitor").mkdir(parents=True)
    (cache / "monitor" / "tiny-llava-next-video").symlink_to(tiny_model_dir)  # what the demo makes on first use
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR")}
    env.update(XDG_CACHE_HOME=str(cache), PYTHONPATH=str(ROOT), MONITOR__REDIS__PREFIX=redis_config.prefix,
               MONITOR__REDIS__URL=redis_config.url, MONITOR__METRICS__LISTEN="127.0.0.1:0",
               MONITOR__ALERTS__THRESHOLD="0", MONITOR__ALERTS__OPEN_AFTER="1")
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_the_readme_consumer_is_in_the_readme_and_reads_the_demo_prefix_unless_told_otherwise():
    code = readme_consumer()
    assert 'os.environ.get("MONITOR__REDIS__PREFIX", "monitor:demo:")' in code
    assert "socket_timeout=30" in code and "block=5000" in code  # a quiet stream is not a TimeoutError
    assert "MONITOR__REDIS__PREFIX=monitor:demo: monitor tail descriptions" in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_the_demo_the_tail_command_it_prints_and_the_readme_consumer_show_a_description_and_an_alert(
        tmp_path, tiny_model_dir, redis_config, redis_client):
    env = first_run_env(tmp_path, tiny_model_dir, redis_config)
    prefix = redis_config.prefix
    procs = []
    try:
        # the README's consumer first: its group starts at "$", so it must exist before the first alert
        consumer = start(["-u", "-c", readme_consumer()], env)
        procs.append(consumer)
        deadline = time.monotonic() + 60
        while not redis_client.exists(f"{prefix}alerts") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert redis_client.xinfo_groups(f"{prefix}alerts")[0]["name"] == "ops"
        tail = start(["-m", "monitor", "tail", "descriptions"], env)
        procs.append(tail)
        tail_out, tail_err = Lines(tail.stdout), Lines(tail.stderr)
        assert tail_err.wait_for(lambda ln: f"following {prefix}descriptions" in ln, time.monotonic() + 60), \
            tail_err.text()

        demo = start(["-m", "monitor", "run", "--duration", "240"], env)
        procs.append(demo)
        demo_out, demo_err, consumer_out = Lines(demo.stdout), Lines(demo.stderr), Lines(consumer.stdout)
        deadline = time.monotonic() + 240
        described = demo_out.wait_for(DESCRIPTION.match, deadline)
        assert described, demo_out.text() + demo_err.text()
        alerted = consumer_out.wait_for(lambda ln: ln.startswith("new "), deadline)
        assert alerted, consumer_out.text() + demo_err.text()
        tailed = tail_out.wait_for(lambda ln: ln.startswith(DESCRIPTION.match(described).group(1)), deadline)
        assert tailed, tail_out.text()
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: a clean stop
        assert demo.wait(60) == 0, demo_err.text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    # the demo printed the exact command that reads its streams
    assert f"MONITOR__REDIS__PREFIX={shlex.quote(prefix)} monitor tail descriptions" in demo_err.text()
    assert " ALERT new " in demo_out.text()
    # the alert's evidence opens: an MP4 with video in it
    clip = Path(alerted.split()[-1])
    with av.open(str(clip)) as container:
        assert container.streams.video and next(container.decode(video=0)) is not None
