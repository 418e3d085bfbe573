"""Batching across cameras with latest-wins backpressure (a recording backend stands in for the model:
the real model path is tested in tests/backends and the end-to-end tests)."""

import threading
import time

import numpy as np
import pytest

from monitor.inference.contract import InferenceRequest, InferenceResult, InputSpec, PromptResult
from monitor.inference.errors import FatalBackendError
from monitor.clip import Clip
from monitor.inference.prompts import Prompt
from monitor.pipeline.scheduler import Scheduler
from tests.waiting import wait_for

PROMPT = Prompt("anomaly", "?", scored=True)


def request(camera, seq):
    frames = np.zeros((1, 2, 2, 3), np.uint8)
    return InferenceRequest(Clip(camera, seq, frames, (float(seq),), seq - 1.0, float(seq)), (PROMPT,))


class RecordingBackend:
    name = "recording"
    model_id = "none"
    input_spec = InputSpec()

    def warmup(self, prompts, frames):
        pass

    def __init__(self, delay=0.0, fail_with=None):
        self.batches = []
        self.delay = delay
        self.fail_with = fail_with
        self.release = threading.Event()
        self.release.set()

    def infer(self, requests):
        self.release.wait(5)
        self.batches.append([(r.clip.camera_id, r.clip.seq) for r in requests])
        time.sleep(self.delay)
        if self.fail_with:
            raise self.fail_with
        return [InferenceResult(r, (PromptResult("anomaly", "No.", 0.1),)) for r in requests]

    def close(self):
        pass


def make(backend, **kwargs):
    results = []
    sched = Scheduler(backend, max_batch=kwargs.get("max_batch", 4), max_wait_s=kwargs.get("max_wait_s", 0.05),
                      on_result=lambda res, lat: results.append((res.request.clip.camera_id, res.request.clip.seq)),
                      on_error=kwargs.get("on_error"))
    return sched, results


def test_clips_of_several_cameras_share_a_batch():
    backend = RecordingBackend()
    backend.release.clear()
    sched, results = make(backend, max_batch=4, max_wait_s=0.2)
    sched.start()
    for cam in ("a", "b", "c"):
        sched.submit(request(cam, 0))
    backend.release.set()
    assert wait_for(lambda: len(results) == 3)
    sched.stop()
    assert sorted(backend.batches[0]) == [("a", 0), ("b", 0), ("c", 0)]


def test_a_newer_clip_replaces_the_pending_one_of_the_same_camera():
    backend = RecordingBackend()
    backend.release.clear()
    sched, results = make(backend, max_batch=1, max_wait_s=0)
    sched.start()
    sched.submit(request("a", 0))
    assert wait_for(lambda: sched.pending == 0)  # taken by the (blocked) backend
    for seq in (1, 2, 3):
        sched.submit(request("a", seq))
    assert sched.pending == 1
    backend.release.set()
    assert wait_for(lambda: len(results) == 2)
    sched.stop()
    assert results == [("a", 0), ("a", 3)]
    assert sched.stats.dropped == 2


def test_wait_mode_loses_no_clip_of_a_file():
    backend = RecordingBackend(delay=0.01)
    sched, results = make(backend, max_batch=2, max_wait_s=0)
    sched.start()
    for seq in range(10):
        assert sched.submit(request("file", seq), wait=True)
    assert wait_for(lambda: len(results) == 10)
    sched.stop()
    assert [seq for _, seq in results] == list(range(10))
    assert sched.stats.dropped == 0


def test_a_failing_batch_is_reported_and_the_next_one_runs():
    errors = []
    backend = RecordingBackend(fail_with=ValueError("bad clip"))
    sched, results = make(backend, on_error=lambda reqs, exc: errors.append((len(reqs), str(exc))))
    sched.start()
    sched.submit(request("a", 0))
    assert wait_for(lambda: errors)
    backend.fail_with = None
    sched.submit(request("a", 1))
    assert wait_for(lambda: results)
    sched.stop()
    assert errors == [(1, "bad clip")] and results == [("a", 1)]
    assert sched.fatal is None


