"""What /healthz and /readyz answer: a stalled model loop, a fatal model, an outbox that does not drain."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.app.health import Health


@dataclass
class LoopState:
    """The three things Health reads from the scheduler (a real one needs a model; test_daemon_process
    runs the real one with a hung model call)."""

    stalled: float = 0.0
    fatal: BaseException | None = None
    alive: bool = True

    def stalled_seconds(self) -> float:
        return self.stalled


def make(backlog: list[int], now: list[float], loop: LoopState | None = None) -> Health:
    health = Health(loop or LoopState(), lambda: backlog[0], stall_seconds=300, outbox_seconds=60,
                    clock=lambda: now[0])
    health.warmed = True
    return health


def test_not_ready_until_warmed_up_but_healthy_meanwhile():
    health = make([0], [0.0])
    health.warmed = False
    assert health.healthy().ok and health.healthy().reason == "warming up"
    assert not health.ready().ok and "not warmed up" in health.ready().reason


def test_a_stalled_loop_fails_both_and_says_how_long():
    loop = LoopState(stalled=301)
    health = make([0], [0.0], loop)
    assert not health.healthy().ok and health.healthy().reason == "no batch completed for 301 s while clips wait"
    assert not health.ready().ok
    loop.stalled = 0
    assert health.healthy().ok and health.ready().ok


def test_a_fatal_model_or_a_dead_scheduler_fails_health():
    assert not make([0], [0.0], LoopState(fatal=RuntimeError("CUDA error"))).healthy().ok
    assert "scheduler thread" in make([0], [0.0], LoopState(alive=False)).healthy().reason


def test_an_outbox_that_does_not_shrink_for_the_limit_makes_it_unready_not_unhealthy():
    backlog, now = [0], [0.0]
    health = make(backlog, now)
    backlog[0] = 500
    assert health.ready().ok  # queued just now
    now[0] = 30.0
    backlog[0] = 900  # growing
    assert health.ready().ok
    now[0] = 61.0
    verdict = health.ready()
    assert not verdict.ok and "Redis takes nothing: the outbox has not shrunk for 61 s" == verdict.reason
    assert health.healthy().ok
    now[0] = 62.0
    backlog[0] = 400  # draining again
    assert health.ready().ok
    backlog[0] = 0
    now[0] = 500.0
    assert health.ready().ok
