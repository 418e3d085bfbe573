"""The measures against values worked out by hand."""

from __future__ import annotations

import pytest

from monitor.eval import metrics as m


def test_roc_auc_counts_the_positive_negative_pairs_in_order():
    # positives 0.9, 0.7, 0.6; negatives 0.8, 0.5, 0.4: 0.9 beats 3, 0.7 beats 2, 0.6 beats 2 -> 7 of 9 pairs
    assert m.roc_auc([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 1, 0, 0]) == pytest.approx(7 / 9)


def test_roc_auc_counts_a_tie_as_half_and_needs_both_classes():
    assert m.roc_auc([0.5, 0.5], [1, 0]) == 0.5
    assert m.roc_auc([0.5, 0.7, 0.7], [1, 1, 0]) == pytest.approx(0.25)
    assert m.roc_auc([0.1, 0.2], [1, 1]) is None


def test_average_precision_sums_precision_at_each_recall_step():
    # ranked: P (1/1 at recall 1/3), N, P (2/3 at 2/3), P (3/4 at 3/3)
    assert m.average_precision([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 1, 0, 0]) == pytest.approx(
        (1 + 2 / 3 + 3 / 4) / 3)


def test_per_threshold_counts_and_f1():
    row = {r["threshold"]: r for r in m.per_threshold([0.9, 0.6, 0.4, 0.2], [1, 0, 1, 0])}[0.5]
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (1, 1, 1, 1)
    assert (row["precision"], row["recall"], row["f1"]) == (0.5, 0.5, 0.5)


def test_replayed_alert_rules_open_after_n_windows_and_end_after_the_close_count():
    scores = [0.1, 0.8, 0.2, 0.8, 0.9, 0.7, 0.1, 0.1, 0.9]
    assert [(s.first, s.last) for s in m.replay_alerts(scores, 0.5, 1, 1, 1.0)] == [(1, 2), (3, 6), (8, 8)]
    assert [(s.first, s.last) for s in m.replay_alerts(scores, 0.5, 2, 2, 1.0)] == [(4, 7)]
