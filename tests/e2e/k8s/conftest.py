"""The one-node cluster e2e: `make e2e-k8s` brings the cluster up once (`k8s-up`), runs these files
in name order against it, and stops it afterwards. Each test makes its own namespaces and removes
them, so the cluster is left as it was found (the last file, test_zz_lifecycle, stops it itself).
`make e2e-cluster` (what `make e2e` runs) runs the same files on the cluster the Argo CD suite then
uses, and test_zz_lifecycle only after that suite.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tools.k8s import layout as L
from tools.k8s.cluster import LocalKubernetes

RECORDS = L.RUN_DIR / "images" / "local"


@pytest.fixture(scope="session")
def cluster() -> LocalKubernetes:
    cluster = LocalKubernetes()
    if not cluster.healthy():
        pytest.fail(f"no Ready one-node cluster at {cluster.layout.state_dir}: run `make k8s-up` "
                    "(or `make e2e-k8s`, which starts it)")
    return cluster


def image_records(group: str) -> dict[str, dict]:
    records = {}
    for path in sorted(RECORDS.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("group") == group:
            records[data["name"]] = data
    return records


class Namespace:
    """A throw-away namespace with a Pod Security level; deleted when the test ends."""

    def __init__(self, cluster: LocalKubernetes, prefix: str, level: str = "restricted"):
        self.cluster = cluster
        self.name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": self.name, "labels": {
                "pod-security.kubernetes.io/enforce": level,
                "pod-security.kubernetes.io/enforce-version": "latest"}},
        }))
        # The namespace's default ServiceAccount appears shortly after the namespace.
        deadline = time.monotonic() + 30
        while self.cluster.kubectl("-n", self.name, "get", "serviceaccount", "default",
                                   check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"namespace {self.name}: no default ServiceAccount after 30s")
            time.sleep(0.5)

    def apply(self, obj: dict, check: bool = True):
        obj.setdefault("metadata", {})["namespace"] = self.name
        return self.cluster.kubectl("apply", "-f", "-", input=json.dumps(obj), check=check)

    def get(self, kind: str, name: str) -> dict:
        return json.loads(self.cluster.kubectl("-n", self.name, "get", kind, name, "-o", "json").stdout)

    def wait_pod_phase(self, name: str, phases: set[str], timeout: float = 300) -> dict:
        return self._wait_pod(name, lambda pod: pod.get("status", {}).get("phase") in phases,
                              f"not in {phases}", timeout)

    def wait_ready(self, name: str, timeout: float = 300) -> dict:
        def ready(pod: dict) -> bool:
            return any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in pod.get("status", {}).get("conditions", []))
        return self._wait_pod(name, ready, "not Ready", timeout)

    def _wait_pod(self, name: str, done, what: str, timeout: float) -> dict:
        """Poll the pod until `done`; on timeout the error carries its status and the namespace's
        events (image pulls, scheduling, probes), so a CI log says why."""
        deadline = time.monotonic() + timeout
        pod = {}
        while time.monotonic() < deadline:
            pod = self.get("pod", name)
            if done(pod):
                return pod
            time.sleep(1)
        events = self.cluster.kubectl("-n", self.name, "get", "events", "--sort-by=.lastTimestamp",
                                      check=False).stdout
        raise AssertionError(f"pod {self.name}/{name} {what} after {timeout}s: "
                             f"{json.dumps(pod.get('status'), indent=1)[:2000]}\nevents:\n{events[-3000:]}")

    def logs(self, pod: str, container: str | None = None) -> str:
        args = ["-n", self.name, "logs", pod] + ([f"-c={container}"] if container else [])
        return self.cluster.kubectl(*args).stdout

    def delete(self) -> None:
        self.cluster.kubectl("delete", "namespace", self.name, "--wait=false", check=False)


@pytest.fixture
def namespace(cluster):
    created: list[Namespace] = []

    def make(prefix: str = "e2e", level: str = "restricted") -> Namespace:
        ns = Namespace(cluster, prefix, level)
        created.append(ns)
        return ns

    yield make
    for ns in created:
        ns.delete()


def restricted_pod(name: str, image: str, command: list[str], *, restart: str = "Never",
                   memory: str = "256Mi", labels: dict | None = None, volumes: list | None = None,
                   mounts: list | None = None, ports: list | None = None) -> dict:
    """A pod that meets the `restricted` Pod Security level (what every namespace of ours enforces)."""
    container = {
        "name": "main", "image": image, "command": command,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": memory}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True},
    }
    if mounts:
        container["volumeMounts"] = mounts
    if ports:
        container["ports"] = ports
    spec = {
        "restartPolicy": restart,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def lock_versions(*names: str) -> dict[str, str]:
    """Pinned versions from requirements.lock: the images must carry exactly these."""
    pins = {}
    for line in (L.ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.split()[0].strip(" \\")
    return {name: pins[name] for name in names}

