"""Properties of the alert rules over any score sequence (hypothesis)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts import AlertEngine
from monitor.config.models import AlertsConfig, CameraConfig
from tests.alerts.conftest import run_script

CAMERA = CameraConfig(id="gate-1", url="rtsp://cam.local/s")


@settings(max_examples=150, deadline=None)
@given(scores=st.lists(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]), max_size=40),
       open_after=st.integers(1, 4), close_after=st.integers(1, 4))
def test_any_score_sequence_gives_well_formed_alerts(scores, open_after, close_after):
    rules = AlertsConfig(threshold=0.5, open_after=open_after, close_after=close_after, cooldown_seconds=0,
                         smoothing=1.0, dedupe_seconds=0)
    out = run_script(AlertEngine(rules), CAMERA, scores)
    # one message per window at most, in window order
    windows = [i for i, _ in out]
    assert windows == sorted(set(windows))
    # each alert reads new, update..., end? and alerts never overlap
    letters = "".join({"new": "n", "update": "u", "end": "e"}[a.phase] for _, a in out)
    assert re.fullmatch(r"(nu*e)*(nu*)?", letters)
    ids_in_order = [a.alert_id for _, a in out]
    assert all(ids_in_order[k] == ids_in_order[k - 1] for k in range(1, len(out)) if out[k][1].phase != "new")
    for i, alert in out:
        if alert.phase == "new":  # opened by open_after windows in a row at or over the threshold
            assert i + 1 >= open_after and all(s >= 0.5 for s in scores[i + 1 - open_after:i + 1])
        if alert.phase == "end":  # closed by close_after windows in a row under it
            assert all(s < 0.5 for s in scores[i + 1 - close_after:i + 1])
    # while an alert is open every window is published, so its windows have no gaps
    for alert_id in set(ids_in_order):
        mine = [i for i, a in out if a.alert_id == alert_id]
        assert mine == list(range(mine[0], mine[0] + len(mine)))
    # and an alert still open at the end has not seen close_after quiet windows in a row
    if out and out[-1][1].phase != "end":
        assert not all(s < 0.5 for s in scores[-close_after:])
