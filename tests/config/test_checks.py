"""`check-config` checks what it can without side effects: model folder, device, Redis, camera files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from monitor.config import parse_config
from monitor.config.checks import check_config

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path, **sections):
    data = {"state_dir": str(tmp_path / "state"), **sections}
    return parse_config(yaml.safe_dump(data), "<test>", {})


def levels(checks, word: str) -> list[str]:
    return [c.level for c in checks if word in c.text]


def test_a_model_folder_that_does_not_exist_is_an_error(tmp_path):
    checks = check_config(config(tmp_path, model={"id": str(tmp_path / "no-model")}))
    assert levels(checks, "model.id") == ["error"]
    assert "no such folder" in str(checks[0]) and "make-tiny" in str(checks[0])


def test_a_folder_without_config_json_is_an_error(tmp_path):
    checks = check_config(config(tmp_path, model={"id": str(tmp_path)}))
    assert levels(checks, "model.id") == ["error"] and "no config.json" in checks[0].text


def test_a_checkpoint_folder_is_ok(tmp_path, tiny_model_dir):
    assert levels(check_config(config(tmp_path, model={"id": str(tiny_model_dir)})), "model.id") == ["ok"]


def test_a_hub_id_is_noted_as_fetched_at_the_first_run_or_a_warning_offline(tmp_path, monkeypatch):
    cfg = config(tmp_path, model={"id": "nobody-here/no-such-model-xyz"})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    note = check_config(cfg)[0]
    assert note.level == "note" and "fetched at the first run" in note.text
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    warning = check_config(cfg)[0]
    assert warning.level == "warning" and "HF_HUB_OFFLINE" in warning.text


def test_a_redis_that_does_not_answer_is_a_warning_and_one_that_does_is_ok(tmp_path, redis_url):
    from tests.publish.conftest import free_port

    away = check_config(config(tmp_path, redis={"url": f"redis://127.0.0.1:{free_port()}/0"}))
    assert levels(away, "Redis") == ["warning"]
    assert levels(check_config(config(tmp_path, redis={"url": redis_url})), "Redis") == ["ok"]


def test_missing_camera_files_and_folders_are_errors_and_network_cameras_are_not_contacted(tmp_path):
    (tmp_path / "uploads").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"")
    cameras = [{"id": "gone-folder", "url": str(tmp_path / "no-uploads") + "/", "kind": "dashcam"},
               {"id": "gone-file", "url": str(tmp_path / "no.mp4")},
               {"id": "folder", "url": str(tmp_path / "uploads"), "kind": "dashcam"},
               {"id": "file", "url": str(tmp_path / "clip.mp4")},
               {"id": "live", "url": "rtsp://user:pw@192.0.2.1/s"}]
    checks = check_config(config(tmp_path, cameras=cameras))
    got = {c.text.split(":")[0]: c.level for c in checks if c.text.startswith("camera ")}
    assert got == {"camera gone-folder": "error", "camera gone-file": "error", "camera folder": "ok",
                   "camera file": "ok", "camera live": "note"}
    assert not any("pw" in c.text for c in checks)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_device_on_a_machine_without_cuda_is_an_error(tmp_path):
    checks = check_config(config(tmp_path, model={"device": "cuda"}))
    assert levels(checks, "model.device") == ["error"] and "auto or cpu" in checks[1].text


def test_the_command_says_each_check_and_exits_2_on_an_error_but_0_on_a_warning(tmp_path):
    from tests.publish.conftest import free_port

    path = tmp_path / "site.yaml"
    base = {"state_dir": str(tmp_path / "state"), "redis": {"url": f"redis://127.0.0.1:{free_port()}/0"}}
    path.write_text(yaml.safe_dump({**base, "cameras": [{"id": "truck-7", "url": str(tmp_path / "up") + "/",
                                                         "kind": "dashcam"}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR")}
    run = lambda: subprocess.run([sys.executable, "-m", "monitor", "check-config", str(path)], capture_output=True,
                                 text=True, cwd=ROOT, env=env, timeout=120)
    done = run()
    assert done.returncode == 2
    assert f"check-config: error: camera truck-7: no such folder {tmp_path / 'up'}" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    (tmp_path / "up").mkdir()
    done = run()
    assert done.returncode == 0, done.stderr
    assert any(line.startswith("check-config: warning: Redis at") for line in done.stderr.splitlines())
    assert not (tmp_path / "state").exists()  # no side effects
