"""Small helpers shared by the live Airflow tests (a module name unique across tests/)."""

from __future__ import annotations

import time

PARSE_TIMEOUT = 90  # generous: the goal (p95 <= 20 s) is measured by `make bench`, not asserted here


def wait_until(predicate, what: str, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
