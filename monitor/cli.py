"""Kept so that console scripts installed before the move to monitor.app still start."""

from monitor.app.cli import main  # noqa: F401
