"""Thin wrapper over the git CLI (the real tool, so behaviour matches what Jenkins runs)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ci_tools.errors import ToolFailure

BOT_NAME = os.environ.get("CI_BOT_NAME", "mlops-ci-bot")
BOT_EMAIL = os.environ.get("CI_BOT_EMAIL", "mlops-ci-bot@users.noreply.mlops-platform.invalid")


def run(repo: Path, *args: str, check: bool = True, bot: bool = False) -> subprocess.CompletedProcess:
    """Run `git args` in repo; with bot=True author and committer are the CI bot."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    if bot:
        env.update(
            GIT_AUTHOR_NAME=BOT_NAME, GIT_AUTHOR_EMAIL=BOT_EMAIL,
            GIT_COMMITTER_NAME=BOT_NAME, GIT_COMMITTER_EMAIL=BOT_EMAIL,
        )
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ToolFailure(f"git {' '.join(args)} failed in {repo} (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return proc


def toplevel(path: Path) -> Path:
    return Path(run(path, "rev-parse", "--show-toplevel").stdout.strip())


def dirty_paths(repo: Path) -> list[str]:
    """Tracked changes and untracked files that are not git-ignored."""
    out = run(repo, "status", "--porcelain", "--untracked-files=all").stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def head(repo: Path) -> str:
    return run(repo, "rev-parse", "HEAD").stdout.strip()
