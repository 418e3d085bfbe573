"""A new alert carries evidence files written from the camera's real packet ring."""

from __future__ import annotations

from pathlib import Path

import av

from monitor.alerts import AlertEngine
from monitor.config.models import EvidenceConfig, default_prompts
from monitor.evidence import EvidenceStore
from monitor.inference.prompts import prompts_for
from monitor.pipeline.messages import descriptions
from monitor.inference.contract import InferenceRequest
from tests.alerts.conftest import MODEL, ScriptedBackend, make_clip
from tests.evidence.test_store import T0 as RING_T0, filled_ring
from tests.fixtures_media import write_h264


def test_a_new_alert_points_at_an_mp4_and_a_jpeg_that_exist(tmp_path, rules, camera):
    ring = filled_ring(write_h264(tmp_path / "cam.mp4", seconds=40, fps=15, gop=15))
    engine = AlertEngine(rules, EvidenceStore(EvidenceConfig(dir=str(tmp_path / "evidence"), pre_roll_seconds=10)))
    backend = ScriptedBackend([0.9, 0.9, 0.9])
    prompts = prompts_for(camera, default_prompts())
    alerts = []
    # windows ending 20, 25 and 30 s into the footage, on the ring's clock
    for n in range(4, 7):
        clip = make_clip(camera.id, n, t0=RING_T0)
        (result,) = backend.infer([InferenceRequest(clip, prompts)])
        alerts += engine.process(camera, clip, descriptions(result, camera, MODEL)[0], ring=ring)
    assert [a.phase for a in alerts] == ["new", "update"]
    evidence = alerts[0].evidence
    assert evidence == alerts[1].evidence
    with av.open(evidence.clip) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 19 * 15
    assert Path(evidence.image).stat().st_size > 0
    assert evidence.start < evidence.end
