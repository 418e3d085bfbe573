"""The deployment files agree with the program: their config validates, probes and mounts point where
the config says (a manifest that drifts from the config fails here, not on a cluster)."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from monitor.config.loader import parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRETS = {"MONITOR_REDIS_PASSWORD": "s3cret", "GATE1_PASSWORD": "gate"}


def kubernetes_objects() -> dict[str, dict]:
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "monitor.yaml").read_text())
    return {doc["kind"]: doc for doc in docs if doc}


def test_kubernetes_config_validates_and_probes_reach_its_metrics_port():
    objects = kubernetes_objects()
    config = parse_config(objects["ConfigMap"]["data"]["config.yaml"], "ConfigMap monitor-config", SECRETS)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    host, _, port = config.metrics.listen.rpartition(":")
    assert host == "0.0.0.0"  # the default 127.0.0.1 would be unreachable for the kubelet
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}
    assert ports["metrics"] == int(port)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(config.state_dir)] == "state"           # the outbox survives a restart
    assert config.model.id.startswith("/models/") and mounts["/models"] == "models"
    config_file = container["command"][-1]
    assert mounts[str(Path(config_file).parent)] == "config" and Path(config_file).name == "config.yaml"
    assert pod["initContainers"][0]["command"] == ["monitor", "check-config", config_file]
    assert objects["Deployment"]["spec"]["replicas"] == 1
    assert objects["Deployment"]["spec"]["strategy"]["type"] == "Recreate"


def test_systemd_unit_checks_then_runs_the_same_config():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "systemd" / "monitor.service")
    service = unit["Service"]
    config_file = service["ExecStart"].split()[-1]
    assert service["ExecStartPre"].split()[1:] == ["check-config", config_file]
    assert service["ExecStart"].split()[1:3] == ["run", "--config"]
    assert "/var/lib/monitor" in service["ReadWritePaths"]
