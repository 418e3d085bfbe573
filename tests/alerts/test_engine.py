"""Scripted score sequences -> exactly the expected alert phases, ids and cooldowns."""

from __future__ import annotations

from monitor.alerts import AlertEngine
from monitor.config.models import AlertsConfig, CameraConfig
from monitor.schema import Evidence, parse_entry, stable_id, stream_fields
from tests.alerts.conftest import STRIDE, T0, run_script


def phases(out):
    return [(i, alert.phase) for i, alert in out]


def test_hysteresis_opens_after_open_after_windows_and_ends_after_close_after_windows(rules, camera):
    # given scores whose third window is the second in a row over the threshold
    script = [0.1, 0.9, 0.9, 0.8, 0.2, 0.7, 0.1, 0.1, 0.1]
    # when
    out = run_script(AlertEngine(rules), camera, script)
    # then: one dip does not close it, two in a row do; every open window is an update
    assert phases(out) == [(2, "new"), (3, "update"), (4, "update"), (5, "update"), (6, "update"), (7, "end")]
    expected_id = stable_id("alert", "gate-1", f"{T0 + 2 * STRIDE:.3f}")
    assert {alert.alert_id for _, alert in out} == {expected_id}
    assert len({alert.message_id for _, alert in out}) == len(out)


def test_a_score_exactly_at_the_threshold_counts_as_over_it(rules, camera):
    out = run_script(AlertEngine(rules), camera, [0.5, 0.5])
    assert phases(out) == [(1, "new")]


def test_the_same_windows_give_the_same_message_ids_on_a_second_run(rules, camera):
    script = [0.9, 0.9, 0.9, 0.0, 0.0]
    first = run_script(AlertEngine(rules), camera, script)
    second = run_script(AlertEngine(rules), camera, script)
    assert [a.message_id for _, a in first] == [a.message_id for _, a in second]
    assert len(first) == 4


def test_cooldown_holds_back_the_same_category_on_the_same_camera_until_it_expires(rules, camera):
    # given: an alert that ends at window 3; cooldown 60 s = 12 windows of 5 s
    engine = AlertEngine(rules)
    first = run_script(engine, camera, [0.9, 0.9, 0.0, 0.0])
    assert phases(first) == [(1, "new"), (2, "update"), (3, "end")]
    end_at = T0 + first[-1][0] * STRIDE
    # when the camera is anomalous again for the next 16 windows
    again = run_script(engine, camera, [0.9] * 16, first=4)
    # then the next alert opens at the first window at least 60 s after the end, with a new id
    news = [(i, a) for i, a in again if a.phase == "new"]
    assert len(news) == 1
    i, alert = news[0]
    assert T0 + i * STRIDE >= end_at + 60 and T0 + (i - 1) * STRIDE < end_at + 60
    assert alert.alert_id != first[0][1].alert_id
    assert engine.suppressed["cooldown"] > 0


def test_cooldown_is_per_camera(rules, camera):
    engine = AlertEngine(rules)
    run_script(engine, camera, [0.9, 0.9, 0.0, 0.0])
    other = CameraConfig(id="gate-2", url="rtsp://cam.local/stream2")
    out = run_script(engine, other, [0.9, 0.9], first=4)
    assert phases(out) == [(5, "new")]


def test_cooldown_is_per_category(rules, camera):
    fire = '{"title": "Smoke", "summary": "Smoke rises.", "category": "fire_smoke", "severity": 2, "confidence": 0.9}'
    theft = '{"title": "Bag taken", "summary": "A bag is taken.", "category": "theft", "severity": 1, "confidence": 0.7}'
    engine = AlertEngine(rules)
    run_script(engine, camera, [(0.9, f"Yes. {fire}")] * 2 + [(0.0, "No.")] * 2)
    same = run_script(engine, camera, [(0.9, f"Yes. {fire}")] * 2, first=4)
    other = run_script(engine, camera, [(0.9, f"Yes. {theft}")], first=6)
    assert same == []
    assert phases(other) == [(6, "new")]
    assert other[0][1].title == "Bag taken"


