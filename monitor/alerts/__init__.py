"""Alerting: anomaly scores -> smoothed, hysteresis-gated alert phases with a structured verdict."""

from monitor.alerts.engine import AlertEngine, window_score
from monitor.alerts.verdict import CATEGORIES, ParsedVerdict, Verdict, parse_verdict

__all__ = ["AlertEngine", "CATEGORIES", "ParsedVerdict", "Verdict", "parse_verdict", "window_score"]
