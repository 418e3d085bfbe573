"""Config errors name the file, the key path and the problem, and never echo a secret."""

import pytest

from monitor.config import ConfigError, load_config, parse_config, redacted_dict

GOOD = """
redis: {url: "redis://127.0.0.1:6379/0", prefix: "monitor:"}
model: {id: "llava-hf/LLaVA-NeXT-Video-7B-hf"}
window: {seconds: 10, stride: 5, frames: 8}
cameras:
  - {id: gate-1, url: "rtsp://user:pass@cam.local/stream1", kind: fixed}
  - {id: truck-7, url: "/data/dashcam/truck-7/", kind: dashcam}
"""


def test_the_issue_example_is_valid_and_picks_prompts_by_kind():
    config = parse_config(GOOD)
    gate, truck = config.cameras
    assert (config.window.seconds, config.window.stride, config.window.frames) == (10, 5, 8)
    assert gate.prompt_ids == ["anomaly"]
    assert truck.prompt_ids == ["anomaly", "road"]


def test_unknown_key_is_named_with_its_path():
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD.replace("frames: 8", "frame: 8"), "site.yaml")
    assert "site.yaml: window.frame: unknown key" in str(err.value)


def test_bad_value_in_a_camera_names_the_list_index():
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD.replace("kind: dashcam", "kind: drone"), "site.yaml")
    assert "site.yaml: cameras[1].kind:" in str(err.value)
    assert "'fixed' or 'dashcam'" in str(err.value)


def test_several_problems_are_all_reported():
    text = GOOD.replace("stride: 5", "stride: -1").replace("id: gate-1", "id: '../etc'")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "x.yaml")
    paths = [path for path, _ in err.value.problems]
    assert paths == ["window.stride", "cameras[0].id"]


def test_yaml_syntax_error_gives_line_and_column():
    with pytest.raises(ConfigError) as err:
        parse_config("window: {seconds: 10\ncameras: [", "broken.yaml")
    assert str(err.value).startswith("broken.yaml: line ")
    assert "invalid YAML" in str(err.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml")
    assert "nope.yaml: cannot read the file" in str(err.value)


def test_duplicate_camera_ids_are_refused():
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD.replace("id: truck-7", "id: gate-1"))
    assert "used twice" in str(err.value)


def test_validation_errors_never_echo_the_secret():
    text = GOOD.replace("kind: fixed", "kind: fixed, pace: 12")
    text = text.replace("redis://127.0.0.1", "redis://:hunter2@127.0.0.1").replace("prefix: \"monitor:\"", "prefix: 5")
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert "hunter2" not in str(err.value) and "pass@" not in str(err.value)


def test_environment_references_and_overrides():
    text = GOOD.replace("user:pass@", "user:${CAM_PASS}@")
    env = {"CAM_PASS": "s3cret", "MONITOR__WINDOW__STRIDE": "2.5", "MONITOR__REDIS__PREFIX": "site7:",
           "MONITOR_REDIS_PASSWORD": "redispw"}
    config = parse_config(text, environ=env)
    assert config.cameras[0].url == "rtsp://user:s3cret@cam.local/stream1"
    assert config.window.stride == 2.5
    assert config.redis.prefix == "site7:"
    assert config.redis.password == "redispw"


def test_unset_environment_reference_is_an_error_naming_the_key():
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD.replace("user:pass@", "user:${CAM_PASS}@"), "s.yaml", environ={})
    assert "s.yaml: cameras[0].url: environment variable CAM_PASS is not set" in str(err.value)


def test_override_of_an_unknown_key_is_reported():
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD, "s.yaml", environ={"MONITOR__WINDOW__FRAMEZ": "4"})
    assert "window.framez: unknown key" in str(err.value)


def test_redacted_dict_masks_every_password():
    config = parse_config(GOOD.replace("redis://127", "redis://:redispw@127"), environ={"MONITOR_REDIS_PASSWORD": "x1"})
    data = redacted_dict(config)
    text = str(data)
    assert "pass@" not in text and "redispw" not in text and "x1" not in text
    assert data["cameras"][0]["url"] == "rtsp://user:***@cam.local/stream1"