def test_a_new_alert_that_repeats_a_recent_description_is_not_opened(camera):
    rules = AlertsConfig(threshold=0.5, open_after=1, close_after=1, cooldown_seconds=0, smoothing=1.0,
                         dedupe_similarity=0.9, dedupe_seconds=300)
    engine = AlertEngine(rules)
    same = "Yes. A man in a red jacket climbs the fence near the gate."
    out = run_script(engine, camera, [(0.9, same), (0.0, "No."), (0.9, same.replace("the gate", "the gate!")),
                                      (0.0, "No."), (0.9, "Yes. A car burns in the parking lot.")])
    assert phases(out) == [(0, "new"), (1, "end"), (4, "new")]
    assert engine.suppressed["duplicate"] == 1


def test_smoothing_keeps_a_single_spike_from_opening_an_alert(camera):
    rules = AlertsConfig(threshold=0.6, open_after=1, close_after=1, smoothing=0.5, dedupe_seconds=0)
    assert run_script(AlertEngine(rules), camera, [0.0, 0.0, 1.0, 0.0, 0.0]) == []
    # while a sustained run does open one (0.5, then 0.75 >= 0.6)
    assert phases(run_script(AlertEngine(rules), camera, [0.0, 1.0, 1.0])) == [(2, "new")]


def test_a_camera_without_scores_falls_back_to_the_yes_no_answer(rules, camera):
    script = [(None, "No. Quiet street."), (None, "Yes. A fight."), (None, "Yes, still fighting."),
              (None, "No."), (None, "I cannot tell.")]
    out = run_script(AlertEngine(rules), camera, script)
    assert phases(out) == [(2, "new"), (3, "update"), (4, "end")]
    assert out[0][1].score is None


def test_alerts_round_trip_through_the_stream_schema(rules, camera):
    out = run_script(AlertEngine(rules), camera, [0.9, 0.9, 0.0, 0.0])
    for _, alert in out:
        assert parse_entry(stream_fields("alert", alert)) == alert


class RecordingStore:
    def __init__(self, fail: bool = False):
        self.calls = []
        self.fail = fail

    def capture(self, camera_id, clip, ring):
        self.calls.append((camera_id, clip.seq, ring))
        if self.fail:
            raise OSError("disk full")
        return Evidence(clip="/e/x.mp4", image="/e/x.jpg")


def test_evidence_is_captured_once_on_new_and_carried_by_every_phase(rules, camera):
    store = RecordingStore()
    out = run_script(AlertEngine(rules, store), camera, [0.9, 0.9, 0.9, 0.0, 0.0])
    assert store.calls == [("gate-1", 1, None)]
    assert all(alert.evidence.clip == "/e/x.mp4" for _, alert in out)


def test_a_failing_evidence_store_never_loses_the_alert(rules, camera):
    out = run_script(AlertEngine(rules, RecordingStore(fail=True)), camera, [0.9, 0.9])
    assert phases(out) == [(1, "new")]
    assert out[0][1].evidence == Evidence()


def test_close_ends_an_open_alert(rules, camera):
    engine = AlertEngine(rules)
    out = run_script(engine, camera, [0.9, 0.9])
    ended = engine.close("gate-1")
    assert [a.phase for a in ended] == ["end"]
    assert ended[0].alert_id == out[0][1].alert_id
    assert engine.close("gate-1") == []
    # and the camera can alert again, from scratch, once the cooldown allows
    assert run_script(engine, camera, [0.9, 0.9], first=40)[0][1].phase == "new"


def test_windows_without_text_are_never_taken_for_repeats(camera):
    rules = AlertsConfig(threshold=0.5, open_after=1, close_after=1, cooldown_seconds=0, smoothing=1.0,
                         dedupe_similarity=0.9, dedupe_seconds=300)
    out = run_script(AlertEngine(rules), camera, [(0.9, ""), (0.1, ""), (0.9, "")])
    assert phases(out) == [(0, "new"), (1, "end"), (2, "new")]


def test_json_around_different_verdicts_does_not_make_them_repeats(camera):
    rules = AlertsConfig(threshold=0.5, open_after=1, close_after=1, cooldown_seconds=0, smoothing=1.0,
                         dedupe_similarity=0.8, dedupe_seconds=300)
    a = '{"title": "Fence climbed", "summary": "A man climbs the fence.", "category": "other", "severity": 1}'
    b = '{"title": "Car on fire", "summary": "Flames under a parked car.", "category": "other", "severity": 1}'
    out = run_script(AlertEngine(rules), camera, [(0.9, f"Yes. {a}"), (0.1, "No."), (0.9, f"Yes. {b}")])
    assert phases(out) == [(0, "new"), (1, "end"), (2, "new")]


