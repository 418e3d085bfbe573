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
