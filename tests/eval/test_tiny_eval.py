"""`monitor eval` through the real model path (the tiny checkpoint), and its report in real Chromium."""

from __future__ import annotations

import json
import time

import pytest

from monitor.eval.run import evaluate
from tests.browser import chromium  # noqa: F401  (fixture)
from tests.eval.conftest import SCRIPTED, eval_config
from tests.eval.test_scripted_eval import ROAD, STREET, write_labels
from tests.ui.test_browser import screenshot_path

pytestmark = pytest.mark.slow


def test_eval_runs_the_tiny_model_over_the_clips_as_the_daemon_would(clips, tmp_path, tiny_model_dir):
    config = eval_config(tmp_path, "transformers", str(tiny_model_dir))
    report = evaluate(config, write_labels(clips), clips, tmp_path / "out")
    assert report["clips"]["windows"] == 16 and report["clips"]["positive_windows"] == 3
    assert 0.0 <= report["clip"]["roc_auc"] <= 1.0  # random weights: any value, but a real one
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["config"]["model"]["backend"] == "llava_next_video"  # the old `transformers` name, mapped
    assert all(0.0 <= r["score"] <= 1.0 for r in saved["worst"]["false_positives"])


def test_the_html_report_opens_in_chromium_with_its_plots_and_thumbnails(clips, tmp_path, chromium):
    SCRIPTED.update({("street", i): s for i, s in enumerate(STREET)})
    SCRIPTED.update({("road", i): s for i, s in enumerate(ROAD)})
    try:
        evaluate(eval_config(tmp_path, "scripted"), write_labels(clips), clips, tmp_path / "out")
    finally:
        SCRIPTED.clear()
    chromium.get((tmp_path / "out" / "report.html").as_uri())
    deadline = time.monotonic() + 10
    while chromium.execute_script("return [...document.images].some(i => !i.complete)"):
        assert time.monotonic() < deadline, "images still loading"
        time.sleep(0.1)
    widths = chromium.execute_script("return [...document.images].map(i => i.naturalWidth)")
    # three plots, the 8 worst false positives and the 3 misses (only 3 clips saw the anomaly), all decoded
    assert len(widths) == 3 + 8 + 3 and min(widths) > 0
    assert "alerts.threshold: 0.6" in chromium.find_element("css selector", "p.big").text
    chromium.set_window_size(1300, 1500)
    chromium.save_screenshot(str(screenshot_path(tmp_path, "eval-report.png")))
