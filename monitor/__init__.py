"""Streaming surveillance anomaly monitor: live video in, descriptions, scores and alerts out."""

__version__ = "0.1.0"
