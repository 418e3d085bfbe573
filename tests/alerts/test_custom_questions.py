"""Cameras ask their own scored questions: each has its own track and alerts on its own."""

from __future__ import annotations

from monitor.alerts import AlertEngine
from monitor.config import validate
from monitor.inference.contract import InferenceRequest, InferenceResult, PromptResult
from monitor.inference.prompts import prompts_for
from monitor.pipeline.messages import descriptions
from tests.alerts.conftest import MODEL, make_clip

CONFIG = validate({
    "prompts": {"smoke": {"question": "Is there smoke or fire?", "score": True},
                "tracks": {"question": "Is a person on the tracks?", "score": True}},
    "cameras": [{"id": "platform-2", "url": "rtsp://cam.local/p2", "prompts": ["smoke", "tracks"]}],
    "alerts": {"open_after": 1, "close_after": 1, "smoothing": 1.0}})


def windows(engine, scores):
    """Each window's two answers -> descriptions -> alert rules; returns the alerts per window."""
    camera = CONFIG.cameras[0]
    prompts = prompts_for(camera, CONFIG.prompts)
    out = []
    for i, (smoke, tracks) in enumerate(scores):
        clip = make_clip(camera.id, i)
        result = InferenceResult(InferenceRequest(clip, prompts), (PromptResult("smoke", "Yes.", smoke),
                                                                    PromptResult("tracks", "Yes.", tracks)))
        messages = descriptions(result, camera, MODEL)
        assert [(m.prompt_id, m.score) for m in messages] == [("smoke", smoke), ("tracks", tracks)]
        out.append([a for m in messages for a in engine.process(camera, clip, m)])
    return out


def test_two_scored_questions_are_both_asked_and_both_scored():
    prompts = prompts_for(CONFIG.cameras[0], CONFIG.prompts)
    assert [(p.id, p.scored) for p in prompts] == [("smoke", True), ("tracks", True)]
    assert "Is a person on the tracks?" in prompts[1].question


def test_a_camera_alerts_on_either_of_its_scored_questions_each_with_its_own_alert():
    out = windows(AlertEngine(CONFIG.alerts), [(0.9, 0.1), (0.1, 0.1), (0.1, 0.9), (0.1, 0.1)])
    assert [(a.prompt_id, a.phase) for a in out[0]] == [("smoke", "new")]
    assert [(a.prompt_id, a.phase) for a in out[1]] == [("smoke", "end")]
    assert [(a.prompt_id, a.phase) for a in out[2]] == [("tracks", "new")]
    assert out[0][0].alert_id != out[2][0].alert_id


def test_closing_a_camera_ends_the_open_alert_of_every_question():
    engine = AlertEngine(CONFIG.alerts)
    windows(engine, [(0.9, 0.9)])
    assert sorted((a.prompt_id, a.phase) for a in engine.close("platform-2")) == [("smoke", "end"), ("tracks", "end")]
