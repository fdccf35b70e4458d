"""The git-sync-compatible syncer against a real git daemon: layout, atomic swap, depth, failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.localplatform import gitserver
from tools.localplatform.gitsync import Syncer, parse_duration

pytestmark = pytest.mark.e2e


@pytest.fixture
def origin(tmp_path):
    bare = tmp_path / "origin.git"
    gitserver.git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    return gitserver.Clone(str(bare), tmp_path / "dev")


def syncer(origin, root: Path, **extra) -> Syncer:
    env = {"GITSYNC_REPO": origin.url, "GITSYNC_ROOT": str(root), "GITSYNC_REF": "main",
           "GITSYNC_LINK": "repo", "GITSYNC_DEPTH": "1", **extra}
    return Syncer(env)


def test_publishes_each_commit_as_a_worktree_behind_an_atomic_link(origin, tmp_path):
    first = origin.push_file("dags/a.py", "A = 1\n", "first")
    sync = syncer(origin, tmp_path / "git")
    assert sync.sync_once() is True
    link = tmp_path / "git" / "repo"
    assert link.is_symlink() and os.readlink(link) == f".worktrees/{first}"
    assert (link / "dags" / "a.py").read_text() == "A = 1\n"
    assert sync.sync_once() is False  # nothing new: no swap

    second = origin.push_file("dags/b.py", "B = 2\n", "second")
    assert sync.sync_once() is True
    assert os.readlink(link) == f".worktrees/{second}"
    assert sorted(p.name for p in (link / "dags").iterdir()) == ["a.py", "b.py"]
    assert [p.name for p in (tmp_path / "git" / ".worktrees").iterdir()] == [second]  # old tree removed
    # GITSYNC_DEPTH=1: a shallow history of one commit.
    shallow = subprocess.run(["git", f"--git-dir={tmp_path / 'git' / '.git'}", "rev-list", "--count", second],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert shallow == "1"


def test_a_commit_as_ref_checks_out_that_commit_not_the_branch_head(origin, tmp_path):
    """What a task pod's one-time sync does with the DAG's pinned commit (mlops_dags.dag_version):
    the branch has moved on, the pod still gets the commit its DAG was parsed from."""
    pinned = origin.push_file("dags/a.py", "VERSION = 1\n", "parsed")
    origin.push_file("dags/a.py", "VERSION = 2\n", "merged while the run was queued")
    sync = syncer(origin, tmp_path / "git", GITSYNC_REF=pinned, GITSYNC_ONE_TIME="true")
    assert sync.sync_once() is True
    link = tmp_path / "git" / "repo"
    assert os.readlink(link) == f".worktrees/{pinned}"
    assert (link / "dags" / "a.py").read_text() == "VERSION = 1\n"


def test_gives_up_after_max_failures(tmp_path):
    env = {**os.environ, "GITSYNC_REPO": str(tmp_path / "missing.git"), "GITSYNC_ROOT": str(tmp_path / "git"),
           "GITSYNC_PERIOD": "100ms", "GITSYNC_MAX_FAILURES": "2", "PYTHONPATH": str(gitserver.REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tools.localplatform.gitsync"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout.count('"sync-failed"') == 3  # 2 allowed, the third aborts


def test_one_time_exits_after_the_first_sync(origin, tmp_path):
    origin.push_file("dags/a.py", "A = 1\n", "first")
    env = {**os.environ, "GITSYNC_REPO": origin.url, "GITSYNC_ROOT": str(tmp_path / "git"), "GITSYNC_REF": "main",
           "GITSYNC_ONE_TIME": "true", "PYTHONPATH": str(gitserver.REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tools.localplatform.gitsync"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "git" / "origin" / "dags" / "a.py").exists()  # default link: the repo's name


@pytest.mark.parametrize(("text", "seconds"), [("5s", 5), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200)])
def test_parses_go_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 s", "1x", "s5"])
def test_rejects_malformed_durations(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
