import logging

from monitor.redact import RedactingFilter, mask_url, redact_text


def test_mask_url_keeps_user_and_host():
    assert mask_url("rtsp://admin:pa:ss@10.0.0.5:554/s1") == "rtsp://admin:***@10.0.0.5:554/s1"
    assert mask_url("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert mask_url("/data/file.mp4") == "/data/file.mp4"


def test_redact_text_masks_urls_inside_messages():
    text = "Connection to rtsp://u:secret@cam/stream failed; retry rtsps://x:y@h/z"
    clean = redact_text(text)
    assert "secret" not in clean and ":y@" not in clean
    assert "rtsp://u:***@cam/stream" in clean


def test_logging_filter_masks_arguments_and_exceptions(caplog):
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactingFilter())
    try:
        raise OSError("cannot open rtsp://u:topsecret@cam/s")
    except OSError:
        logger.exception("camera %s failed", "rtsp://u:topsecret@cam/s")
    record = caplog.records[-1]
    assert "topsecret" not in record.getMessage()
    assert "topsecret" not in (record.exc_text or "")


def test_secret_query_parameters_are_masked_and_other_parameters_kept():
    url = "http://cam/snap.jpg?user=admin&password=hunter2&channel=1"
    assert mask_url(url) == "http://cam/snap.jpg?user=admin&password=***&channel=1"
    for name in ("pass", "pwd", "PWD", "token", "key", "auth", "api_key", "access_token"):
        assert "hunter2" not in mask_url(f"rtsp://cam/s1?{name}=hunter2"), name
    assert mask_url("http://cam/?keyframe=3&monkey=1") == "http://cam/?keyframe=3&monkey=1"
    assert mask_url("rtsp://cam/s1?user=admin;pwd=hunter2") == "rtsp://cam/s1?user=admin;pwd=***"


def test_percent_encoded_credentials_are_masked():
    # A camera URL carried inside another URL's query, and a parameter name written with escapes.
    assert "hunter2" not in redact_text("http://relay/?next=rtsp%3A%2F%2Fu%3Ahunter2%40cam%2Fs1")
    assert "hunter2" not in redact_text("http://relay/?u=a%26password%3Dhunter2%26b=1")
    assert "hunter2" not in redact_text("http://cam/?pass%77ord=hunter2")
    assert redact_text("rtsp://u:p@ss@cam/s1 failed") == "rtsp://u:***@cam/s1 failed"


def test_text_without_urls_is_left_alone():
    for text in ("mail a@b.c and x:y@z", "score=0.5 latency=3", "/data/a=b.mp4"):
        assert redact_text(text) == text
