"""What the suites that run on the local platform share (tests/e2e/argocd, tests/e2e/dataloop)."""
from __future__ import annotations

import time

import pytest

from tools.platform.platform import Platform


def running_platform(target: str) -> Platform:
    """The local platform, or the suite fails at once saying how to start it."""
    platform = Platform()
    if not platform.k8s.healthy() or not platform.applications():
        pytest.fail(f"the local platform is not up: run `make platform-up` (or `make {target}`, which starts it)")
    return platform


def wait_for(predicate, what: str, timeout: float = 300, interval: float = 1.0):
    """The predicate's first truthy value; on timeout, an assertion naming what and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
