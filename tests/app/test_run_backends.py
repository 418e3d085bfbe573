"""`monitor run` end to end with every backend: scores, descriptions and alerts reach Redis."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from monitor.schema import parse_entry
from tests.app.test_cli import ROOT
from tests.backends.conftest import BACKEND_CASES, model_settings
from tests.fixtures_media import write_h264


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BACKEND_CASES))
def test_monitor_run_publishes_scores_descriptions_and_alerts(case, tmp_path, tiny_checkpoints, redis_config,
                                                            redis_client):
    video = write_h264(tmp_path / "street.mp4", seconds=5, fps=10)
    config = {
        "redis": {"url": redis_config.url, "prefix": redis_config.prefix},
        "model": model_settings(case, tiny_checkpoints) | {"max_new_tokens": 4, "max_batch": 2},
        "window": {"seconds": 2, "stride": 1, "frames": 4},
        # Random weights score about 0.5: a zero threshold makes every window anomalous, so alerts open.
        "alerts": {"threshold": 0.0, "open_after": 1, "smoothing": 1.0},
        "state_dir": str(tmp_path / "state"), "metrics": {"enabled": False},
        "cameras": [{"id": "street", "url": str(video), "pace": "fast"}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(path), "--exit-when-done"],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    descriptions = [parse_entry(f) for _, f in redis_client.xrange(f"{redis_config.prefix}descriptions")]
    alerts = [parse_entry(f) for _, f in redis_client.xrange(f"{redis_config.prefix}alerts")]
    assert descriptions and all(d.model.backend == BACKEND_CASES[case][0] for d in descriptions)
    assert all(d.score is not None and d.text for d in descriptions if d.prompt_id == "anomaly")
    assert [a.phase for a in alerts][:1] == ["new"] and alerts[-1].phase == "end"
    assert alerts[0].evidence.image


@pytest.mark.slow
def test_a_camera_with_two_custom_scored_questions_publishes_a_score_for_each_and_alerts_on_both(
        tmp_path, tiny_checkpoints, redis_config, redis_client):
    video = write_h264(tmp_path / "platform.mp4", seconds=4, fps=10)
    config = {
        "redis": {"url": redis_config.url, "prefix": redis_config.prefix},
        "model": model_settings("llava_next_video-fast", tiny_checkpoints) | {"max_new_tokens": 4},
        "window": {"seconds": 2, "stride": 1, "frames": 2},
        "prompts": {"smoke": {"question": "Is there smoke or fire? Answer Yes or No first.", "score": True},
                    "tracks": {"question": "Is a person on the tracks? Answer Yes or No first.", "score": True}},
        "alerts": {"threshold": 0.0, "open_after": 1, "smoothing": 1.0},
        "state_dir": str(tmp_path / "state"), "metrics": {"enabled": False},
        "cameras": [{"id": "platform-2", "url": str(video), "pace": "fast", "prompts": ["smoke", "tracks"]}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(path), "--exit-when-done"],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    descriptions = [parse_entry(f) for _, f in redis_client.xrange(f"{redis_config.prefix}descriptions")]
    alerts = [parse_entry(f) for _, f in redis_client.xrange(f"{redis_config.prefix}alerts")]
    for question in ("smoke", "tracks"):
        scored = [d for d in descriptions if d.prompt_id == question]
        assert scored and all(d.score is not None for d in scored)
        assert [a.phase for a in alerts if a.prompt_id == question][:1] == ["new"]
