"""The job images' Dockerfiles, checked statically: the base is a build argument whose default is a
pinned upstream image of the locked version, the final user is not root, and every package the image
installs comes from its own lock, which agrees pin for pin (and hash for hash) with requirements.lock.
What the built images really contain is checked inside them by tests/e2e/k8s/test_k8s_images.py."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "jobs" / "images").glob("*/Dockerfile"))


def _pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a uv/pip lock file."""
    text = path.read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)(.*)$", line)
        if match:
            name = match.group(1).lower().replace("_", "-")
            pins[name] = (match.group(2), frozenset(re.findall(r"--hash=(\S+)", match.group(3))))
    return pins


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _arg_defaults(path: Path) -> dict[str, str]:
    return dict(rest.split("=", 1) for keyword, rest in _instructions(path) if keyword == "ARG" and "=" in rest)


def test_both_images_exist():
    assert {p.parent.name for p in DOCKERFILES} == {"spark-etl", "airflow"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_base_is_a_pinned_default_of_a_build_argument(dockerfile):
    defaults = _arg_defaults(dockerfile)
    froms = [rest.split()[0] for keyword, rest in _instructions(dockerfile) if keyword == "FROM"]
    assert froms
    for image in froms:
        match = re.fullmatch(r"\$\{(\w+)\}", image)
        assert match, f"{dockerfile}: FROM {image}: the base must be a build argument (local builds swap it)"
        default = defaults.get(match.group(1))
        assert default, f"{dockerfile}: ARG {match.group(1)} has no default (Jenkins builds with the default)"
        name, _, tag = default.rpartition(":") if "@" not in default else (default, "", "digest")
        assert name and tag and tag != "latest", f"{dockerfile}: {match.group(1)}={default} is not pinned"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_final_user_is_not_root(dockerfile):
    users = [rest for keyword, rest in _instructions(dockerfile) if keyword == "USER"]
    assert users, f"{dockerfile}: no USER instruction (would run as the base image's user)"
    assert users[-1].split(":")[0] not in ("root", "0"), f"{dockerfile}: last USER is {users[-1]}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_installs_only_its_lock_with_hashes(dockerfile):
    runs = [rest for keyword, rest in _instructions(dockerfile) if keyword == "RUN" and "pip install" in rest]
    assert runs, f"{dockerfile}: installs nothing"
    for run in runs:
        assert "--require-hashes" in run and "--no-deps" in run and "-r /tmp/requirements.lock" in run, run
        assert not re.search(r"\b[a-z][a-z0-9_.-]+==", run), f"{dockerfile}: pins outside the lock: {run}"
    copies = [rest for keyword, rest in _instructions(dockerfile) if keyword == "COPY"]
    image_lock = f"jobs/images/{dockerfile.parent.name}/requirements.lock"
    assert any(image_lock in c for c in copies), f"{dockerfile}: does not copy {image_lock}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_lock_agrees_with_the_repository_lock(dockerfile):
    main = _pins(REPO / "requirements.lock")
    image = _pins(dockerfile.parent / "requirements.lock")
    assert image, f"{dockerfile.parent / 'requirements.lock'} pins nothing"
    for name, (version, hashes) in image.items():
        assert name in main, f"{dockerfile.parent.name}: {name} is not in requirements.lock"
        assert version == main[name][0], f"{dockerfile.parent.name}: {name}=={version}, repo lock {main[name][0]}"
        assert hashes and hashes <= main[name][1], f"{dockerfile.parent.name}: {name} hashes not from the lock"


def test_image_lock_installs_the_direct_requirements():
    for dockerfile in DOCKERFILES:
        # A requirement's name without its extras (`apache-airflow-providers-fab[oauth]`): the lock
        # pins the distribution, and the extra's own requirements as distributions of their own.
        wanted = {line.strip().lower().split("[", 1)[0]
                  for line in (dockerfile.parent / "requirements.in").read_text().splitlines()
                  if line.strip() and not line.startswith("#")}
        missing = wanted - set(_pins(dockerfile.parent / "requirements.lock"))
        assert not missing, f"{dockerfile.parent.name}: requirements.in lists {missing}, the lock lacks them"


def test_default_bases_match_the_locked_spark_and_airflow():
    lock = {name: version for name, (version, _) in _pins(REPO / "requirements.lock").items()}
    spark = _arg_defaults(REPO / "jobs/images/spark-etl/Dockerfile")
    assert spark["SPARK_BASE_IMAGE"] == f"apache/spark:{lock['pyspark']}-python3"
    airflow = _arg_defaults(REPO / "jobs/images/airflow/Dockerfile")
    assert airflow["AIRFLOW_BASE_IMAGE"] == f"apache/airflow:{lock['apache-airflow']}-python3.11"


def test_s3a_matches_the_hadoop_spark_ships():
    """hadoop-aws must equal the Hadoop client jars inside the locked pyspark."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    hadoop = {m.group(1) for p in jars.glob("hadoop-client-api-*.jar")
              if (m := re.match(r"hadoop-client-api-(.+)\.jar", p.name))}
    pom = (REPO / "jobs/images/spark-etl/s3a/pom.xml").read_text()
    declared = re.search(r"<artifactId>hadoop-aws</artifactId>\s*<version>([^<]+)</version>", pom).group(1)
    assert hadoop == {declared}


def test_image_copies_the_job_code():
    for dockerfile in DOCKERFILES:
        copies = [rest for keyword, rest in _instructions(dockerfile) if keyword == "COPY"]
        assert any("jobs/etl" in c for c in copies), f"{dockerfile}: job code not copied in"
