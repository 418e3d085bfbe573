"""Alert rules and the Grafana dashboard: promtool checks and unit-tests the rules, every dashboard query
parses as PromQL, and every metric they name is one the monitor exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from monitor.app.metrics import Metrics, Snapshot
from tests.deploy.validators import run, tool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "monitor-rules.yaml"
DASHBOARD = DEPLOY / "grafana" / "monitor-dashboard.json"
# PromQL words, and `up`, which Prometheus itself records for every scrape.
PROMQL_FUNCTIONS = {"sum", "rate", "increase", "deriv", "histogram_quantile", "max", "min", "by", "and", "up"}


def exported_metric_names() -> set[str]:
    metrics = Metrics()
    metrics.collect_from(lambda: Snapshot(published={"direct": 1}, suppressed={"cooldown": 1},
                                          trimmed_pending={"descriptions": 1}))
    metrics.source_status("cam", "online", {"input_fps": 1, "decoded_fps": 1, "last_frame_age_s": 1, "reconnects": 1,
                                            "stalls": 1, "corrupt_packets": 0, "files_failed": 0})
    metrics.clips.labels("cam").inc()
    metrics.descriptions.labels("cam", "anomaly").inc()
    metrics.alerts.labels("cam", "start").inc()
    metrics.latency.observe(1)
    metrics.batch.observe(1)
    text = metrics.render().decode()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)
    return {name for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)
            if name not in PROMQL_FUNCTIONS and not re.fullmatch(r"le|camera|instance|path|phase|stream|job", name)}


def test_the_alert_rules_pass_promtool_and_their_unit_tests():
    promtool = tool("promtool", "apt-get install prometheus")
    done = run([promtool, "check", "rules", str(RULES)])
    assert done.returncode == 0, done.stdout + done.stderr
    done = run([promtool, "test", "rules", "monitor-rules.test.yaml"], cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_cover_what_an_operator_is_woken_for():
    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    for alert in ("MonitorCameraDown", "MonitorCameraFramesStale", "MonitorClipLatencyHigh", "MonitorClipsDropped",
                  "MonitorOutboxGrowing"):
        assert alert in rules and rules[alert]["annotations"]["summary"]


def test_every_dashboard_query_parses_and_names_exported_metrics(tmp_path):
    promtool = tool("promtool", "apt-get install prometheus")
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": e}
                                                        for i, e in enumerate(exprs)]}]}
    (tmp_path / "dashboard-queries.yaml").write_text(yaml.safe_dump(rules))
    done = run([promtool, "check", "rules", str(tmp_path / "dashboard-queries.yaml")])
    assert done.returncode == 0, done.stdout + done.stderr  # each query is valid PromQL
    rule_exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    exported = exported_metric_names()
    for expr in exprs + rule_exprs:
        unknown = metric_names(expr) - exported - {"humanize", "humanizeDuration"}
        assert not unknown, f"{expr}: {unknown} is not exported"
