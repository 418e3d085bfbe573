"""The describe policy is the scheduler's, written on each request, the same for every backend."""

from __future__ import annotations

import numpy as np

from monitor.clip import Clip
from monitor.inference.contract import InferenceRequest, wants_description
from monitor.inference.policy import DescribePolicy
from monitor.inference.prompts import Prompt

SCORED, PLAIN = Prompt("anomaly", "Q?", scored=True), Prompt("road", "Describe.")


def request(seq=0, prompts=(SCORED, PLAIN), describe=True) -> InferenceRequest:
    return InferenceRequest(Clip("cam", seq, np.zeros((1, 2, 2, 3), np.uint8), (0.0,), 0.0, 1.0), prompts, describe)


def test_always_describes_every_clip():
    assert wants_description(DescribePolicy("always").apply(request())) is True


def test_on_alert_leaves_the_decision_to_the_score_and_keeps_the_request_id():
    original = request()
    applied = DescribePolicy("on_alert", threshold=0.7).apply(original)
    assert applied.id == original.id
    assert wants_description(applied) is None
    assert wants_description(applied, {"anomaly": 0.69}) is False
    assert wants_description(applied, {"anomaly": 0.7}) is True


def test_on_alert_describes_a_clip_without_a_scored_prompt_since_it_can_never_alert():
    assert wants_description(DescribePolicy("on_alert").apply(request(prompts=(PLAIN,)))) is True


def test_every_n_describes_every_nth_clip_by_sequence_number():
    policy = DescribePolicy("every_n", every=3)
    assert [wants_description(policy.apply(request(seq))) for seq in range(6)] == [True, False, False] * 2


def test_a_request_for_scores_only_stays_so_under_every_policy():
    for mode in ("always", "on_alert", "every_n"):
        assert wants_description(DescribePolicy(mode, every=1).apply(request(describe=False))) is False
