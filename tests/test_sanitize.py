from monitor.output import line_for
from monitor.sanitize import safe_text
from monitor.schema import CameraRef, Status


def test_escapes_bidi_and_line_separators_are_removed_from_model_text():
    text = "Man \u202eevil\u202c at gate\u2028second line \x1b[31mred\x1b[0m \x1b]0;title\x07 \u2066x\u2069"
    assert safe_text(text) == "Man evil at gate second line red x"


def test_a_console_line_carries_no_escape_from_a_status_read_back_from_redis():
    message = Status(message_id="m", ts="2026-01-01T00:00:00Z", camera=CameraRef(id="c", name="c"),
                     state="error", detail="\x1b[2J\x1b[Hfake\nALERT \u2028x")
    line = line_for(message)
    assert "\x1b" not in line and "\n" not in line and "\u2028" not in line and "fake ALERT x" in line
