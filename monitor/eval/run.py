"""`monitor eval`: score every labelled video, measure at clip (window), event and video level, replay the
alert rules per threshold, recommend alerts.threshold, and write report.json and report.html."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from monitor.inference.registry import create_backend
from monitor.config.models import MonitorConfig
from monitor.eval import metrics as m
from monitor.eval.labels import LabeledVideo, load_labels
from monitor.eval.scoring import ScoredWindow, score_video, video_fps

logger = logging.getLogger(__name__)

WORST = 8


@dataclass
class VideoResult:
    video: LabeledVideo
    windows: list[ScoredWindow]
    labels: list[int]                  # per window
    events: list[list[int]]            # per labelled event: the indices of the windows that saw it
    intervals: list[tuple[float, float]]

    @property
    def hours(self) -> float:
        return (self.windows[-1].end if self.windows else 0.0) / 3600


def evaluate(config: MonitorConfig, labels_path: Path, clips_dir: Path, out_dir: Path, backend=None) -> dict:
    videos = load_labels(Path(labels_path), Path(clips_dir))
    own_backend = backend is None
    backend = backend or create_backend(config.model)
    try:
        results = []
        for n, video in enumerate(videos, start=1):
            logger.info("eval: %d/%d %s", n, len(videos), video.name)
            results.append(label_windows(video, score_video(config, backend, video.path, video.name)))
    finally:
        if own_backend:
            backend.close()
    report = summarize(config, results)
    from monitor.eval.report import write_report

    write_report(Path(out_dir), report, results)
    return report


def label_windows(video: LabeledVideo, windows: list[ScoredWindow]) -> VideoResult:
    fps = video_fps(video.path) if video.in_frames else 1.0
    intervals = [(s / fps, e / fps) for s, e in video.intervals]
    if video.whole is not None and not intervals:
        labels = [video.whole] * len(windows)
        events = [list(range(len(windows)))] if video.whole else []
    else:
        labels = [int(any(s <= t <= e for t in w.frame_times for s, e in intervals)) for w in windows]
        events = [[i for i, w in enumerate(windows) if any(s <= t <= e for t in w.frame_times)] for s, e in intervals]
    return VideoResult(video, windows, labels, events, intervals)


def event_units(r: VideoResult) -> list[tuple[float, int]]:
    """(score, label) per unit: each labelled event (its best window; 0 if no window saw it) and each run
    of windows between events (a stretch of normal video: a false alarm anywhere in it counts once)."""
    scores = [w.score for w in r.windows]
    units = [(max((scores[i] for i in idx), default=0.0), 1) for idx in r.events]
    run: list[float] = []
    for score, label in zip(scores, r.labels):
        if label:
            if run:
                units.append((max(run), 0))
            run = []
        else:
            run.append(score)
    if run:
        units.append((max(run), 0))
    return units


def summarize(config: MonitorConfig, results: list[VideoResult]) -> dict:
    scores = [w.score for r in results for w in r.windows]
    labels = [y for r in results for y in r.labels]
    units = [u for r in results for u in event_units(r)]
    e_scores, e_labels = [s for s, _ in units], [y for _, y in units]
    v_scores = [max((w.score for w in r.windows), default=0.0) for r in results]
    v_labels = [int(r.video.positive) for r in results]
    rules = alert_rules(config, results)
    return {
        "clips": {"videos": len(results), "windows": len(scores), "positive_windows": sum(labels),
                  "events": sum(len(r.events) for r in results), "hours": round(sum(r.hours for r in results), 4)},
        "config": {"window": config.window.model_dump(), "model": {"id": config.model.id, "backend": config.model.backend},
                   "alerts": config.alerts.model_dump(include={"threshold", "open_after", "close_after", "smoothing"})},
        "clip": level(scores, labels),
        "event": level(e_scores, e_labels),
        "video": level(v_scores, v_labels),
        "alert_rules": rules,
        "recommended": recommend(rules["configured"], config.alerts.threshold),
        "worst": worst_cases(results),
        "curves": {"clip": curves(scores, labels), "event": curves(e_scores, e_labels)},
    }


def level(scores: list[float], labels: list[int]) -> dict:
    return {"units": len(scores), "positives": sum(labels), "roc_auc": _round(m.roc_auc(scores, labels)),
            "average_precision": _round(m.average_precision(scores, labels)), "thresholds": m.per_threshold(scores, labels)}


def curves(scores: list[float], labels: list[int]) -> dict:
    fpr, tpr = m.roc_curve(scores, labels)
    recall, precision = m.pr_curve(scores, labels)
    return {"fpr": fpr, "tpr": tpr, "recall": recall, "precision": precision}


def alert_rules(config: MonitorConfig, results: list[VideoResult]) -> dict:
    a = config.alerts
    hours = sum(r.hours for r in results)
    return {"configured": [replay(results, t, a.open_after, a.close_after, a.smoothing, hours) for t in m.THRESHOLDS],
            "raw": [replay(results, t, 1, 1, 1.0, hours) for t in m.THRESHOLDS]}


def replay(results: list[VideoResult], threshold: float, open_after: int, close_after: int, smoothing: float,
           hours: float) -> dict:
    alerts = false = detected = events = 0
    for r in results:
        spans = m.replay_alerts([w.score for w in r.windows], threshold, open_after, close_after, smoothing)
        alerts += len(spans)
        false += sum(1 for s in spans if not any(r.labels[s.first:s.last + 1]))
        events += len(r.events)
        detected += sum(1 for idx in r.events if any(s.first <= i <= s.last for s in spans for i in idx))
    true = alerts - false
    return {"threshold": threshold, "alerts": alerts, "false_alerts": false,
            "false_alerts_per_hour": round(false / hours, 3) if hours else None, "events": events,
            "events_detected": detected, **m.prf(true, false, events - detected)}


def recommend(rows: list[dict], current: float) -> dict:
    """The threshold with the best F1 of alert precision and event recall under the configured rules;
    among equals, the highest (fewest false alerts)."""
    best = max(rows, key=lambda r: (r["f1"], r["threshold"]))
    why = ("best F1 of alert precision and event recall with the configured open_after, close_after and smoothing"
           if best["f1"] > 0 else "no threshold detected any event; keeping the configured one")
    threshold = best["threshold"] if best["f1"] > 0 else current
    return {"threshold": threshold, "why": why, "at_threshold": best if best["f1"] > 0 else None}


def worst_cases(results: list[VideoResult]) -> dict:
    windows = [(w, y) for r in results for w, y in zip(r.windows, r.labels)]
    false_pos = sorted((w for w, y in windows if not y), key=lambda w: -w.score)[:WORST]
    misses = sorted((w for w, y in windows if y), key=lambda w: w.score)[:WORST]
    as_row = lambda w: {"video": w.video, "seq": w.seq, "start": round(w.start, 2), "end": round(w.end, 2),  # noqa: E731
                        "score": round(w.score, 4)}
    return {"false_positives": [as_row(w) for w in false_pos], "misses": [as_row(w) for w in misses]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
