"""The stand-in for GitHub: a bare repo served by `git daemon` on loopback, seeded from `dags/`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .layout import LOOPBACK, REPO_ROOT, Layout
from .procs import Service

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "localplatform", "GIT_AUTHOR_EMAIL": "localplatform@localhost",
    "GIT_COMMITTER_NAME": "localplatform", "GIT_COMMITTER_EMAIL": "localplatform@localhost",
}
BRANCH = "main"


def git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_IDENTITY})
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} (in {cwd}): {proc.stderr.strip()}")
    return proc.stdout.strip()


def seed_bare_repo(layout: Layout, dags_dir: Path = REPO_ROOT / "dags") -> None:
    """(Re)create the bare repo with one commit holding the working tree's `dags/` (no caches)."""
    if layout.bare_repo.exists():
        shutil.rmtree(layout.bare_repo)
    layout.git_server_dir.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(layout.bare_repo))
    with tempfile.TemporaryDirectory(prefix="dags-seed-") as tmp:
        work = Path(tmp)
        shutil.copytree(dags_dir, work / "dags", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        git("init", "--quiet", f"--initial-branch={BRANCH}", cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "--quiet", "--allow-empty", "-m", "seed: dags/ from the working tree", cwd=work)
        git("push", "--quiet", str(layout.bare_repo), f"HEAD:{BRANCH}", cwd=work)


def daemon_service(layout: Layout) -> Service:
    argv = ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
            f"--base-path={layout.git_server_dir}", f"--listen={LOOPBACK}", f"--port={layout.git_port}",
            str(layout.git_server_dir)]
    return Service("git-daemon", argv, env=dict(os.environ), cwd=layout.run_dir)


def wait_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {LOOPBACK}:{port} within {timeout:.0f}s")


class Clone:
    """A developer's clone of the DAG repo: write files, commit, push ("merge to main")."""

    def __init__(self, url: str, workdir: Path):
        self.url = url
        self.path = workdir
        if not (workdir / ".git").exists():
            git("clone", "--quiet", url, str(workdir))
            if not git("branch", "--list", "--remotes", cwd=workdir):  # empty repository: start main
                git("checkout", "--quiet", "-b", BRANCH, cwd=workdir)

    def _pull(self) -> None:
        if git("ls-remote", "--heads", "origin", BRANCH, cwd=self.path):
            git("pull", "--quiet", "--rebase", "origin", BRANCH, cwd=self.path)

    def push_file(self, relpath: str, text: str, message: str) -> str:
        self._pull()
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git("add", relpath, cwd=self.path)
        git("commit", "--quiet", "-m", message, cwd=self.path)
        git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path)

    def remove_file(self, relpath: str, message: str) -> str:
        self._pull()
        git("rm", "--quiet", relpath, cwd=self.path)
        git("commit", "--quiet", "-m", message, cwd=self.path)
        git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path)
