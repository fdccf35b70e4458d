"""The image bump loop on the real node: the bump tool writes the digest `make images` pushed into
`clusters/local`, and the kubelet pulls exactly that digest from the local registry."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.e2e.k8s.conftest import image_records, restricted_pod
from tools.k8s import layout as L

pytestmark = pytest.mark.e2e
LAPTOP = "clusters/local/laptop/kustomization.yaml"


def _clone(tmp_path):
    work = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(L.ROOT), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "config", "user.email", "ci@example.invalid"], check=True)
    subprocess.run(["git", "-C", str(work), "config", "user.name", "ci"], check=True)
    # The gate the bump runs needs the built tools and the venv, not a second copy of them.
    # (.gitignore names the folders, not symlinks to them: keep the clone's tree clean for bump.)
    for shared in (".venv", ".tools"):
        (work / shared).symlink_to(L.ROOT / shared)
    with open(work / ".git" / "info" / "exclude", "a") as exclude:
        exclude.write("/.venv\n/.tools\n")
    return work


def test_bumped_digest_is_what_the_kubelet_runs(cluster, namespace, tmp_path):
    record = image_records("jobs")["spark-etl"]
    work = _clone(tmp_path)
    entry = next(e for e in yaml.safe_load((work / LAPTOP).read_text())["images"]
                 if e.get("newName") == record["image"])
    bump = subprocess.run(
        [sys.executable, "-m", "ci_tools.bump", "--repo", str(work), "--image", entry["name"],
         "--tag", record["tag"], "--digest", record["digest"], "--clusters", "local", "--no-push"],
        cwd=work, env={**os.environ, "PYTHONPATH": f"{work / 'jenkins'}:{work}"},
        capture_output=True, text=True, timeout=600)
    assert bump.returncode == 0, bump.stdout + bump.stderr
    changed = subprocess.run(["git", "-C", str(work), "show", "--name-only", "--format=", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert LAPTOP in changed
    bumped = next(e for e in yaml.safe_load((work / LAPTOP).read_text())["images"] if e["name"] == entry["name"])
    assert bumped["digest"] == record["digest"] and bumped["newTag"] == record["tag"]

    ref = f"{bumped['newName']}:{bumped['newTag']}@{bumped['digest']}"
    ns = namespace("digest")
    ns.apply(restricted_pod("bumped", ref, ["python3", "-c", "import etl"]))
    pod = ns.wait_pod_phase("bumped", {"Succeeded", "Failed"})
    assert pod["status"]["phase"] == "Succeeded", ns.logs("bumped")
    status = pod["status"]["containerStatuses"][0]
    assert status["imageID"].endswith(record["digest"])
