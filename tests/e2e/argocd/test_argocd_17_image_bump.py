"""Image bump loop: the images `make images` pushed for this commit, bumped by the CI bot's tool
(`make bump-built`'s code: overlay edit, the repository's own `make validate`, a bot commit marked
[ci skip], push with retry) into the local cluster's overlay, reach the running pods through Argo
CD: the Spark standalone Deployments roll out pods whose image is that digest."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import git, settled, synced_at, wait_for

from tools.k8s import layout as L

pytestmark = pytest.mark.e2e

APP = "spark-standalone"
LAPTOP = "clusters/local/laptop/kustomization.yaml"
DEPLOYMENTS = ("spark-master", "spark-worker")


def ci_tool(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{L.ROOT / 'jenkins'}:{L.ROOT}"}
    return subprocess.run([sys.executable, "-m", f"ci_tools.{module}", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def spark_etl_entry(root) -> dict:
    """The laptop component's images entry for the Spark image (its name is the overlays' name)."""
    entries = yaml.safe_load((root / LAPTOP).read_text())["images"]
    return next(e for e in entries if e.get("newName", "").endswith("/spark-etl"))


def pods_of(platform, deployment: str) -> list[dict]:
    selector = json.loads(platform.kubectl("-n", "spark", "get", "deployment", deployment, "-o", "json").stdout)
    labels = ",".join(f"{k}={v}" for k, v in selector["spec"]["selector"]["matchLabels"].items())
    return json.loads(platform.kubectl("-n", "spark", "get", "pods", "-l", labels, "-o", "json").stdout)["items"]


def running_digest(platform, deployment: str) -> set[str]:
    """imageID of every Ready container of the Deployment's pods (what containerd really runs)."""
    return {status["imageID"].rsplit("@", 1)[-1]
            for pod in pods_of(platform, deployment) if pod["metadata"].get("deletionTimestamp") is None
            for status in pod["status"].get("containerStatuses", []) if status.get("ready")}


def test_a_bot_bump_rolls_the_built_digest_out(platform, checkout):
    record = json.loads((L.RUN_DIR / "images" / "local" / "spark-etl.json").read_text())
    digest = record["digest"]
    entry = spark_etl_entry(checkout.path)
    assert "digest" not in entry, f"{LAPTOP} already pins a digest: {entry}"
    before = {d: json.loads(platform.kubectl("-n", "spark", "get", "deployment", d, "-o", "json").stdout)
              for d in DEPLOYMENTS}
    # The bump tool runs the checkout's own `make validate`: give the clone this checkout's tools.
    for name in (".venv", ".tools"):
        (checkout.path / name).symlink_to(L.ROOT / name)
    (checkout.path / ".git" / "info" / "exclude").write_text(".venv\n.tools\n.run\n")

    out = ci_tool("bump", "--repo", str(checkout.path), "--image", entry["name"], "--digest", digest,
                  "--clusters", "local", cwd=checkout.path)
    assert out.returncode == 0, out.stdout + out.stderr
    bumped = checkout.head()
    author = git("log", "-1", "--format=%an <%ae>%n%s", cwd=checkout.path)
    assert author.startswith("mlops-ci-bot") and "[ci skip]" in author, author
    skip = ci_tool("skip", "--repo", str(checkout.path), cwd=checkout.path)
    assert "BOT_COMMIT=true" in skip.stdout, skip.stdout + skip.stderr  # Jenkins builds nothing for it
    assert platform.notify_push(bumped, checkout.start, [LAPTOP]) == 200

    def rolled_out() -> bool:
        if not synced_at(platform, APP, bumped):
            return False
        for deployment in DEPLOYMENTS:
            live = json.loads(platform.kubectl("-n", "spark", "get", "deployment", deployment, "-o", "json").stdout)
            image = live["spec"]["template"]["spec"]["containers"][0]["image"]
            status = live["status"]
            if (not image.endswith(f"@{digest}") or status.get("updatedReplicas") != live["spec"]["replicas"]
                    or status.get("readyReplicas") != live["spec"]["replicas"]
                    or running_digest(platform, deployment) != {digest}):
                return False
        return True
    wait_for(rolled_out, f"{', '.join(DEPLOYMENTS)} running {digest[:19]}", 420, 3)
    for deployment in DEPLOYMENTS:
        live = json.loads(platform.kubectl("-n", "spark", "get", "deployment", deployment, "-o", "json").stdout)
        assert live["metadata"]["generation"] > before[deployment]["metadata"]["generation"], deployment

    # Put main back, and wait until the pods run the tag again, so the next tests start clean.
    checkout.restore()
    wait_for(lambda: settled(platform, APP, checkout.start), f"{APP} Synced, Healthy and idle back at main", 420, 2)
