"""ROC AUC, average precision, precision/recall/F1 per threshold, and the alert rules replayed offline."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerts.hysteresis import ScoreTrack

THRESHOLDS = [round(i * 0.05, 2) for i in range(21)]


def roc_auc(scores: list[float], labels: list[int]) -> float | None:
    """P(a random positive scores above a random negative), ties counting half (Mann-Whitney U)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    ranked = sorted((s, y) for s, y in zip(scores, labels))
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # ranks i+1..j share their mean
        rank_sum += mid_rank * sum(1 for _, y in ranked[i:j] if y)
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def average_precision(scores: list[float], labels: list[int]) -> float | None:
    """Sum over distinct thresholds of (recall step) x precision, as scikit-learn computes it."""
    total_pos = sum(1 for y in labels if y)
    if total_pos == 0:
        return None
    ap, tp, fp, last_recall = 0.0, 0, 0, 0.0
    pairs = sorted(zip(scores, labels), key=lambda p: -p[0])
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            tp += pairs[j][1] > 0
            fp += pairs[j][1] == 0
            j += 1
        recall = tp / total_pos
        ap += (recall - last_recall) * tp / (tp + fp)
        last_recall, i = recall, j
    return ap


def roc_curve(scores: list[float], labels: list[int]) -> tuple[list[float], list[float]]:
    pos, neg = sum(1 for y in labels if y), sum(1 for y in labels if not y)
    fpr, tpr = [0.0], [0.0]
    for t in sorted(set(scores), reverse=True):
        fpr.append(sum(1 for s, y in zip(scores, labels) if s >= t and not y) / max(neg, 1))
        tpr.append(sum(1 for s, y in zip(scores, labels) if s >= t and y) / max(pos, 1))
    return fpr, tpr


def pr_curve(scores: list[float], labels: list[int]) -> tuple[list[float], list[float]]:
    pos = max(sum(1 for y in labels if y), 1)
    recall, precision = [], []
    for t in sorted(set(scores), reverse=True):
        tp = sum(1 for s, y in zip(scores, labels) if s >= t and y)
        fp = sum(1 for s, y in zip(scores, labels) if s >= t and not y)
        recall.append(tp / pos)
        precision.append(tp / max(tp + fp, 1))
    return recall, precision


def per_threshold(scores: list[float], labels: list[int], thresholds=THRESHOLDS) -> list[dict]:
    rows = []
    for t in thresholds:
        tp = sum(1 for s, y in zip(scores, labels) if s >= t and y)
        fp = sum(1 for s, y in zip(scores, labels) if s >= t and not y)
        fn = sum(1 for s, y in zip(scores, labels) if s < t and y)
        rows.append({"threshold": t, "tp": tp, "fp": fp, "fn": fn, "tn": len(scores) - tp - fp - fn,
                     **prf(tp, fp, fn)})
    return rows


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


@dataclass
class AlertSpan:
    first: int  # index of the window that opened it
    last: int   # index of the window that ended it (or the video's last window)


def replay_alerts(scores: list[float], threshold: float, open_after: int, close_after: int,
                  smoothing: float) -> list[AlertSpan]:
    """The alerts the daemon's rules would open over one camera's windows (cooldown and de-duplication,
    which need the model's words, are left out)."""
    track, spans, current = ScoreTrack(threshold, open_after, close_after, smoothing), [], None
    for i, score in enumerate(scores):
        step = track.step(score)
        if step == "open":
            track.opened()
            current = AlertSpan(i, i)
        elif step in ("update", "end") and current is not None:
            current.last = i
            if step == "end":
                spans.append(current)
                current = None
    if current is not None:
        spans.append(current)
    return spans
