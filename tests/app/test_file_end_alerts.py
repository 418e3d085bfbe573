"""The end of a file closes what was open on it: the daemon ends a camera's alert with its final clip."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.inference.contract import InferenceRequest, InferenceResult, PromptResult
from monitor.clip import Clip
from monitor.config.loader import validate
from monitor.app.daemon import Monitor
from monitor.schema import parse_entry


@pytest.mark.slow
def test_an_alert_open_on_a_files_last_clip_ends_with_it(redis_config, redis_client, tiny_model_dir, tmp_path):
    # given a file camera whose clips score anomalous, an alert opening on the first one
    config = validate({
        "redis": redis_config.model_dump(), "model": {"id": str(tiny_model_dir)},
        "alerts": {"open_after": 1, "threshold": 0.5, "smoothing": 1.0}, "state_dir": str(tmp_path),
        "metrics": {"enabled": False}, "evidence": {"enabled": False},  # alerts go out from the dispatcher itself
        "cameras": [{"id": "hall", "url": str(tmp_path / "hall.mp4"), "pace": "fast"}]})
    monitor = Monitor(config)
    prompts = monitor.cameras["hall"].prompts
    try:
        for seq, final in ((0, False), (1, True)):
            stamps = tuple(1_790_000_000.0 + seq * 5 + t for t in range(8))
            clip = Clip("hall", seq, np.full((8, 16, 16, 3), 40 * seq, np.uint8), stamps, stamps[0], stamps[-1],
                        final=final)
            request = InferenceRequest(clip=clip, prompts=prompts)
            # the result stage's handler, called as its thread would call it
            monitor.dispatch(InferenceResult(request, (PromptResult("anomaly", "Yes, a fire.", 0.95),)), 0.1)
        # then the alert opened on the first clip and ended with the file's last one, while it still scored
        # high (read before shutdown, which would end it too)
        phases = [parse_entry(f).phase for _, f in redis_client.xrange(f"{redis_config.prefix}alerts")]
        assert phases[0] == "new" and phases[-1] == "end"
    finally:  # nothing was started: close what the constructor opened
        monitor.publisher.close()
        monitor.backend.close()
