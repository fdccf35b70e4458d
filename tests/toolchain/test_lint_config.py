"""`make lint` and .pre-commit-config.yaml run the same linters, and ruff's committed config finds real bugs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"
RUFF = ROOT / ".venv" / "bin" / "ruff"


def lint_prerequisites() -> list[str]:
    """The prerequisites of `lint`, read from make's own database (not from the Makefile's text)."""
    proc = subprocess.run(["make", "-C", str(ROOT), "-pRrq", "--no-print-directory", "lint"],
                          capture_output=True, text=True)
    rules = [line for line in proc.stdout.splitlines() if line.startswith("lint:")]
    assert rules, f"make has no rule for `lint`:\n{proc.stderr}"
    return rules[0].split(":", 1)[1].split()


def hook_mismatches(config: dict, targets: list[str]) -> list[str]:
    """Why the pre-commit config is not the lint target; empty when each hook is one `make <prerequisite>`."""
    problems = []
    hooks = []
    for repo in config.get("repos", []):
        if repo.get("repo") != "local":
            problems.append(f"repo {repo.get('repo')!r}: only local hooks that call make (a remote hook has its own pins)")
            continue
        hooks += repo.get("hooks", [])
    called = []
    for hook in hooks:
        hid = hook.get("id")
        match = re.fullmatch(r"make ([A-Za-z0-9_.-]+)", str(hook.get("entry", "")).strip())
        if not match:
            problems.append(f"hook {hid}: entry must be `make <target>`, is {hook.get('entry')!r}")
            continue
        called.append(match.group(1))
        if hook.get("language") != "system":
            problems.append(f"hook {hid}: language must be system (the venv make uses), is {hook.get('language')!r}")
        if hook.get("pass_filenames", True) or not hook.get("always_run", False):
            problems.append(f"hook {hid}: needs pass_filenames: false and always_run: true (make lints the whole tree)")
        if hook.get("args"):
            problems.append(f"hook {hid}: args {hook['args']} would make it differ from `make {match.group(1)}`")
    if sorted(called) != sorted(targets):
        problems.append(f"hooks call make {sorted(called)}, `make lint` runs {sorted(targets)}")
    return problems


@pytest.fixture(scope="module")
def pre_commit_config() -> dict:
    return yaml.safe_load(PRE_COMMIT.read_text())


def test_lint_runs_yamllint_and_ruff():
    assert set(lint_prerequisites()) == {"lint-yaml", "lint-python"}
    proc = subprocess.run(["make", "-C", str(ROOT), "-n", "--no-print-directory", "lint-python", "lint-yaml"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"/\.venv/bin/ruff check --config pyproject\.toml \.$", proc.stdout, re.M), proc.stdout
    assert re.search(r"/\.venv/bin/yamllint --strict -c \.yamllint\.yaml \.$", proc.stdout, re.M), proc.stdout


def test_pre_commit_runs_exactly_the_lint_target(pre_commit_config):
    assert hook_mismatches(pre_commit_config, lint_prerequisites()) == []


@pytest.mark.parametrize("mutation, expected", [
    (lambda c: c["repos"][0]["hooks"].pop(), "hooks call make"),
    (lambda c: c["repos"][0]["hooks"][0].update(entry="yamllint ."), "entry must be `make <target>`"),
    (lambda c: c["repos"][0]["hooks"][1].update(args=["--fix"]), "would make it differ"),
    (lambda c: c["repos"].append({"repo": "https://example.invalid/ruff-pre-commit", "rev": "v0", "hooks": []}),
     "only local hooks"),
])
def test_a_drifted_pre_commit_config_is_reported(pre_commit_config, mutation, expected):
    drifted = yaml.safe_load(yaml.safe_dump(pre_commit_config))
    mutation(drifted)
    assert any(expected in p for p in hook_mismatches(drifted, lint_prerequisites()))


def test_a_lint_prerequisite_without_a_hook_is_reported(pre_commit_config):
    assert any("hooks call make" in p for p in hook_mismatches(pre_commit_config, [*lint_prerequisites(), "lint-go"]))


BUGGY = '''\
import os
from airflow.operators.dummy import DummyOperator
from airflow.sdk import DAG, task

with DAG("probe", schedule_interval="@daily"):
    DummyOperator(task_id="start")


def callbacks():
    out = []
    for name in ["a", "b"]:
        out.append(lambda: name)
    return out


@task
def summary() -> dict:
    return {"rows": 1}
'''


@pytest.mark.parametrize("where", ["dags", "jobs/etl", "jenkins/ci_tools", "tools/gate", "tests/jobs"])
def test_the_committed_ruff_config_finds_the_bugs_the_issue_names(tmp_path, where):
    """Unused import (F401), loop-variable closure (B023), Airflow 3 removal (AIR301) and implicit
    multiple_outputs (AIR202, a preview rule selected by code) are reported in every linted folder."""
    if not RUFF.is_file():
        pytest.fail(f"{RUFF} is missing: run `make setup` (requirements.lock pins ruff)")
    target = ROOT / where / f"_ruff_probe_{tmp_path.name}.py"
    target.write_text(BUGGY)
    try:
        # The folder, not the file: a file named on the command line is linted even outside `include`.
        proc = subprocess.run([str(RUFF), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                               "--output-format", "json", where], cwd=ROOT, capture_output=True, text=True)
    finally:
        target.unlink()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    codes = {f["code"] for f in json.loads(proc.stdout) if Path(f["filename"]) == target}
    assert {"F401", "B023", "AIR301", "AIR202"} <= codes, proc.stdout
