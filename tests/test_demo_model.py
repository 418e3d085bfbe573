"""The shipped demo model: real classes through from_pretrained, scores that see the incidents, and
the embedded demo raising an alert on the bundled footage and ending it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import cv2
import pytest
import torch
from transformers import AutoProcessor, LlavaNextVideoForConditionalGeneration

from monitor.assets.scenes import ROAD, STREET, Incident, SceneSpec, make_scene
from monitor.backends.llava_next_video.preprocess import FramePreprocessor
from monitor.backends.scoring import YesNoScorer
from monitor.clip import Clip
from monitor.config.models import ModelConfig, default_prompts
from monitor.demo_model import DEMO_MODEL_DIR
from monitor.demo_model.answers import anomaly_answer
from monitor.demo_model.clips import rendered_frames, window
from monitor.demo_model.data import crop_uint8, normalise
from monitor.inference.contract import InferenceRequest
from monitor.inference.prompts import ANOMALY, build_prompt
from monitor.inference.registry import create_backend
from monitor.schema import Alert, parse_entry

HELD_OUT = 300_000  # scene seeds far from the training (1000-1299) and evaluation (100000-) ones


@pytest.fixture(scope="module")
def backend():
    b = create_backend(ModelConfig(id=str(DEMO_MODEL_DIR), device="cpu", max_new_tokens=80))
    yield b
    b.close()


def ask(backend, spec: SceneSpec, start: float, end: float):
    win = window(spec, start, end, 8)
    clip = Clip(spec.kind, 0, rendered_frames(make_scene(spec), win), win.times, start, end)
    request = InferenceRequest(clip=clip, prompts=(build_prompt(ANOMALY, default_prompts()),))
    return backend.infer([request])[0].results[0]


def test_the_shipped_checkpoint_loads_through_from_pretrained_with_the_real_classes():
    model = LlavaNextVideoForConditionalGeneration.from_pretrained(DEMO_MODEL_DIR, use_safetensors=True)
    processor = AutoProcessor.from_pretrained(DEMO_MODEL_DIR)
    assert type(processor).__name__ == "LlavaNextVideoProcessor"
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    text = processor.apply_chat_template(build_prompt(ANOMALY, default_prompts()).messages(), add_generation_prompt=True)
    assert text.startswith("USER: <video>\n") and text.endswith(" ASSISTANT:")
    scorer = YesNoScorer(processor.tokenizer)  # raises unless Yes and No are clean single tokens
    assert scorer.yes_ids and scorer.no_ids
    crop = processor.video_processor.crop_size
    size = processor.video_processor.size["shortest_edge"]
    assert size == crop["height"] == crop["width"] == model.config.vision_config.image_size
    assert sum(f.stat().st_size for f in DEMO_MODEL_DIR.iterdir()) < 8 * 2**20


@pytest.mark.parametrize("spec, during, before", [
    (SceneSpec(STREET, HELD_OUT, 20, (Incident("person_fall", 8, 16, 0.3),)), (10, 14), (1, 5)),
    (SceneSpec(STREET, HELD_OUT + 2, 20, (Incident("smoke", 8, 16, 0.7),)), (10, 14), (1, 5)),
    (SceneSpec(STREET, HELD_OUT + 4, 20, (Incident("car_stopped", 8, 16, 0.5),)), (10, 14), (1, 5)),
    (SceneSpec(ROAD, HELD_OUT + 1, 20, (Incident("wrong_way", 8, 16, 0.5),)), (10, 14), (1, 5)),
], ids=["person_fall", "smoke", "car_stopped", "wrong_way"])
def test_a_held_out_incident_window_scores_above_a_normal_one_and_is_described_truly(backend, spec, during, before):
    incident, normal = ask(backend, spec, *during), ask(backend, spec, *before)
    assert incident.score > normal.score
    assert incident.score >= 0.5 > normal.score
    assert incident.text.startswith(anomaly_answer(spec.kind, spec.incidents[0].kind, verdict=False))
    assert normal.text.startswith(anomaly_answer(spec.kind, None, verdict=False))


@pytest.mark.slow
def test_the_embedded_demo_opens_an_alert_with_evidence_on_the_bundled_footage_and_ends_it(
        redis_config, redis_client, tmp_path, monkeypatch):
    from monitor.app.daemon import Monitor
    from monitor.app.demo import demo_config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = demo_config()
    config.redis = redis_config
    config.print_results = False
    config.metrics.listen = "127.0.0.1:0"
    stream = f"{redis_config.prefix}alerts"
    stop, started = threading.Event(), time.monotonic()
    runner = threading.Thread(target=Monitor(config).run, args=(stop,), daemon=True)
    runner.start()
    try:
        alerts: list[Alert] = []
        while time.monotonic() - started < 180 and not any(a.phase == "end" for a in alerts):
            time.sleep(1)
            alerts = [parse_entry(fields) for _, fields in redis_client.xrange(stream)]
    finally:
        stop.set()
        runner.join(60)
    opened = next(a for a in alerts if a.phase == "new")
    assert any(a.phase == "end" and a.alert_id == opened.alert_id for a in alerts)
    assert opened.severity >= 1 and opened.title
    with av.open(opened.evidence.clip) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0
    assert cv2.imread(opened.evidence.image) is not None
    assert Path(opened.evidence.clip).is_relative_to(tmp_path / "cache")


def test_training_inputs_are_the_engines_preprocessed_frames():
    pre = FramePreprocessor(AutoProcessor.from_pretrained(DEMO_MODEL_DIR).video_processor, torch.device("cpu"),
                            torch.float32)
    spec = SceneSpec(STREET, HELD_OUT, 10, (Incident("smoke", 2, 8, 0.5),))
    video = rendered_frames(make_scene(spec), window(spec, 1, 5, 8))
    assert torch.equal(normalise(pre, crop_uint8(pre, video)), pre(list(video[None]))[0])
