"""Anomaly descriptions -> alert phases: smoothing, hysteresis, cooldown, dedupe, verdict, evidence."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.alerts.cooldown import Cooldown
from monitor.alerts.dedupe import RecentTexts
from monitor.alerts.hysteresis import ScoreTrack
from monitor.alerts.verdict import ParsedVerdict, parse_verdict
from monitor.clip import Clip
from monitor.config.models import AlertsConfig, CameraConfig
from monitor.inference.prompts import ANOMALY, answer_is_yes
from monitor.schema import Alert, Description, Evidence, rfc3339, stable_id

logger = logging.getLogger(__name__)


@dataclass
class OpenAlert:
    alert_id: str
    title: str
    category: str
    severity: int
    evidence: Evidence
    last: Description  # the latest window's description, repeated by close()


@dataclass
class CameraState:
    track: ScoreTrack
    lock: threading.Lock = field(default_factory=threading.Lock)
    alert: OpenAlert | None = None


class AlertEngine:
    """One per process. `process` is called once per scored description of a camera (anomaly, or any
    scored question of the config), in window order; each camera and question has its own track, so a
    camera alerts on either of two questions. Different cameras may call it from different threads."""

    def __init__(self, alerts_cfg: AlertsConfig, evidence_store: Any | None = None):
        self.cfg = alerts_cfg
        self.evidence_store = evidence_store
        self._cameras: dict[tuple[str, str], CameraState] = {}  # (camera id, prompt id) -> its track
        self._lock = threading.Lock()
        self._cooldown = Cooldown(alerts_cfg.cooldown_seconds)
        self._recent = RecentTexts(alerts_cfg.dedupe_similarity, alerts_cfg.dedupe_seconds)
        self.suppressed = {"cooldown": 0, "duplicate": 0}
        self.unparsed_verdicts = 0  # answers without a usable JSON verdict (their text was used instead)

    def process(self, camera: CameraConfig, clip: Clip, anomaly: Description, ring: Any | None = None) -> list[Alert]:
        """The alert messages this window yields (none, or one new/update/end). `ring` is the camera's
        packet ring, for the evidence MP4 of a new alert; without it only the JPEG is written."""
        state = self._state(camera.id, anomaly.prompt_id)
        with state.lock:
            score = window_score(anomaly)
            step = state.track.step(score)
            if step == "quiet":
                return []
            if step == "open":
                return self._open(state, camera, clip, anomaly, ring)
            return [self._follow(state, anomaly, "end" if step == "end" else "update", clip.window_end)]

    def close(self, camera_id: str) -> list[Alert]:
        """End a camera's open alerts now (camera removed or the daemon stopping), repeating their last window."""
        with self._lock:
            states = [state for key, state in self._cameras.items() if key[0] == camera_id]
        return [alert for state in states for alert in self._close(state)]

    def _close(self, state: CameraState) -> list[Alert]:
        with state.lock:
            if state.alert is None:
                return []
            state.track.closed()
            last = state.alert.last
            return [self._follow(state, last, "end", _window_end(last), same_window=True)]

    def _state(self, camera_id: str, prompt_id: str) -> CameraState:
        with self._lock:
            key = (camera_id, prompt_id)
            if key not in self._cameras:
                track = ScoreTrack(self.cfg.threshold, self.cfg.open_after, self.cfg.close_after, self.cfg.smoothing)
                self._cameras[key] = CameraState(track)
            return self._cameras[key]

    def _open(self, state: CameraState, camera: CameraConfig, clip: Clip, anomaly: Description,
              ring: Any | None) -> list[Alert]:
        verdict = self._verdict(anomaly, state.track)
        now = clip.window_end
        category = verdict.verdict.category
        scope = _scope(anomaly)
        if self._cooldown.blocks(scope, category, now):
            self.suppressed["cooldown"] += 1
            logger.info("camera %s: %s alert held back by cooldown (%.0f s left)", camera.id, category,
                        self._cooldown.remaining(scope, category, now))
            return []
        if self._recent.repeats(scope, gist(verdict), now):
            self.suppressed["duplicate"] += 1
            logger.info("camera %s: alert not opened, it repeats a recent one", camera.id)
            return []
        state.track.opened()
        # The anomaly question keeps the id it always had; other questions add their name.
        parts = (camera.id,) if anomaly.prompt_id == ANOMALY else (camera.id, anomaly.prompt_id)
        alert_id = stable_id("alert", *parts, f"{now:.3f}")
        state.alert = OpenAlert(alert_id, verdict.verdict.title, category, verdict.verdict.severity,
                                self._capture(camera.id, clip, ring), anomaly)
        self._recent.remember(scope, gist(verdict), now)
        return [self._message(state.alert, anomaly, "new", verdict)]

    def _follow(self, state: CameraState, anomaly: Description, phase: str, now: float,
                same_window: bool = False) -> Alert:
        alert = state.alert
        assert alert is not None, "hysteresis said open while no alert is open"
        verdict = self._verdict(anomaly, state.track)
        if phase == "update" and verdict.parsed:
            alert.severity = max(alert.severity, verdict.verdict.severity)
        alert.last = anomaly
        self._recent.remember(_scope(anomaly), gist(verdict), now)
        if phase == "end":
            state.alert = None
            self._cooldown.start(_scope(anomaly), alert.category, now)
        return self._message(alert, anomaly, phase, verdict, tag="close" if same_window else "")

    def _verdict(self, anomaly: Description, track: ScoreTrack) -> ParsedVerdict:
        confidence = track.smoothed if track.smoothed is not None else 0.5
        parsed = parse_verdict(anomaly.text, default_severity=1, default_confidence=confidence)
        if not parsed.parsed and anomaly.text.strip():
            self.unparsed_verdicts += 1
            logger.debug("camera %s: no structured verdict in the answer; using its text", anomaly.camera.id)
        return parsed

    def _capture(self, camera_id: str, clip: Clip, ring: Any | None) -> Evidence:
        if self.evidence_store is None:
            return Evidence()
        try:
            return self.evidence_store.capture(camera_id, clip, ring)
        except Exception:  # evidence is worth much, but never worth losing the alert over
            logger.exception("camera %s: evidence capture failed; the alert goes out without it", camera_id)
            return Evidence()

    def _message(self, alert: OpenAlert, anomaly: Description, phase: str, verdict: ParsedVerdict,
                 tag: str = "") -> Alert:
        v = verdict.verdict
        base = anomaly.model_dump(exclude={"message_id", "ts", "text"})
        return Alert(
            **base, **optional_fields(category=alert.category, summary=v.summary, verdict_parsed=verdict.parsed),
            message_id=stable_id("alert", alert.alert_id, phase, anomaly.message_id, tag),
            ts=rfc3339(time.time()), text=v.summary or anomaly.text[:2000],
            alert_id=alert.alert_id, phase=phase, title=alert.title if phase != "new" else v.title,
            severity=alert.severity if phase != "new" else v.severity, confidence=v.confidence,
            evidence=alert.evidence)


