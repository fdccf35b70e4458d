"""Push to a real local OCI registry (distribution's `registry`) with crane; the bump pins the digest it serves.

Only kaniko's own build is not exercised here (it needs its container); everything after the push is:
the digest check against the registry's HTTP API, the build records, and the bump commit.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import requests
import yaml
from ci_repo_factory import clone, make_remote, run_tool

SHA = "5e1f0c2d3b4a59687f8e9d0c1b2a394857f6e5d4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(registry_bin: Path, tmp_path: Path):
    """A registry on 127.0.0.1 only, storing into tmp; stopped (by its pid) after the test."""
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(yaml.safe_dump({
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "registry-data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    env = dict(os.environ, OTEL_TRACES_EXPORTER="none")
    log = (tmp_path / "registry.log").open("w")
    proc = subprocess.Popen([str(registry_bin), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://{host}/v2/", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"registry did not start: {(tmp_path / 'registry.log').read_text()}")
        time.sleep(0.2)
    yield host
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def layer_tarball(path: Path, content: bytes) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("opt/etl/VERSION")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return path


def crane_push(crane: Path, ref: str, layer: Path) -> str:
    """Stand-in for kaniko's push: append a layer onto an empty base and push; returns crane's digest."""
    subprocess.run([str(crane), "append", "--insecure", "-f", str(layer), "-t", ref], check=True, capture_output=True)
    return subprocess.run([str(crane), "digest", "--insecure", ref], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def pipeline_repo(registry, tmp_path):
    image = f"{registry}/mlops-platform/spark-etl"
    remote = make_remote(tmp_path, job_image=image,
                         extra_files={"jobs/images/spark-etl/Dockerfile": "FROM scratch\nCOPY jobs/ /opt/etl/\n"})
    return image, clone(remote, tmp_path / "work"), remote


def test_push_record_and_bump_pin_the_registry_digest(registry, pipeline_repo, crane, ci_env, tmp_path):
    image, work, remote = pipeline_repo
    records = tmp_path / "records"
    common = ["--repo", str(work), "--tag", SHA, "--registry", f"{registry}/mlops-platform", "--records", str(records)]

    # 1. What the kaniko container will run: one executor call per image, tagged with the commit.
    script = run_tool("images", "script", *common, "--executor", "/kaniko/executor", env=ci_env)
    assert script.returncode == 0, script.stderr
    kaniko = (records / "kaniko.sh").read_text()
    assert f"--destination={image}:{SHA}" in kaniko and f"--digest-file={records}/spark-etl.digest" in kaniko

    # 2. The push (crane here, kaniko in Jenkins) and the digest file kaniko would leave behind.
    pushed = crane_push(crane, f"{image}:{SHA}", layer_tarball(tmp_path / "layer.tar", SHA.encode()))
    assert pushed.startswith("sha256:")
    (records / "spark-etl.digest").write_text(pushed)

    # 3. The record step asks the registry itself (HTTP API) which digest the tag has.
    record = run_tool("images", "record", *common, "--insecure-registry", env=ci_env)
    assert record.returncode == 0, record.stderr
    assert yaml.safe_load((records / "spark-etl.json").read_text()) == {"image": image, "tag": SHA, "digest": pushed}

    # 4. The bump pins that digest in both clusters and pushes the bot commit.
    bump = run_tool("bump", "--repo", str(work), "--from-dir", str(records), env=ci_env)
    assert bump.returncode == 0, bump.stderr
    fresh = clone(remote, tmp_path / "fresh")
    for cluster in ("dev", "prod"):
        rendered = subprocess.run(["kubectl", "kustomize", str(fresh / "clusters" / cluster)], env=ci_env,
                                  capture_output=True, text=True, check=True).stdout
        assert f"ETL_JOB_IMAGE: {image}:{SHA}@{pushed}" in rendered
    # The pinned reference is pullable: the registry serves a manifest for exactly that digest.
    manifest = subprocess.run([str(crane), "manifest", "--insecure", f"{image}@{pushed}"], capture_output=True, text=True)
    assert manifest.returncode == 0 and '"layers"' in manifest.stdout


def test_record_refuses_a_digest_the_registry_does_not_serve(registry, pipeline_repo, crane, ci_env, tmp_path):
    image, work, _remote = pipeline_repo
    records = tmp_path / "records"
    records.mkdir()
    crane_push(crane, f"{image}:{SHA}", layer_tarball(tmp_path / "layer.tar", b"real"))
    (records / "spark-etl.digest").write_text("sha256:" + "0" * 64)
    record = run_tool("images", "record", "--repo", str(work), "--tag", SHA, "--registry", f"{registry}/mlops-platform",
                      "--records", str(records), "--insecure-registry", env=ci_env)
    assert record.returncode == 1
    assert f"{image}:{SHA}: builder reported sha256:{'0' * 64}, registry serves sha256:" in record.stderr
    assert not (records / "spark-etl.json").exists()


def test_record_fails_when_the_tag_was_never_pushed(registry, pipeline_repo, ci_env, tmp_path):
    _image, work, _remote = pipeline_repo
    records = tmp_path / "records"
    records.mkdir()
    (records / "spark-etl.digest").write_text("sha256:" + "1" * 64)
    record = run_tool("images", "record", "--repo", str(work), "--tag", SHA, "--registry", f"{registry}/mlops-platform",
                      "--records", str(records), "--insecure-registry", env=ci_env)
    assert record.returncode == 1
    assert f"HEAD manifest mlops-platform/spark-etl:{SHA} answered 404" in record.stderr