def test_a_fatal_backend_error_stops_the_scheduler():
    backend = RecordingBackend(fail_with=FatalBackendError("CUDA error: illegal memory access"))
    sched, _ = make(backend)
    sched.start()
    sched.submit(request("a", 0))
    assert wait_for(lambda: sched.fatal is not None)
    assert wait_for(lambda: not sched._thread.is_alive())
    sched.stop()


def test_stop_returns_promptly_and_refuses_new_clips():
    sched, _ = make(RecordingBackend())
    sched.start()
    started = time.monotonic()
    sched.stop()
    assert time.monotonic() - started < 10  # far under the 30 s a stop may wait for clips in flight
    assert sched.submit(request("a", 0)) is False


@pytest.mark.slow
def test_streaming_engine_publishes_each_clip_as_soon_as_it_is_done(tiny_model_dir):
    from monitor.inference.registry import create_backend
    from monitor.config.models import ModelConfig
    from tests.backends.conftest import make_clip

    backend = create_backend(ModelConfig(id=str(tiny_model_dir), options={"engine": "fast"}, max_new_tokens=12, max_batch=4,
                                         describe="always"))
    prompts = (Prompt("anomaly", "Is anything abnormal happening? Answer Yes or No first.", scored=True),)
    got = []
    scheduler = Scheduler(backend, max_batch=4, max_wait_s=0.05, on_result=lambda r, s: got.append((r, s)))
    described = InferenceRequest(make_clip(1, frames=2, camera="a"), prompts)
    scored = InferenceRequest(make_clip(2, frames=2, camera="b"), prompts, describe=False)
    scheduler.submit(described)
    scheduler.submit(scored)
    scheduler.start()
    assert wait_for(lambda: len(got) == 2, timeout=60)
    scheduler.stop()
    assert [r.request.id for r, _ in got] == [scored.id, described.id]  # the score did not wait for the description
    assert got[1][0].results[0].text == backend.infer_reference([described])[0].results[0].text
    assert all(latency >= 0 for _, latency in got)
    assert scheduler.stats.completed == 2 and scheduler.stats.failed == 0


@pytest.mark.slow
def test_streaming_engine_failing_mid_decoding_reports_every_clip_in_flight_and_goes_on(tiny_model_dir, monkeypatch):
    from monitor.inference.registry import create_backend
    from monitor.config.models import ModelConfig
    from tests.backends.conftest import make_clip

    backend = create_backend(ModelConfig(id=str(tiny_model_dir), engine="fast", max_new_tokens=12, max_batch=4,
                                         describe="always"))
    prompts = (Prompt("anomaly", "Is anything abnormal happening? Answer Yes or No first.", scored=True),)
    real_advance, failures = backend.engine.advance, []

    def advance_failing_once():
        # A decoding step that raises (not an OOM, not a lost device) cannot be caused from outside.
        if not failures:
            failures.append(True)
            raise ValueError("decoding step failed")
        return real_advance()

    monkeypatch.setattr(backend.engine, "advance", advance_failing_once)
    got, errors = [], []
    scheduler = Scheduler(backend, max_batch=4, max_wait_s=0.05, on_result=lambda r, s: got.append(r),
                          on_error=lambda reqs, exc: errors.append(([r.clip.camera_id for r in reqs], str(exc))))
    first = [InferenceRequest(make_clip(i, frames=2, camera=cam), prompts) for i, cam in enumerate("ab")]
    for request in first:
        scheduler.submit(request)
    scheduler.start()
    assert wait_for(lambda: errors, timeout=60)
    assert sorted(errors[0][0]) == ["a", "b"] and errors[0][1] == "decoding step failed"
    assert not backend.busy                                   # nothing left in the pool after the abort
    later = InferenceRequest(make_clip(7, frames=2, camera="a"), prompts)
    scheduler.submit(later)
    assert wait_for(lambda: got, timeout=60)
    scheduler.stop()
    assert [r.request.id for r in got] == [later.id] and got[0].results[0].text
    assert scheduler.stats.failed == 2 and scheduler.stats.completed == 1 and scheduler.fatal is None


