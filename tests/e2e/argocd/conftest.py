"""Argo CD for real: `make e2e-argocd` brings the local platform up (`platform-up`: the one-node
cluster, the images, Argo CD syncing this repository from the local git server), runs these files
in name order against it, and stops it afterwards.

Tests that change the repository commit to a clone of the local remote and push there (as a merge
would), and put `main` back where it was when they end."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.platform_e2e import running_platform, wait_for
from tools.platform.platform import ARGOCD_NAMESPACE, Platform, expected_applications


@pytest.fixture(scope="session")
def platform() -> Platform:
    return running_platform("e2e-argocd")


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
        """main back where it was, and every Application Synced there and idle before the next test:
        a push right after another can lose its refresh (Argo CD then finds it only by polling,
        up to three minutes later; seen when two pushes came a second apart). Health is each
        test's own business."""
        git("push", "--quiet", "--force", "origin", f"{self.start}:refs/heads/main", cwd=self.path)
        self.platform.notify_push(self.start)
        names = sorted(self.platform.applications())
        wait_for(lambda: all(settled(self.platform, name, self.start, healthy=False) for name in names),
                 f"every Application Synced and idle at {self.start[:12]} again", 420, 2)


@pytest.fixture
def checkout(platform, tmp_path):
    checkout = Checkout(platform, tmp_path / "repo")
    yield checkout
    checkout.restore()


def app_state(platform: Platform, name: str) -> dict:
    out = platform.kubectl("-n", ARGOCD_NAMESPACE, "get", "application", name, "-o", "json")
    return json.loads(out.stdout)


def synced_at(platform: Platform, name: str, commit: str) -> bool:
    app = app_state(platform, name)
    sync, health, revision = Platform.state(app)
    return sync == "Synced" and commit.startswith(revision) and bool(revision)


def settled(platform: Platform, name: str, commit: str, healthy: bool = True) -> bool:
    """Synced at the commit, no sync operation still running (a sync waits for each wave's resources
    to be healthy, and while it runs selfHeal cannot start another one), and Healthy if asked."""
    app = app_state(platform, name)
    phase = (app.get("status", {}).get("operationState") or {}).get("phase")
    return (synced_at(platform, name, commit) and phase != "Running"
            and (not healthy or Platform.state(app)[1] == "Healthy"))


# The HPAs' targets in clusters/local, by the Application that manages them.
HPA_TARGETS = {"airflow": ("airflow", "airflow-api-server"), "spark-standalone": ("spark", "spark-worker")}


class ReplicaHistory:
    """Samples, every few seconds while the whole suite runs, each HPA target's replicas (the
    Deployment's spec, the HPA's desired count) and its Application's sync status. The merges,
    reverts and rollouts of the other tests are the syncs during which Argo CD must leave the
    replicas to the HPA (test_argocd_90_hpa.py asserts on what was seen)."""

    INTERVAL = 5.0

    def __init__(self, platform: Platform):
        self.platform = platform
        self.samples: list[dict] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-history", daemon=True)
        self._thread.start()

    def _sample(self) -> dict:
        sample = {"t": round(time.monotonic() - self.started, 1)}
        apps = self.platform.applications()
        for app, (namespace, name) in HPA_TARGETS.items():
            deployment = self.platform.kubectl("-n", namespace, "get", "deployment", name, "-o",
                                               "jsonpath={.spec.replicas}", check=False).stdout
            hpa = self.platform.kubectl("-n", namespace, "get", "hpa", name, "-o",
                                        "jsonpath={.status.desiredReplicas}", check=False).stdout
            sync = ((apps.get(app) or {}).get("status") or {}).get("sync", {}).get("status", "?")
            sample[app] = {"replicas": int(deployment) if deployment.isdigit() else None,
                           "desired": int(hpa) if hpa.isdigit() else None, "sync": sync}
        return sample

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample())
            except Exception as exc:  # a slow API server must not kill the sampler; the gap shows
                self.samples.append({"t": round(time.monotonic() - self.started, 1), "error": str(exc)})
            self._stop.wait(self.INTERVAL)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=60)
        return list(self.samples)


class BusyWorker:
    """One Spark worker kept busy while the suite runs, so the workers' HPA has a second replica
    for Argo CD to leave alone (idle, `local`'s HPAs sit at one). A shell loop at the lowest
    priority in the worker's container: metrics-server counts its CPU, the other work on the two
    cores barely notices it. Bounded by `timeout` inside the pod even if this process dies."""

    SECONDS = 480
    PIDFILE = "/tmp/busy-worker.pid"  # the worker's own /tmp (an emptyDir)

    def __init__(self, platform: Platform, namespace: str = "spark", deployment: str = "spark-worker"):
        self._exec = [str(platform.k8s.kubectl_bin), f"--kubeconfig={platform.k8s.layout.kubeconfig}", "-n",
                      namespace, "exec", f"deployment/{deployment}", "--"]
        loop = f'echo $$ > {self.PIDFILE}; exec nice -n 19 timeout {self.SECONDS} sh -c "while :; do :; done"'
        self._proc = subprocess.Popen([*self._exec, "sh", "-c", loop],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        # Ending kubectl does not end the loop in the pod: stop it there (timeout passes the signal on).
        # A slow answer must not fail the suite: the loop ends by its own `timeout` anyway.
        try:
            subprocess.run([*self._exec, "sh", "-c", f"kill $(cat {self.PIDFILE}) 2>/dev/null; rm -f {self.PIDFILE}"],
                           capture_output=True, timeout=60)
        except subprocess.SubprocessError:
            pass
        self._proc.kill()
        self._proc.wait(timeout=30)


@pytest.fixture(scope="session", autouse=True)
def replica_history(platform):
    busy = BusyWorker(platform)
    history = ReplicaHistory(platform)
    yield history
    history.stop()
    busy.stop()


__all__ = ["Checkout", "HPA_TARGETS", "ReplicaHistory", "app_state", "expected_applications", "settled",
           "synced_at", "wait_for"]
