"""Where the local platform keeps its state and which loopback ports it uses (one place for both)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"LOCALPLATFORM_{name}_PORT", default))


@dataclass(frozen=True)
class Layout:
    """Paths and ports of one local platform instance (default: `.run/localplatform`)."""

    run_dir: Path
    postgres_port: int = _port("POSTGRES", 55432)
    api_port: int = _port("API", 28080)
    git_port: int = _port("GIT", 29418)
    smtp_port: int = _port("SMTP", 2525)
    webhook_port: int = _port("WEBHOOK", 28090)

    @property
    def pid_dir(self) -> Path:
        return self.run_dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def secrets_dir(self) -> Path:
        # Generated per run (DB password, JWT secret, Fernet key); never leaves .run/.
        return self.run_dir / "secrets"

    @property
    def pg_data(self) -> Path:
        return self.run_dir / "pg"

    @property
    def git_server_dir(self) -> Path:
        return self.run_dir / "git-server"

    @property
    def bare_repo(self) -> Path:
        return self.git_server_dir / "dags.git"

    @property
    def git_url(self) -> str:
        return f"git://{LOOPBACK}:{self.git_port}/dags.git"

    @property
    def git_sync_root(self) -> Path:
        # Stands in for the pod's `/git` volume.
        return self.run_dir / "git"

    @property
    def airflow_home(self) -> Path:
        return self.run_dir / "airflow-home"

    @property
    def inbox_dir(self) -> Path:
        # Mail and webhook messages received by the local receivers, one JSON file each.
        return self.run_dir / "inbox"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def webhook_base(self) -> str:
        return f"http://{LOOPBACK}:{self.webhook_port}/hooks"


def default_layout() -> Layout:
    run_dir = Path(os.environ.get("LOCALPLATFORM_RUN_DIR", REPO_ROOT / ".run" / "localplatform"))
    return Layout(run_dir=run_dir.resolve())