@pytest.mark.slow
def test_streaming_engine_losing_the_device_mid_decoding_is_fatal(tiny_model_dir, monkeypatch):
    from monitor.inference.registry import create_backend
    from monitor.config.models import ModelConfig
    from tests.backends.conftest import make_clip

    backend = create_backend(ModelConfig(id=str(tiny_model_dir), engine="fast", max_new_tokens=12, max_batch=4,
                                         describe="always"))
    prompts = (Prompt("anomaly", "Is anything abnormal happening?", scored=True),)

    def lost(*args, **kwargs):
        raise FatalBackendError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(backend.engine, "advance", lost)
    errors = []
    scheduler = Scheduler(backend, max_batch=4, max_wait_s=0.05, on_result=lambda r, s: None,
                          on_error=lambda reqs, exc: errors.append((len(reqs), type(exc).__name__)))
    scheduler.submit(InferenceRequest(make_clip(1, frames=2, camera="a"), prompts))
    scheduler.start()
    assert wait_for(lambda: scheduler.fatal is not None, timeout=60)
    assert wait_for(lambda: not scheduler.alive, timeout=10)
    scheduler.stop()
    assert errors == [(1, "FatalBackendError")] and scheduler.stats.failed == 0
    assert scheduler.submit(InferenceRequest(make_clip(2, frames=2, camera="a"), prompts)) is False


def test_stats_and_callbacks_account_for_every_clip_and_batch():
    backend = RecordingBackend(delay=0.05)
    backend.release.clear()
    batches, latencies = [], []
    sched = Scheduler(backend, max_batch=4, max_wait_s=0.2, on_result=lambda res, lat: latencies.append(lat),
                      on_batch=lambda size, seconds: batches.append((size, seconds)))
    sched.start()
    for cam in ("a", "b", "c"):
        assert sched.submit(request(cam, 0)) is True
    assert sched.pending == 3 or wait_for(lambda: sched.pending == 0)
    backend.release.set()
    assert wait_for(lambda: len(latencies) == 3)
    sched.stop()
    s = sched.stats
    assert (s.submitted, s.completed, s.failed, s.dropped, s.batches, s.last_batch_size) == (3, 3, 0, 0, 1, 3)
    assert len(batches) == 1 and batches[0][0] == 3 and batches[0][1] >= 0.05
    assert s.last_batch_seconds == batches[0][1]
    assert all(lat >= 0.05 for lat in latencies)            # queued before the batch ran, delivered after


def test_a_batch_waits_up_to_max_wait_for_more_cameras_but_not_longer():
    backend = RecordingBackend()
    sched, results = make(backend, max_batch=4, max_wait_s=1.0)
    sched.start()
    sched.submit(request("a", 0))
    sched.submit(request("b", 0))
    assert wait_for(lambda: len(results) == 2, 10)
    sched.stop()
    assert [sorted(b) for b in backend.batches] == [[("a", 0), ("b", 0)]]


def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_next():
    backend = RecordingBackend()
    backend.release.clear()
    sched, results = make(backend, max_batch=2, max_wait_s=30)
    for cam in "abc":
        sched.submit(request(cam, 0))
    sched.start()
    backend.release.set()
    assert wait_for(lambda: len(backend.batches) >= 1, 10)
    assert backend.batches[0] == [("a", 0), ("b", 0)]          # full: did not wait the 30 s
    sched.stop()


