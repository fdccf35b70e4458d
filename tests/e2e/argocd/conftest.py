"""Argo CD for real: `make e2e-argocd` brings the local platform up (`platform-up`: the one-node
cluster, the images, Argo CD syncing this repository from the local git server), runs these files
in name order against it, and stops it afterwards.

Tests that change the repository commit to a clone of the local remote and push there (as a merge
would), and put `main` back where it was when they end."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tools.platform.platform import ARGOCD_NAMESPACE, Platform, expected_applications


@pytest.fixture(scope="session")
def platform() -> Platform:
    platform = Platform()
    if not platform.k8s.healthy() or not platform.applications():
        pytest.fail("the local platform is not up: run `make platform-up` (or `make e2e-argocd`, which starts it)")
    return platform


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


class Checkout:
    """A clone of the local remote; commit() + push() is a merge to main."""

    def __init__(self, platform: Platform, path: Path):
        self.platform = platform
        self.path = path
        git("clone", "--quiet", str(platform.remote), str(path), cwd=path.parent)
        git("config", "user.name", "e2e developer", cwd=path)
        git("config", "user.email", "e2e@localhost", cwd=path)
        self.start = self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.path)

    def commit(self, message: str, edit) -> str:
        """edit(path) changes files; returns the new commit, pushed to main."""
        edit(self.path)
        git("add", "--all", cwd=self.path)
        git("commit", "--quiet", "--no-verify", "-m", message, cwd=self.path)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.path)
        return self.head()

    def merge(self, message: str, edit, files: list[str] | None = None) -> str:
        """A commit pushed to main, then the push event Argo CD's webhook receives."""
        before = self.head()
        commit = self.commit(message, edit)
        assert self.platform.notify_push(commit, before, files) == 200
        return commit

    def restore(self) -> None:
        git("push", "--quiet", "--force", "origin", f"{self.start}:refs/heads/main", cwd=self.path)
        self.platform.notify_push(self.start)


@pytest.fixture
def checkout(platform, tmp_path):
    checkout = Checkout(platform, tmp_path / "repo")
    yield checkout
    checkout.restore()


def app_state(platform: Platform, name: str) -> dict:
    out = platform.kubectl("-n", ARGOCD_NAMESPACE, "get", "application", name, "-o", "json")
    return json.loads(out.stdout)


def wait_for(predicate, what: str, timeout: float = 300, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def synced_at(platform: Platform, name: str, commit: str) -> bool:
    app = app_state(platform, name)
    sync, health, revision = Platform.state(app)
    return sync == "Synced" and commit.startswith(revision) and bool(revision)


__all__ = ["Checkout", "app_state", "expected_applications", "synced_at", "wait_for"]
