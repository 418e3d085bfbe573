"""The systemd unit: `systemd-analyze verify` clean, `security --offline` 2.0 or better, Type=notify with a
watchdog longer than the stall that stops feeding it, and the settings the issue names."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from monitor.config.models import MetricsConfig
from tests.deploy.validators import run, tool

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "monitor.service"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_the_unit_verifies_in_a_root_where_its_commands_exist(tmp_path):
    analyze = tool("systemd-analyze", "apt-get install systemd")
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, tmp_path / "etc/systemd/system/monitor.service")
    shutil.copytree("/usr/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "usr/bin").mkdir()
    shutil.copy("/usr/bin/kill", tmp_path / "usr/bin/kill")
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "lib").symlink_to("usr/lib")
    monitor = tmp_path / "opt/monitor/bin/monitor"  # what `pip install` into the /opt/monitor venv makes
    monitor.parent.mkdir(parents=True)
    monitor.write_text("#!/bin/sh\nexec python3 -m monitor \"$@\"\n")
    monitor.chmod(0o755)
    done = run([analyze, "verify", f"--root={tmp_path}", "/etc/systemd/system/monitor.service"])
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "Failed to parse system call" not in line]  # newer syscalls than this systemd knows
    assert done.returncode == 0 and not problems, "\n".join(problems)


def test_the_unit_is_rated_2_or_better_by_systemd_analyze_security():
    analyze = tool("systemd-analyze", "apt-get install systemd")
    done = run([analyze, "security", "--offline=true", "--no-pager", str(UNIT)])
    match = re.search(r"Overall exposure level for monitor.service: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.0, done.stdout


def test_the_unit_waits_for_ready_restarts_a_hung_loop_and_not_a_bad_config():
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    watchdog = s["WatchdogSec"][0]
    minutes = int(watchdog.removesuffix("min"))
    assert minutes * 60 > MetricsConfig().stall_seconds  # the pings stop at stall_seconds, then the restart
    assert s["RestartPreventExitStatus"] == ["2"] and s["Restart"] == ["on-failure"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["DynamicUser"] == ["yes"] and s["StateDirectory"] == ["monitor"] and s["CacheDirectory"] == ["monitor"]
    environment = " ".join(s["Environment"])
    for cache in ("HF_HOME", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "HOME"):
        assert f"{cache}=/var/cache/monitor" in environment  # ProtectHome=yes: nothing may live under ~
    config = s["ExecStart"][0].split()
    assert config[1:3] == ["run", "--config"]

