"""The console: one timestamp format for log lines and printed results; each state printed once."""

from __future__ import annotations

import logging
import re
import time

from monitor.logs import JsonFormatter, TextFormatter
from monitor.output import ResultPrinter
from monitor.schema import CameraRef, Status, rfc3339, stable_id

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def status(state: str, camera: str | None = None) -> Status:
    now = time.time()
    return Status(message_id=stable_id(state, camera, now), ts=rfc3339(now), state=state,
                  camera=CameraRef(id=camera, name=camera) if camera else None)


def test_log_lines_and_results_share_one_timestamp_format():
    record = logging.LogRecord("monitor", logging.INFO, __file__, 1, "hello", None, None)
    text = TextFormatter().format(record)
    assert RFC3339_MS.match(text.split()[0]) and text.endswith(" INFO monitor: hello")
    assert text.split()[0] == rfc3339(record.created)
    assert '"ts": "' + rfc3339(record.created) + '"' in JsonFormatter().format(record)
    printed = []
    ResultPrinter(printed.append).publish("status", status("running"))
    assert RFC3339_MS.match(printed[0].split()[0])


def test_each_worker_state_is_printed_once_and_camera_states_are_left_to_the_log():
    printed = []
    printer = ResultPrinter(printed.append)
    for message in [status("starting"), status("running"), status("online", "cam"), status("running"),
                    status("reconnecting", "cam"), status("stopped")]:
        printer.publish("status", message)
    assert [line.split(" ", 1)[1] for line in printed] == ["status worker starting", "status worker running",
                                                           "status worker stopped"]