def window_score(anomaly: Description) -> float:
    """The window's anomaly score; a text-only answer counts Yes as 1 and No (or neither) as 0."""
    if anomaly.score is not None:
        return float(anomaly.score)
    return 1.0 if answer_is_yes(anomaly.text) else 0.0


def gist(verdict: ParsedVerdict) -> str:
    """What a window says, for de-duplication: the verdict's words, not the JSON around them. Empty for a
    window without text (score only), which then repeats nothing."""
    if not verdict.parsed:
        return verdict.verdict.summary
    return f"{verdict.verdict.title}. {verdict.verdict.summary}"


def optional_fields(**values: Any) -> dict[str, Any]:
    """Verdict fields the Alert schema may not have yet (category, summary, verdict_parsed): passed only
    where the schema declares them, so the message always validates against the installed schema."""
    return {name: value for name, value in values.items() if name in Alert.model_fields}


def _scope(description: Description) -> str:
    """Cooldown and de-duplication are a camera's for its anomaly question, a camera's question's for
    the others: smoke ending must not hold back a person on the tracks."""
    if description.prompt_id == ANOMALY:
        return description.camera.id
    return f"{description.camera.id}/{description.prompt_id}"


def _window_end(anomaly: Description) -> float:
    return datetime.fromisoformat(anomaly.window.end.replace("Z", "+00:00")).timestamp()
