"""model.backend/model.options and prompts as named questions; old configs keep working."""

from __future__ import annotations

import logging

import pytest

from monitor.config import ConfigError, parse_config


def test_old_transformers_backend_with_engine_keys_means_llava_next_video_and_says_the_new_form(caplog):
    with caplog.at_level(logging.WARNING):
        config = parse_config("model: {backend: transformers, engine: reference, compile: false}")
    assert config.model.backend == "llava_next_video"
    assert config.model.options == {"engine": "reference", "compile": False}
    assert "model.backend: llava_next_video" in caplog.text and "model.options" in caplog.text


def test_generic_transformers_backend_is_chosen_with_options():
    config = parse_config("model: {backend: transformers, options: {video: false}}")
    assert config.model.backend == "transformers" and config.model.backend_options.video is False


def test_an_unknown_option_is_an_error_naming_its_key():
    with pytest.raises(ConfigError, match=r"model.options.bogus"):
        parse_config("model: {options: {bogus: 1}}")


def test_engine_keys_under_another_backend_are_an_error_pointing_at_options():
    with pytest.raises(ConfigError, match="llava_next_video backend; for 'transformers' see model.options"):
        parse_config("model: {backend: transformers, options: {}, engine: fast}")


def test_prompts_as_plain_strings_keep_working_and_anomaly_stays_scored():
    config = parse_config("prompts: {anomaly: 'Anything odd?', road: 'How is the road?'}")
    assert (config.prompts["anomaly"].question, config.prompts["anomaly"].score) == ("Anything odd?", True)
    assert config.prompts["road"].score is False


def test_named_questions_extend_the_built_in_ones_and_cameras_list_them():
    config = parse_config("""
prompts:
  smoke: {question: 'Is there smoke?', score: true}
cameras:
  - {id: dock, url: rtsp://cam/1, prompts: [anomaly, smoke]}
  - {id: truck, url: /data/dashcam, kind: dashcam}
""")
    assert set(config.prompts) == {"anomaly", "road", "smoke"}
    assert config.cameras[0].prompt_ids == ["anomaly", "smoke"]
    assert config.cameras[1].prompt_ids == ["anomaly", "road"]


def test_a_camera_naming_an_undefined_question_is_an_error_listing_the_defined_ones():
    with pytest.raises(ConfigError, match=r"prompts \['fire'\] are not defined under `prompts` \(defined: anomaly, road\)"):
        parse_config("cameras: [{id: a, url: rtsp://cam/1, prompts: [fire]}]")
