"""20 bumps racing to push to one remote from separate clones: every one lands, none is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ci_repo_factory import REGISTRY, clone, git, make_remote

BUMPS = 20
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_twenty_concurrent_bumps_all_land(tmp_path: Path, ci_env):
    # Each clone bumps its own image; the entries sit on neighbouring lines of the same two files,
    # so most rebases conflict and the tool has to redo its edit on the new remote tip.
    remote = make_remote(tmp_path, extra_images=BUMPS)
    clones = [clone(remote, tmp_path / f"clone-{i:02d}") for i in range(BUMPS)]
    env = dict(ci_env, BUMP_PUSH_ATTEMPTS="60", BUMP_PUSH_BACKOFF="0.2")

    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ci_tools.bump", "--repo", str(work), "--image", f"{REGISTRY}/extra-{i:02d}",
             "--tag", f"run-{i:02d}", "--clusters", "dev,prod"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i, work in enumerate(clones)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    elapsed = time.monotonic() - started
    failures = [(i, err) for i, (p, (_out, err)) in enumerate(zip(procs, outputs, strict=True)) if p.returncode != 0]
    assert not failures, failures

    attempts = [int(out.rsplit("push attempts ", 1)[1].rstrip(")\n")) for out, _ in outputs]
    check = clone(remote, tmp_path / "check")
    for cluster in ("dev", "prod"):
        data = yaml.safe_load((check / f"apps/airflow/overlays/{cluster}/kustomization.yaml").read_text())
        tags = {e["name"]: e["newTag"] for e in data["images"]}
        for i in range(BUMPS):
            assert tags[f"{REGISTRY}/extra-{i:02d}"] == f"run-{i:02d}", f"{cluster}: bump {i} was lost"
    log = git(check, "log", "--format=%cn %s", "main").splitlines()
    bot_commits = [line for line in log if line.startswith("mlops-ci-bot ")]
    assert len(bot_commits) == BUMPS
    assert {line.split("extra-")[1].split("=")[0] for line in bot_commits} == {f"{i:02d}" for i in range(BUMPS)}
    # History stays linear: every bump was rebased or redone, never merged.
    assert git(check, "rev-list", "--merges", "main").strip() == ""

    result = {"bumps": BUMPS, "wall_seconds": round(elapsed, 2), "push_attempts_total": sum(attempts),
              "push_attempts_max": max(attempts), "cpus": os.cpu_count()}
    out = Path(os.environ.get("RUN_DIR", ROOT / ".run")) / "bench" / "jenkins-bump-concurrency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n20 concurrent bumps: {result}")
