"""`monitor eval` end to end over real videos, with scores scripted so every number is known by hand."""

from __future__ import annotations

import json

import pytest

from monitor.app.cli import main
from monitor.eval.run import evaluate
from tests.eval.conftest import SCRIPTED, eval_config

# 20 s videos, window 4 s, stride 2 s, 4 frames: the first clip waits for a full window, so clips 0..7
# end at 4, 6, ..., 18 s. The street video's anomaly (8-12 s) is seen by clips 3 ([6,10]), 4 ([8,12])
# and 5 ([10,14]): their sample frames fall in it.
STREET = [0.2, 0.7, 0.3, 0.9, 0.6, 0.8, 0.1, 0.2]
ROAD = [0.65, 0.1, 0.2, 0.3, 0.1, 0.2, 0.1, 0.05]


@pytest.fixture
def scripted():
    SCRIPTED.clear()
    SCRIPTED.update({("street", i): s for i, s in enumerate(STREET)})
    SCRIPTED.update({("road", i): s for i, s in enumerate(ROAD)})
    yield
    SCRIPTED.clear()


def write_labels(clips):
    labels = clips / "labels.csv"
    labels.write_text("clip,start,end\nstreet.mp4,8,12\nroad.mp4,,\n")
    return labels


def test_eval_reports_the_auc_ap_and_alert_rule_effects_worked_out_by_hand(clips, tmp_path, scripted):
    config = eval_config(tmp_path, "scripted")
    report = evaluate(config, write_labels(clips), clips, tmp_path / "out")

    assert report["clips"]["windows"] == 16 and report["clips"]["positive_windows"] == 3
    # positives 0.9, 0.8, 0.6 against 13 negatives, two of which (0.7, 0.65) outscore 0.6: 37 of 39 pairs
    assert report["clip"]["roc_auc"] == pytest.approx(37 / 39, abs=1e-6)
    # ranked: 0.9 P, 0.8 P, 0.7 N, 0.65 N, 0.6 P -> (1 + 1 + 3/5) / 3
    assert report["clip"]["average_precision"] == pytest.approx(13 / 15, abs=1e-6)
    # event units: the street event (best clip 0.9) against the normal stretches 0.7, 0.2 and the road 0.65
    assert report["event"]["units"] == 4 and report["event"]["roc_auc"] == 1.0
    assert report["video"]["roc_auc"] == 1.0

    at = lambda kind, t: next(r for r in report["alert_rules"][kind] if r["threshold"] == t)  # noqa: E731
    # raw rules at 0.5: street clip 1 (false), 3-5 (true), road clip 0 (false) -> 2 false in 36 s of video
    assert (at("raw", 0.5)["alerts"], at("raw", 0.5)["false_alerts"]) == (3, 2)
    assert at("raw", 0.5)["false_alerts_per_hour"] == pytest.approx(2 / (36 / 3600), rel=1e-3)
    # open_after 2 keeps only the run of 0.9, 0.6, 0.8
    assert (at("configured", 0.5)["alerts"], at("configured", 0.5)["false_alerts"]) == (1, 0)
    assert at("configured", 0.5)["events_detected"] == 1
    # F1 is 1 from 0.25 to 0.6 (at 0.25-0.3 one alert opens at clip 2 and runs through the event); the highest wins
    assert report["recommended"]["threshold"] == 0.6

    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["clip"]["roc_auc"] == report["clip"]["roc_auc"]
    for name in ("report.html", "roc.png", "pr.png", "alerts.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    assert len(saved["worst"]["false_positives"]) == 8 and saved["worst"]["false_positives"][0]["score"] == 0.7
    assert (tmp_path / "out" / saved["worst"]["misses"][0]["thumb"]).read_bytes()[:2] == b"\xff\xd8"


@pytest.fixture
def root_logging():
    """The CLI sets up logging on the stream pytest captures; put pytest's handlers back afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_the_cli_writes_the_report_into_the_out_folder(clips, tmp_path, scripted, capsys, root_logging):
    config_file = tmp_path / "eval.yaml"
    config_file.write_text(f"""
model: {{id: scripted, backend: scripted, max_batch: 4}}
window: {{seconds: 4, stride: 2, frames: 4}}
state_dir: "{tmp_path}"
""")
    assert main(["eval", "--config", str(config_file), "--labels", str(write_labels(clips)),
                 "--out", str(tmp_path / "cli-report")]) == 0
    assert "clip ROC AUC 0.949" in capsys.readouterr().out
    assert (tmp_path / "cli-report" / "report.html").exists()
