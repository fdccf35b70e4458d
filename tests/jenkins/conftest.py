"""Fixtures for the CI/CD tests: tool paths, the environment the CLIs run with, tiny git repos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ci_repo_factory import clone, git

from tools.versions import pin

ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools"))


def pinned(name: str) -> str:
    return pin(name)


def require_tool(path: Path) -> Path:
    """Tools come from `make jenkins-tools` (part of `make setup`); missing is an error, not a skip."""
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make jenkins-tools`")
    return path


@pytest.fixture(scope="session")
def groovy_jar() -> Path:
    return require_tool(TOOLS_DIR / "groovy" / f"groovy-{pinned('GROOVY_VERSION')}.jar")


@pytest.fixture(scope="session")
def simulations(groovy_jar):
    """Every scenario of ci_tools.pipeline_check, dry-run once (one JVM) for all the pipeline tests."""
    from ci_tools.pipeline_check import SCENARIOS, simulate_many

    return simulate_many(groovy_jar, ROOT / "Jenkinsfile", SCENARIOS)


@pytest.fixture(scope="session")
def crane() -> Path:
    return require_tool(TOOLS_DIR / "bin" / "crane")


@pytest.fixture(scope="session")
def registry_bin() -> Path:
    return require_tool(TOOLS_DIR / "bin" / "registry")


@pytest.fixture
def ci_env() -> dict[str, str]:
    """Environment for running `python -m ci_tools.*` as Jenkins would (through make)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{ROOT / 'jenkins'}:{ROOT}"  # ci_tools, and tools.gate for the preview
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{TOOLS_DIR / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    # As under a make given this checkout's venv and tools: the `make validate` the tools run in a clone
    # of this repository reuses them instead of building its own (make reads overrides from MAKEFLAGS).
    env["MAKEFLAGS"] = f"VENV={ROOT / '.venv'} TOOLS_DIR={TOOLS_DIR}"
    env.pop("GIT_DIR", None)
    return env


@pytest.fixture
def real_clone(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote holding this repository's committed HEAD, and a clone of it to work in."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(ROOT), str(remote))
    if not (remote / "HEAD").is_file():
        pytest.fail("could not clone the repository")
    # The remote's main is this checkout's HEAD, whichever branch (or worktree) the tests run on.
    head = git(ROOT, "rev-parse", "HEAD").strip()
    git(remote, "update-ref", "refs/heads/main", head)
    git(remote, "symbolic-ref", "HEAD", "refs/heads/main")
    return remote, clone(remote, tmp_path / "work")