def test_a_failing_result_callback_does_not_lose_the_others():
    backend = RecordingBackend()
    seen = []

    def on_result(res, lat):
        seen.append(res.request.clip.camera_id)
        if res.request.clip.camera_id == "a":
            raise RuntimeError("sink broke")

    sched = Scheduler(backend, max_batch=4, max_wait_s=0.1, on_result=on_result)
    for cam in "ab":
        sched.submit(request(cam, 0))
    sched.start()
    assert wait_for(lambda: len(seen) == 2)
    sched.stop()
    assert sorted(seen) == ["a", "b"] and sched.stats.completed == 2 and sched.alive is False


def test_a_waiting_submit_gives_up_when_its_camera_stops():
    backend = RecordingBackend()
    backend.release.clear()
    sched, _ = make(backend, max_batch=1, max_wait_s=0)
    sched.submit(request("file", 0))                       # not started: the slot stays taken
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert sched.submit(request("file", 1), wait=True, stop=stop) is False
    assert 0.25 <= time.monotonic() - started < 5
    assert sched.pending == 1 and sched.stats.submitted == 1
    backend.release.set()


class ScriptedStreamingBackend(RecordingBackend):
    """The streaming contract (admit / advance / busy / room / abort) with scripted timing, beside the
    real engine's tests below: each admitted clip finishes after `steps` advances."""

    def __init__(self, steps=2, rows=2, fail_advance=None):
        super().__init__()
        self.steps, self.rows, self.fail_advance = steps, rows, fail_advance
        self.inflight = {}
        self.admitted = []

    @property
    def busy(self):
        return bool(self.inflight)

    def room(self):
        return self.rows - len(self.inflight)

    def admit(self, requests):
        self.admitted.append([r.clip.camera_id for r in requests])
        for r in requests:
            self.inflight[id(r)] = [r, self.steps]
        return []

    def advance(self):
        if self.fail_advance:
            raise self.fail_advance
        done = []
        for key, item in list(self.inflight.items()):
            item[1] -= 1
            if item[1] <= 0:
                del self.inflight[key]
                done.append(InferenceResult(item[0], (PromptResult("anomaly", "No.", 0.2),)))
        return done

    def abort(self):
        lost = [r for r, _ in self.inflight.values()]
        self.inflight.clear()
        return lost


def test_a_streaming_backend_takes_new_clips_into_free_rows_while_others_decode():
    backend = ScriptedStreamingBackend(steps=50, rows=2)
    sched, results = make(backend, max_batch=2, max_wait_s=0)
    sched.start()
    sched.submit(request("a", 0))
    assert wait_for(lambda: backend.admitted == [["a"]])
    sched.submit(request("b", 0))                           # joins while a decodes
    assert wait_for(lambda: len(results) == 2, 10)
    sched.stop()
    assert backend.admitted == [["a"], ["b"]]
    assert sched.stats.completed == 2 and sched.stats.batches == 2


def test_a_streaming_backend_failing_mid_decoding_reports_the_clips_it_held():
    errors = []
    backend = ScriptedStreamingBackend(fail_advance=ValueError("step failed"))
    sched, results = make(backend, on_error=lambda reqs, exc: errors.append(([r.clip.camera_id for r in reqs],
                                                                                str(exc))))
    sched.start()
    sched.submit(request("a", 0))
    assert wait_for(lambda: errors)
    backend.fail_advance = None
    sched.submit(request("a", 1))
    assert wait_for(lambda: results)
    sched.stop()
    assert errors[0] == (["a"], "step failed") and results == [("a", 1)]
    assert sched.stats.failed == 1 and sched.fatal is None


def test_a_streaming_backend_losing_the_device_stops_the_scheduler():
    backend = ScriptedStreamingBackend(fail_advance=FatalBackendError("CUDA error: device-side assert"))
    sched, _ = make(backend)
    sched.start()
    sched.submit(request("a", 0))
    assert wait_for(lambda: sched.fatal is not None)
    assert wait_for(lambda: not sched.alive)
    assert sched.stats.failed == 0
    sched.stop()
