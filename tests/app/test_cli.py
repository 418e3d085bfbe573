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
    # Its own session, as a terminal's foreground job: Ctrl-C reaches the whole group, redis-server included
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
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
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert proc.wait(60) == 0
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    gone = subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True)
    assert gone.returncode == 1, "the private redis-server must be stopped on exit"
    # the last messages went into the private Redis before it stopped: nothing waits for a server that is gone
    assert "unreachable" not in err, err
    from monitor.publish.destination import held

    assert held(tmp_path / "outbox") == []


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


def test_version_prints_the_package_version():
    from monitor import __version__

    done = monitor("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"monitor {__version__}"


def test_every_command_and_argument_has_help_text():
    import argparse

    from monitor.app.cli import _parser

    def walk(parser: argparse.ArgumentParser, name: str):
        assert parser.description, f"{name} has no description"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice, sub in action.choices.items():
                    yield from walk(sub, f"{name} {choice}")
            else:
                yield name, action

    missing = [f"{name} {action.dest}" for name, action in walk(_parser(), "monitor") if not action.help]
    assert missing == []


def run_config(tmp_path: Path, **model) -> Path:
    video = write_h264(tmp_path / "v.mp4", seconds=1, fps=5)
    return write_config(tmp_path / "site.yaml", {
        "model": model, "state_dir": str(tmp_path / "state"), "metrics": {"enabled": False},
        "redis": {"prefix": f"clitest:{tmp_path.name}:"}, "cameras": [{"id": "cam", "url": str(video)}]})


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    """What the command said about the error: its stderr without log lines (those start with a timestamp)."""
    return [ln for ln in done.stderr.splitlines() if ln and not ln[:4].isdigit() and "Loading weights" not in ln]


@pytest.mark.slow
def test_a_model_folder_that_does_not_exist_is_one_config_error_line_and_exit_2(tmp_path):
    cfg = run_config(tmp_path, id=str(tmp_path / "no-model"))
    done = monitor("run", "--config", str(cfg))
    assert done.returncode == 2, done.stderr
    [line] = error_lines(done)
    assert line.startswith("config error: model.id") and "no such folder" in line and "make-tiny" in line
    debug = monitor("run", "--config", str(cfg), "--debug")
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "ModelConfigError" in debug.stderr


@pytest.mark.slow
def test_a_hub_id_with_the_hub_out_of_reach_fails_fast_in_one_line_that_names_hf_hub_offline(tmp_path):
    cfg = run_config(tmp_path, id="llava-hf/LLaVA-NeXT-Video-7B-hf")
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    done = monitor("run", "--config", str(cfg), env=env)
    assert done.returncode == 1, done.stderr
    [line] = error_lines(done)
    assert line.startswith("model error: model.id 'llava-hf/LLaVA-NeXT-Video-7B-hf' is a hub id, the Hugging Face "
                           "hub does not answer")
    assert "HF_HUB_OFFLINE=1" in line and "set model.id to DIR" in line
    assert "retry" not in done.stderr.lower()


@pytest.mark.slow
def test_a_hub_id_offline_and_not_cached_is_one_runtime_error_line(tmp_path):
    cfg = run_config(tmp_path, id="llava-hf/LLaVA-NeXT-Video-7B-hf")
    done = monitor("run", "--config", str(cfg), env={**os.environ, "HF_HUB_OFFLINE": "1",
                                                      "HF_HOME": str(tmp_path / "hf")})
    assert done.returncode == 1, done.stderr
    [line] = error_lines(done)
    assert line.startswith("model error:") and "HF_HUB_OFFLINE" in line and "hf download" in line


@pytest.mark.slow
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_device_on_a_machine_without_cuda_is_a_config_error(tmp_path, tiny_model_dir):
    done = monitor("run", "--config", str(run_config(tmp_path, id=str(tiny_model_dir), device="cuda")))
    assert done.returncode == 2, done.stderr
    [line] = error_lines(done)
    assert line.startswith("config error: model.device is 'cuda' but this machine has no CUDA")


@pytest.mark.slow
def test_ctrl_c_during_warm_up_stops_at_once_and_a_busy_metrics_port_is_a_warning(tmp_path, tiny_model_dir):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    cfg = run_config(tmp_path, id=str(tiny_model_dir), max_new_tokens=4)
    data = yaml.safe_load(cfg.read_text())
    data["metrics"] = {"listen": f"127.0.0.1:{busy.getsockname()[1]}"}
    data["cameras"][0]["loop"] = True
    write_config(cfg, data)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # the port is taken just before the warm-up starts
            lines.append(line)
            if "metrics: cannot listen" in line:
                break
        assert " WARNING " in lines[-1] and "metrics.listen" in lines[-1], "".join(lines)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        rest = proc.stderr.read()
        assert "interrupted while starting" in rest and "Traceback" not in rest
    finally:
        busy.close()
        if proc.poll() is None:
            proc.kill()
