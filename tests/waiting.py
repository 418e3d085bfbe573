"""Polling for a condition in tests of threads and processes."""

import time


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    """True as soon as `predicate()` is, False if it is still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
