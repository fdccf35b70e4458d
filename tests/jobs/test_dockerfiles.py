"""The job images cannot be built here (no container engine), so their Dockerfiles are checked:
pinned base image, non-root user, and versions equal to requirements.lock."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "jobs" / "images").glob("*/Dockerfile"))


def _lock_versions() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", (REPO / "requirements.lock").read_text(), re.M)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_both_images_exist():
    assert {p.parent.name for p in DOCKERFILES} == {"spark-etl", "airflow"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_image_is_pinned(dockerfile):
    for keyword, rest in _instructions(dockerfile):
        if keyword == "FROM":
            image = rest.split()[0]
            name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
            assert name and tag and tag != "latest", f"{dockerfile}: FROM {image} is not pinned to a tag or digest"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_final_user_is_not_root(dockerfile):
    users = [rest for keyword, rest in _instructions(dockerfile) if keyword == "USER"]
    assert users, f"{dockerfile}: no USER instruction (would run as the base image's user)"
    assert users[-1].split(":")[0] not in ("root", "0"), f"{dockerfile}: last USER is {users[-1]}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_pip_pins_match_the_lock(dockerfile):
    lock = _lock_versions()
    pins = re.findall(r"\b([a-z][a-z0-9_.-]+)==([0-9][^\s]*)", dockerfile.read_text())
    assert pins, f"{dockerfile}: installs nothing pinned"
    wrong = {n: (v, lock.get(n)) for n, v in pins if lock.get(n) != v}
    assert not wrong, f"{dockerfile}: pins differ from requirements.lock (image, lock): {wrong}"


def test_spark_and_airflow_versions_match_the_lock():
    lock = _lock_versions()
    spark = (REPO / "jobs/images/spark-etl/Dockerfile").read_text()
    assert re.search(rf"^FROM apache/spark:{re.escape(lock['pyspark'])}-python3\b", spark, re.M)
    assert f"ARG SPARK_VERSION={lock['pyspark']}" in spark
    airflow = (REPO / "jobs/images/airflow/Dockerfile").read_text()
    assert re.search(rf"^FROM apache/airflow:{re.escape(lock['apache-airflow'])}-python3\.11\b", airflow, re.M)
    assert f"ARG AIRFLOW_VERSION={lock['apache-airflow']}" in airflow


def test_image_copies_the_job_code():
    for dockerfile in DOCKERFILES:
        copies = [rest for keyword, rest in _instructions(dockerfile) if keyword == "COPY"]
        assert any("jobs/etl" in c for c in copies), f"{dockerfile}: job code not copied in"
