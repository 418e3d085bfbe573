"""The Kubernetes manifests as kustomize renders them: valid (kubernetes-validate, strict), checkov with
no failed check (each skip justified beside it), restricted Pod Security, and in agreement with the
config they carry (probes, ports, mounts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from monitor.config.loader import parse_config
from tests.deploy.validators import kustomize, run, tool

KUBE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
RENDERED = {"single-gpu": KUBE / "overlays" / "single-gpu", "models": KUBE / "models"}
SECRETS = {"MONITOR_REDIS_PASSWORD": "s3cret", "GATE1_PASSWORD": "gate"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("kustomize")
    files = {}
    for name, folder in RENDERED.items():
        files[name] = out / f"{name}.yaml"
        files[name].write_text(yaml.safe_dump_all(kustomize(folder)))
    return files


@pytest.fixture(scope="module")
def objects(rendered) -> dict[str, dict]:
    docs = yaml.safe_load_all(rendered["single-gpu"].read_text())
    return {doc["kind"]: doc for doc in docs}


def test_every_object_is_valid_kubernetes_strictly(rendered):
    validate = tool("kubernetes-validate", "pip install kubernetes-validate")
    done = run([validate, "--strict", *map(str, rendered.values())])
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, "\n".join(lines)
    # Only the Prometheus Operator's CRD has no schema in kubernetes-validate; everything else is checked.
    unchecked = [line for line in lines if "Couldn't find schema" in line]
    assert all("kind ServiceMonitor" in line for line in unchecked) and len(unchecked) == 1
    assert sum("passed for resource" in line for line in lines) >= 10


@pytest.mark.slow
def test_checkov_finds_nothing_and_every_skip_is_justified_beside_it(rendered, tmp_path):
    checkov = tool("checkov", "pip install checkov")
    for path in rendered.values():
        (tmp_path / path.name).write_text(path.read_text())
    done = run([checkov, "-d", str(tmp_path), "--framework", "kubernetes", "--quiet", "--compact",
                "--skip-download", "-o", "json"], timeout=600)
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summary = reports[0]["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0 and summary["passed"] > 100, done.stdout[-3000:]
    for path in rendered.values():
        for doc in yaml.safe_load_all(path.read_text()):
            for key, value in doc["metadata"].get("annotations", {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = value.partition("=")
                    assert check.startswith("CKV") and len(reason.split()) >= 5, value


def test_the_pod_meets_the_restricted_pod_security_standard(objects):
    assert objects["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in pod["initContainers"] + pod["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
        assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) <= set(container["resources"]["limits"])
        assert "@sha256:" in container["image"]  # pinned by digest
    monitor = pod["containers"][0]
    writable = {m["mountPath"] for m in monitor["volumeMounts"] if not m.get("readOnly")}
    assert {"/var/cache/monitor", "/var/lib/monitor", "/tmp"} <= writable  # read-only root, writable volumes
    assert monitor["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] and pod["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_config_probes_ports_and_volumes_agree(objects):
    config = parse_config(objects["ConfigMap"]["data"]["config.yaml"], "ConfigMap monitor-config", SECRETS)
    deployment = objects["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    host, _, port = config.metrics.listen.rpartition(":")
    assert host == "0.0.0.0"  # the default 127.0.0.1 would be unreachable for the kubelet
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"] == int(port)
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}
    # The liveness probe gives up only after the stall that fails /healthz.
    live = container["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] < config.metrics.stall_seconds
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts[config.state_dir] == "state" and "persistentVolumeClaim" in volumes["state"]
    assert config.model.id.startswith("/models/") and mounts["/models"] == "models"
    claims = {o["metadata"]["name"] for o in yaml.safe_load_all(Path(KUBE / "base" / "volumes.yaml").read_text())}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] in claims  # defined, not only referenced
    assert container["args"] == ["run", "--config", "/etc/monitor/config.yaml"]
    assert pod["initContainers"][0]["args"] == ["check-config", "/etc/monitor/config.yaml"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"


def test_metrics_are_reachable_by_service_and_servicemonitor_and_fenced_by_a_network_policy(objects):
    service, monitor = objects["Service"], objects["ServiceMonitor"]
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in service["spec"]["selector"].items())
    assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    policy = objects["NetworkPolicy"]
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert all(pod_labels[k] == v for k, v in policy["spec"]["podSelector"]["matchLabels"].items())
    assert all(pod_labels[k] == v for k, v in objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items())


def test_the_models_job_fills_the_claim_the_worker_reads(rendered, objects):
    (job,) = yaml.safe_load_all(rendered["models"].read_text())
    claim = job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    worker = {v["name"]: v for v in objects["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    assert claim == worker["models"]["persistentVolumeClaim"]["claimName"]
    assert job["metadata"]["namespace"] == objects["Deployment"]["metadata"]["namespace"]
