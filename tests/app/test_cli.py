"""The `monitor` command as a user runs it: a real process, real signals, real Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures_media import write_h264

ROOT = Path(__file__).resolve().parents[2]


def monitor(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, **kwargs)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_check_config_prints_the_resolved_config_with_secrets_masked(tmp_path):
    cfg = write_config(tmp_path / "site.yaml", {
        "redis": {"url": "redis://:redis-secret@127.0.0.1:6379/0"},
        "cameras": [{"id": "gate-1", "url": "rtsp://admin:${GATE_PW}@cam.local/s1"}]})
    done = monitor("check-config", str(cfg), env={**os.environ, "GATE_PW": "cam-secret"})
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["cameras"][0]["url"] == "rtsp://admin:***@cam.local/s1"
    assert resolved["redis"]["url"] == "redis://:***@127.0.0.1:6379/0"
    assert "secret" not in done.stdout + done.stderr
    assert resolved["window"] == {"seconds": 10.0, "stride": 5.0, "frames": 8, "incomplete": "send", "min_frames": 1}


def test_check_config_reports_a_precise_error_and_exit_code_2(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"window": {"seconds": 10, "strides": 5}})
    done = monitor("check-config", str(cfg))
    assert done.returncode == 2
    assert f"{cfg}: window.strides: unknown key" in done.stderr


def test_config_reference_lists_every_contract_key():
    done = monitor("config-reference")
    assert done.returncode == 0
    for key in ("redis.url", "redis.prefix", "model.id", "window.seconds", "window.stride", "window.frames",
                "cameras[].id", "cameras[].url", "cameras[].kind"):
        assert f"`{key}`" in done.stdout


def test_make_tiny_writes_a_loadable_checkpoint(tmp_path):
    done = monitor("model", "make-tiny", str(tmp_path / "tiny"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tiny" / "model.safetensors").exists()
    from transformers import AutoProcessor, LlavaNextVideoForConditionalGeneration

    model = LlavaNextVideoForConditionalGeneration.from_pretrained(tmp_path / "tiny", use_safetensors=True)
    processor = AutoProcessor.from_pretrained(tmp_path / "tiny")
    assert model.config.vision_config.image_size == 336
    assert processor.video_processor.crop_size["height"] == 336


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_run_prints_descriptions_and_sigterm_stops_cleanly_with_its_private_redis(tmp_path, tiny_model_dir):
    video = write_h264(tmp_path / "street.mp4", seconds=4, fps=15)
    port = free_port()  # nothing answers there: the monitor starts (and must stop) its own redis-server
    cfg = write_config(tmp_path / "demo.yaml", {
        "redis": {"url": f"redis://127.0.0.1:{port}/0", "prefix": "clitest:", "start_local": True},
        "model": {"id": str(tiny_model_dir), "max_new_tokens": 4},
        "window": {"seconds": 2, "stride": 1, "frames": 2},
        "state_dir": str(tmp_path / "state"), "print_results": True, "metrics": {"listen": "127.0.0.1:0"},
        "evidence": {"dir": str(tmp_path / "evidence")}, "delivery": {"outbox_dir": str(tmp_path / "outbox")},
        "cameras": [{"id": "street", "url": str(video), "loop": True}]})
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(" street anomaly score=" in ln for ln in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any(" street anomaly score=" in ln for ln in lines), "".join(lines) + proc.stderr.read()
        private = subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True)
        assert private.returncode == 0, "the private redis-server should be running"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    gone = subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True)
    assert gone.returncode == 1, "the private redis-server must be stopped on exit"


@pytest.mark.slow
def test_sighup_reloads_the_cameras_from_the_file(tmp_path, tiny_model_dir, redis_config, redis_client):
    video = write_h264(tmp_path / "v.mp4", seconds=4, fps=15)
    base = {"redis": {"url": redis_config.url, "prefix": redis_config.prefix},
            "model": {"id": str(tiny_model_dir), "max_new_tokens": 4},
            "window": {"seconds": 2, "stride": 1, "frames": 2}, "state_dir": str(tmp_path / "state"),
            "metrics": {"enabled": False},
            "cameras": [{"id": "one", "url": str(video), "loop": True, "pace": "fast"}]}
    cfg = write_config(tmp_path / "site.yaml", base)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def described():
        from monitor.schema import parse_entry

        return {parse_entry(f).camera.id for _, f in redis_client.xrange(f"{redis_config.prefix}descriptions")}

    try:
        deadline = time.monotonic() + 60
        while "one" not in described() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "one" in described()
        base["cameras"].append({"id": "two", "url": str(video), "loop": True, "pace": "fast"})
        write_config(cfg, base)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "two" not in described() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "two" in described()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
