"""Route filters and the per-camera rate limit."""

from __future__ import annotations

from monitor.config.operators import RouteFilter
from monitor.notify.gate import RouteGate


def alert(camera: str, n: int, phase: str = "new", severity: int = 1, category: str = "intrusion") -> dict:
    return {"camera": {"id": camera}, "alert_id": f"{camera}-{n}", "phase": phase, "severity": severity,
            "category": category}


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_holds_back_a_cameras_extra_alerts_with_all_their_phases_until_the_window_passes():
    clock = Clock()
    gate = RouteGate(RouteFilter(max_per_camera=2, rate_window_seconds=60), clock)
    assert gate.passes(alert("a", 1)) and gate.passes(alert("a", 2))
    assert not gate.passes(alert("a", 3))
    assert not gate.passes(alert("a", 3, "update")) and not gate.passes(alert("a", 3, "end"))
    assert gate.passes(alert("a", 1, "end")), "a delivered alert's end still goes out"
    assert gate.passes(alert("b", 1)), "the limit is per camera"
    clock.now += 61
    assert gate.passes(alert("a", 4))
    assert gate.held_back == 1


def test_filters_check_severity_cameras_categories_and_phases():
    gate = RouteGate(RouteFilter(min_severity=1, cameras=["a"], categories=["fire_smoke"], phases=["new"]))
    assert gate.passes(alert("a", 1, severity=2, category="fire_smoke"))
    assert not gate.passes(alert("a", 2, severity=0, category="fire_smoke"))
    assert not gate.passes(alert("b", 3, severity=2, category="fire_smoke"))
    assert not gate.passes(alert("a", 4, severity=2, category="intrusion"))
    assert not gate.passes(alert("a", 1, "end", severity=2, category="fire_smoke"))
