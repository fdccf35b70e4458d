"""`make new-job` / `make new-dag` on a temporary copy of dags/, jobs/ and apps/airflow (never the real tree):
bad requests are refused without writing anything, and what a good request writes works — the new
DAG loads with the platform's DAG rules in both Spark modes and the generated tests pass."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import load_dagbag
from tests.dags.integrity import dag_policy_problems, task_policy_problems

REPO = Path(__file__).resolve().parents[2]
COPIED_TESTS = ("tests/jobs/conftest.py", "tests/dags/conftest.py", "tests/dags/integrity.py")


@pytest.fixture
def repo_copy(tmp_path):
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    # apps/airflow too: kubernetes-mode DAGs read the platform's ETL template from it (git-sync
    # brings the whole repository to Airflow).
    for folder in ("dags", "jobs", "apps/airflow"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    for name in ("pyproject.toml", *COPIED_TESTS):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    return root


def make(target: str, root: Path, **variables) -> subprocess.CompletedProcess:
    args = [f"{k}={v}" for k, v in variables.items()]
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), target, f"SCAFFOLD_ROOT={root}", *args],
                          capture_output=True, text=True, timeout=300)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("target", "variables", "message"), [
    ("new-job", {"NAME": "Customer-Orders"}, "job name 'Customer-Orders': must be snake_case"),
    ("new-job", {"NAME": "2fast"}, "must be snake_case"),
    ("new-job", {"NAME": "class"}, "reserved"),
    ("new-job", {"NAME": "weather"}, "refusing to overwrite existing file(s): jobs/etl/weather.py"),
    ("new-job", {}, "usage: make new-job NAME=<snake_name>"),
    ("new-dag", {"NAME": "seattle_weather", "JOB": "weather"}, "already defined in dags/seattle_weather.py"),
    ("new-dag", {"NAME": "orders_daily", "JOB": "orders"}, "jobs/etl/orders.py does not exist"),
    ("new-dag", {"NAME": "dedupe_daily", "JOB": "dedupe"}, "jobs/etl/dedupe.py has no top-level run(spark, root, day)"),
    ("new-dag", {"NAME": "bad dag"}, "must be snake_case"),
])
def test_bad_requests_are_refused_and_write_nothing(repo_copy, target, variables, message):
    before = snapshot(repo_copy)
    result = make(target, repo_copy, **variables)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert snapshot(repo_copy) == before


def test_a_job_the_cli_cannot_run_is_refused(repo_copy):
    (repo_copy / "jobs/etl/orphan.py").write_text("def run(spark, root, day):\n    return {}\n")
    before = snapshot(repo_copy)
    result = make("new-dag", repo_copy, NAME="orphan_daily", JOB="orphan")
    assert result.returncode != 0 and "'orphan': not a step of jobs/etl/cli.py" in result.stderr, result.stderr
    assert snapshot(repo_copy) == before


@pytest.mark.slow
def test_scaffolded_job_and_dag_work(repo_copy):
    job = make("new-job", repo_copy, NAME="customer_orders")
    assert job.returncode == 0, job.stderr
    dag = make("new-dag", repo_copy, NAME="customer_orders_daily", JOB="customer_orders")
    assert dag.returncode == 0, dag.stderr
    for created in ("jobs/etl/customer_orders.py", "tests/jobs/test_customer_orders.py",
                    "dags/customer_orders_daily.py", "tests/dags/test_customer_orders_daily.py"):
        assert f"+ {created}" in job.stdout + dag.stdout
        assert (repo_copy / created).is_file()
    assert "Next steps" in dag.stdout and "make run-dag DAG=customer_orders_daily" in dag.stdout

    # The copy's DAG folder with the new DAG: no import errors, every DAG follows the platform rules.
    for mode in ("local", "kubernetes"):
        bag = load_dagbag(mode, dag_folder=repo_copy / "dags")
        assert bag.import_errors == {}, mode
        assert set(bag.dag_ids) == {p.stem for p in (repo_copy / "dags").glob("*.py")}
        new_dag = bag.dags["customer_orders_daily"]
        assert new_dag.task_ids == ["customer_orders"]
        for one in bag.dags.values():
            assert dag_policy_problems(one) == [] and task_policy_problems(one) == [], (mode, one.dag_id)

    # Making the same job again must not touch what now exists.
    again = make("new-job", repo_copy, NAME="customer_orders")
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr

    # The generated tests run Spark on the job, the CLI step and both DAG modes in the copy.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AIRFLOW_HOME")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q",
         "tests/jobs/test_customer_orders.py", "tests/dags/test_customer_orders_daily.py"],
        cwd=repo_copy, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "7 passed" in run.stdout, run.stdout[-2000:]


    # What `make run-dag DAG=... JOB=...` does, on the copy: Airflow runs the new DAG for a date.
    local_run = subprocess.run(
        [sys.executable, str(repo_copy / "dags/mlops_dags/local_run.py"), "--dag", "customer_orders_daily",
         "--sample-input", "customer_orders", "--date", "2026-11-27", "--run-dir", str(repo_copy / ".run")],
        cwd=repo_copy, env=env, capture_output=True, text=True, timeout=600,
    )
    assert local_run.returncode == 0, local_run.stdout[-3000:] + local_run.stderr[-2000:]
    assert re.search(r"^\s+customer_orders\s+success", local_run.stdout, re.M), local_run.stdout
    stats = json.loads((repo_copy / ".run/data/features/customer_orders/dt=2026-11-27/_stats.json").read_text())
    assert stats["rows_in"] == stats["good"] + stats["quarantined"] == 7
