"""The result stage: its own thread, a bounded queue, nothing lost when it is full."""

from __future__ import annotations

import threading
import time

import numpy as np

from monitor.clip import Clip
from monitor.inference.contract import InferenceRequest, InferenceResult
from monitor.pipeline.dispatch import ResultStage


def result(seq: int) -> InferenceResult:
    clip = Clip("cam", seq, np.zeros((1, 4, 4, 3), np.uint8), (0.0,), 0.0, 1.0)
    return InferenceResult(InferenceRequest(clip=clip, prompts=()), ())


def test_results_are_handled_on_another_thread_in_the_order_they_were_put():
    seen, threads = [], set()
    stage = ResultStage(lambda r, s: (seen.append(r.request.clip.seq), threads.add(threading.get_ident())))
    stage.start()
    for seq in range(50):
        stage.put(result(seq), 0.0)
    stage.stop()
    assert seen == list(range(50))
    assert threading.get_ident() not in threads


def test_a_full_queue_makes_the_caller_wait_counts_it_and_says_so_once_losing_nothing():
    gate, seen, told = threading.Event(), [], []
    stage = ResultStage(lambda r, s: (gate.wait(), seen.append(r.request.clip.seq)), capacity=2,
                        on_full=told.append)
    stage.start()
    putter = threading.Thread(target=lambda: [stage.put(result(seq), 0.0) for seq in range(6)])
    putter.start()
    time.sleep(0.3)
    assert putter.is_alive() and stage.stats.full >= 1 and told == [2]
    gate.set()
    putter.join(5)
    stage.stop()
    assert seen == list(range(6))


def test_a_failing_handler_is_counted_and_the_next_result_is_still_handled():
    seen = []

    def handle(r, s):
        if r.request.clip.seq == 1:
            raise RuntimeError("sink down")
        seen.append(r.request.clip.seq)

    stage = ResultStage(handle)
    stage.start()
    for seq in range(3):
        stage.put(result(seq), 0.0)
    stage.stop()
    assert seen == [0, 2] and stage.stats.failed == 1 and stage.stats.handled == 2