def test_verdict_fields_reach_the_alert_through_the_installed_schema(rules, camera):
    # The real Alert schema, not a stand-in: what it declares of the verdict is filled, the rest is in
    # title, severity and text, and every message validates.
    from monitor.schema import Alert

    verdict = '{"title": "Smoke", "summary": "Grey smoke.", "category": "fire_smoke", "severity": 2}'
    engine = AlertEngine(rules)
    parsed = run_script(engine, camera, [(0.9, f"Yes. {verdict}")] * 2)
    broken = run_script(AlertEngine(rules), camera, [(0.9, "Yes. Smoke, I think.")] * 2)
    alert, plain = parsed[0][1], broken[0][1]
    assert isinstance(alert, Alert) and Alert.model_validate_json(alert.model_dump_json()) == alert
    assert (alert.phase, alert.title, alert.severity, alert.text) == ("new", "Smoke", 2, "Grey smoke.")
    assert plain.phase == "new" and plain.text == "Smoke, I think."   # the answer without its Yes
    want = {"category": ("fire_smoke", "other"), "summary": ("Grey smoke.", None), "verdict_parsed": (True, False)}
    for field, (from_json, from_text) in want.items():
        if field in Alert.model_fields:
            assert getattr(alert, field) == from_json
            if from_text is not None:
                assert getattr(plain, field) == from_text
    assert engine.unparsed_verdicts == 0


def test_each_suppressed_alert_is_counted_once_and_logged_with_its_camera(rules, camera, caplog):
    engine = AlertEngine(rules)
    run_script(engine, camera, [0.9, 0.9, 0.0, 0.0])              # opens at 1, ends at 3: cooldown starts
    with caplog.at_level("INFO", logger="monitor.alerts.engine"):
        run_script(engine, camera, [0.9, 0.9], first=4)            # would open at 5: 10 s after the end
    assert engine.suppressed == {"cooldown": 1, "duplicate": 0}
    assert caplog.messages == ["camera gate-1: other alert held back by cooldown (50 s left)"]


def test_a_repeat_of_a_recent_alert_is_counted_as_duplicate_and_logged(camera, caplog):
    rules = AlertsConfig(threshold=0.5, open_after=1, close_after=1, cooldown_seconds=0, smoothing=1.0,
                         dedupe_similarity=0.8, dedupe_seconds=300)
    engine = AlertEngine(rules)
    verdict = '{"title": "Fence climbed", "summary": "A man climbs the fence.", "category": "other", "severity": 1}'
    with caplog.at_level("INFO", logger="monitor.alerts.engine"):
        out = run_script(engine, camera, [(0.9, f"Yes. {verdict}"), (0.1, "No."), (0.9, f"Yes. {verdict}")])
    assert phases(out) == [(0, "new"), (1, "end")]
    assert engine.suppressed == {"cooldown": 0, "duplicate": 1}
    assert caplog.messages == ["camera gate-1: alert not opened, it repeats a recent one"]


def test_an_update_raises_the_severity_and_the_end_keeps_it(camera):
    rules = AlertsConfig(threshold=0.5, open_after=1, close_after=1, cooldown_seconds=0, smoothing=1.0,
                         dedupe_seconds=0)
    low = '{"title": "Loitering", "summary": "A man waits.", "category": "intrusion", "severity": 1}'
    high = '{"title": "Break-in", "summary": "He forces the door.", "category": "intrusion", "severity": 2}'
    out = run_script(AlertEngine(rules), camera,
                     [(0.9, f"Yes. {low}"), (0.9, f"Yes. {high}"), (0.9, "Yes. unclear"), (0.1, "No.")])
    assert [(a.phase, a.severity, a.title) for _, a in out] == [
        ("new", 1, "Loitering"), ("update", 2, "Loitering"), ("update", 2, "Loitering"), ("end", 2, "Loitering")]


def test_close_ends_an_open_alert_with_its_own_message_id_and_never_twice(rules, camera):
    engine = AlertEngine(rules)
    out = run_script(engine, camera, [0.9, 0.9, 0.9])
    assert phases(out) == [(1, "new"), (2, "update")]
    update = out[-1][1]
    (end,) = engine.close(camera.id)
    assert end.phase == "end" and end.alert_id == update.alert_id and end.window == update.window
    assert end.message_id != update.message_id   # same window as the update, told apart by the close tag
    assert end.confidence == update.confidence and end.severity == update.severity
    assert engine.close(camera.id) == []           # ended: a second close sends nothing
