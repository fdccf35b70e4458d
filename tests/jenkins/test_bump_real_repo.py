"""Bump and preview against this repository's own overlays (a clone of the committed HEAD)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ci_repo_factory import clone, git, run_tool

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"
SHA = "c0ffee" + "1" * 34  # a stand-in 40-hex git SHA: the immutable tag the pipeline uses
DIGESTS = {"spark-etl": "sha256:" + "5e" * 32, "airflow": "sha256:" + "a1" * 32}


def overlay_images(work: Path) -> dict[str, dict[str, dict]]:
    found = {}
    for path in sorted(work.glob("apps/*/overlays/*/kustomization.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        found[str(path.relative_to(work))] = {e["name"]: e for e in data.get("images") or []}
    return found


def test_bump_of_the_real_overlays_lands_and_renders(real_clone, tmp_path, ci_env):
    remote, work = real_clone
    before = overlay_images(work)
    expected_files = sorted(f for f, images in before.items()
                            if f"{REGISTRY}/spark-etl" in images or f"{REGISTRY}/airflow" in images)
    # The contract: the job image is set per cluster in the Airflow overlay.
    assert "apps/airflow/overlays/dev/kustomization.yaml" in expected_files
    assert "apps/airflow/overlays/prod/kustomization.yaml" in expected_files

    records = tmp_path / "records"
    records.mkdir()
    for name, digest in DIGESTS.items():
        (records / f"{name}.json").write_text(f'{{"image": "{REGISTRY}/{name}", "tag": "{SHA}", "digest": "{digest}"}}')
    base = git(work, "rev-parse", "HEAD").strip()
    result = run_tool("bump", "--repo", str(work), "--from-dir", str(records), "--clusters", "dev,prod", env=ci_env)
    assert result.returncode == 0, result.stderr

    fresh = clone(remote, tmp_path / "fresh")
    changed = sorted(git(fresh, "diff", "--name-only", f"{base}..main").split())
    assert changed == expected_files
    after = overlay_images(fresh)
    for path in expected_files:
        for name, digest in DIGESTS.items():
            if f"{REGISTRY}/{name}" in after[path]:
                assert after[path][f"{REGISTRY}/{name}"] == {"name": f"{REGISTRY}/{name}", "newTag": SHA, "digest": digest}

    for cluster in ("dev", "prod"):
        rendered = subprocess.run(["kubectl", "kustomize", str(fresh / "apps/airflow/overlays" / cluster)], env=ci_env,
                                  capture_output=True, text=True, check=True).stdout
        assert f"ETL_JOB_IMAGE: {REGISTRY}/spark-etl:{SHA}@{DIGESTS['spark-etl']}" in rendered
        assert f"image: {REGISTRY}/airflow:{SHA}@{DIGESTS['airflow']}" in rendered

    # And the PR preview of that bump names exactly the image changes.
    out = tmp_path / "preview"
    preview = run_tool("preview", "--repo", str(fresh), "--base", base, "--head", "main", "--out", str(out), env=ci_env)
    assert preview.returncode == 0, preview.stderr
    prod = (out / "prod.md").read_text()
    assert f'data.ETL_JOB_IMAGE: "{REGISTRY}/spark-etl:' in prod and f'{SHA}@{DIGESTS["spark-etl"]}"' in prod
    summary = (out / "summary.txt").read_text().splitlines()
    # An image bump adds and removes nothing: only changed objects, and only where the images are used.
    assert all(line.endswith("no changes") or ": 0 added, 0 removed, " in line for line in summary), summary
    assert "prod: apps/airflow/overlays/prod: 0 added, 0 removed, " in "\n".join(summary)


@pytest.mark.slow
def test_bump_passes_the_real_static_gate(real_clone, ci_env):
    """The default validation (`make validate`, the lead's static gate) on the bumped clone.

    The clone reuses this checkout's .venv and .tools, so nothing is rebuilt.
    """
    remote, work = real_clone
    env = ci_env  # the tool runs the clone's own `make validate` (with this checkout's venv and tools)
    base = git(work, "rev-parse", "HEAD").strip()
    result = run_tool("bump", "--repo", str(work), "--image", f"{REGISTRY}/spark-etl", "--tag", SHA,
                      "--digest", DIGESTS["spark-etl"], "--clusters", "prod", env=env)
    assert result.returncode == 0, result.stderr
    assert git(remote, "rev-parse", "main").strip() != base
    assert "apps/airflow/overlays/prod/kustomization.yaml" in git(remote, "diff", "--name-only", f"{base}..main")


def test_every_image_main_builds_has_an_overlay_to_bump():
    """Otherwise `make bump-built` would refuse (exit 2) after the images were already pushed."""
    from ci_tools.images import DEFAULT_REGISTRY, discover
    from ci_tools.overlay_images import image_names, known_clusters, overlay_files

    builds = discover(ROOT, SHA, DEFAULT_REGISTRY)
    assert {b.name for b in builds} >= {"spark-etl", "airflow"}
    for cluster in known_clusters(ROOT):
        names = {name for path in overlay_files(ROOT, cluster) for name in image_names(path)}
        for build in builds:
            assert build.repository in names, f"cluster {cluster}: no overlay lists {build.repository} in `images:`"


def test_bump_can_target_the_local_cluster(real_clone, tmp_path, ci_env):
    """clusters/local has no overlays of its own: its images live in the laptop component, which
    the bump finds through the same cluster discovery and edits, and the local Airflow then runs
    the bumped image from the local registry."""
    from tools.gate.render import render
    from tools.gate.units import app_unit

    remote, work = real_clone
    records = tmp_path / "records"
    records.mkdir()
    (records / "airflow.json").write_text(f'{{"image": "{REGISTRY}/airflow", "tag": "{SHA}", "digest": "{DIGESTS["airflow"]}"}}')
    base = git(work, "rev-parse", "HEAD").strip()
    result = run_tool("bump", "--repo", str(work), "--from-dir", str(records), "--clusters", "local", env=ci_env)
    assert result.returncode == 0, result.stderr
    fresh = clone(remote, tmp_path / "fresh")
    assert git(fresh, "diff", "--name-only", f"{base}..main").split() == ["clusters/local/laptop/kustomization.yaml"]
    images = {c["image"] for o in render(app_unit("local", "airflow", fresh)) if o["kind"] == "Deployment"
              for c in o["spec"]["template"]["spec"]["containers"]}
    assert f"127.0.0.1:5000/mlops-platform/airflow:{SHA}@{DIGESTS['airflow']}" in images
