"""Every file in config/ passes `monitor check-config` with the environment variables it documents at its top."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "config").glob("*.yaml"))
_DOCUMENTED = re.compile(r"^#\s+([A-Z][A-Z0-9_]*)\s{2,}\S")
_NEEDED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-)?")


def header_variables(path: Path) -> set[str]:
    """Names listed under '# Environment variables this file reads:' in the file's leading comments."""
    names, listing = set(), False
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# Environment variables this file reads:"):
            listing = True
        elif listing and (m := _DOCUMENTED.match(line)):
            names.add(m.group(1))
    return names


def test_there_are_shipped_configs():
    assert {p.name for p in SHIPPED} >= {"example.yaml", "demo-files.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_variable_a_config_reads_is_documented_at_its_top(path):
    values = "\n".join(re.sub(r"(^|\s)#.*", "", line) for line in path.read_text().splitlines())
    needed = {m.group(1) for m in _NEEDED.finditer(values)}
    assert needed, "a shipped config without ${VAR} would not need this test"
    assert needed <= header_variables(path), f"{path.name} reads variables its header does not list"


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_config_passes_check_config_with_its_documented_variables(path, tmp_path, tiny_model_dir):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    values = {"GATE1_PASSWORD": "a-camera-password", "TRUCK7_UPLOADS": f"{uploads}/",
              "MONITOR_TINY_MODEL": str(tiny_model_dir), "MONITOR_REDIS_PASSWORD": ""}
    documented = header_variables(path)
    assert documented <= set(values), f"give the test a value for {documented - set(values)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR")}
    env.update({name: values[name] for name in documented if values[name]})
    done = subprocess.run([sys.executable, "-m", "monitor", "check-config", str(path.relative_to(ROOT))],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "check-config: ok: model.id" in done.stderr or "check-config: note: model.id" in done.stderr
    assert "a-camera-password" not in done.stdout + done.stderr
