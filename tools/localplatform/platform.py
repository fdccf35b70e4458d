"""`make up` / `make down`: start and stop the whole local platform, in dependency order."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

from . import airflow, gitserver, postgres, settings
from .layout import REPO_ROOT, Layout, default_layout
from .procs import ProcessTable, Service

# Stop order: Airflow first (it holds DB connections and reads the DAG folder), PostgreSQL last.
STOP_ORDER = [*(f"airflow-{c}" for c in airflow.COMPONENTS), "git-sync", "receivers", "git-daemon", "postgres"]
ADMIN_USER = "admin"


def table(layout: Layout) -> ProcessTable:
    return ProcessTable(layout.run_dir, layout.pid_dir, layout.log_dir)


def load_secrets(layout: Layout) -> dict[str, str]:
    """Per-run generated secrets, kept under .run/ (never in git); created on first use."""
    path = layout.secrets_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    layout.secrets_dir.mkdir(parents=True, exist_ok=True)
    layout.secrets_dir.chmod(0o700)
    values = {
        "db_password": secrets.token_urlsafe(18),
        "fernet_key": Fernet.generate_key().decode(),
        "jwt_secret": secrets.token_urlsafe(32),
        "api_secret_key": secrets.token_urlsafe(32),
        "admin_password": secrets.token_urlsafe(12),
    }
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def admin_login(layout: Layout) -> tuple[str, str]:
    return ADMIN_USER, load_secrets(layout)["admin_password"]


def client(layout: Layout | None = None) -> airflow.AirflowClient:
    layout = layout or default_layout()
    return airflow.AirflowClient(layout.api_url, *admin_login(layout))


def notifier_env(layout: Layout) -> dict[str, str]:
    """Connections the DAGs' alert notifiers (dags/mlops_dags/alerts.py) use, pointed at the local
    receivers started by `up`; in cluster they come from the `alerting` secret."""
    smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": layout.smtp_port, "login": "airflow",
            "password": "", "extra": {"disable_tls": True, "disable_ssl": True,
                                      "from_email": "airflow@localplatform.invalid"}}
    base = layout.webhook_base
    return {
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp),
        "AIRFLOW_CONN_SLACK_ALERTS": json.dumps({"conn_type": "slackwebhook", "password": f"{base}/slack"}),
        "AIRFLOW_CONN_DOORAY_ALERTS": json.dumps({"conn_type": "http", "password": f"{base}/dooray"}),
        "ETL_ALERT_EMAIL_TO": "data-platform@localplatform.invalid",
    }


def job_code_env(env: dict[str, str]) -> dict[str, str]:
    """Local Spark tasks import the job code from jobs/ (in cluster it is baked into the images)."""
    paths = [str(REPO_ROOT / "jobs"), env.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p), "SPARK_LOCAL_IP": "127.0.0.1"}


def airflow_env(layout: Layout, shared: settings.SharedSettings) -> dict[str, str]:
    env = airflow.base_env(layout, settings.local_airflow_env(shared, layout, load_secrets(layout)))
    env.update(notifier_env(layout))
    env.update(job_code_env(env))
    return env


def git_sync_service(layout: Layout, shared: settings.SharedSettings, overrides: dict | None = None) -> Service:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITSYNC_")}
    env.update(settings.local_git_sync_env(shared, layout))
    env.update(overrides or {})
    env["PYTHONPATH"] = str(REPO_ROOT)
    return Service("git-sync", [sys.executable, "-m", "tools.localplatform.gitsync"], env=env, cwd=REPO_ROOT)


def wait_for(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def up(layout: Layout | None = None, overlay: Path = settings.DEFAULT_OVERLAY) -> Layout:
    layout = layout or default_layout()
    procs = table(layout)
    running = [n for n in STOP_ORDER if procs.is_running(n)]
    if running:
        if len(running) == len(STOP_ORDER):
            print(f"local platform already up ({layout.run_dir})")
            return layout
        raise RuntimeError(f"partly running ({', '.join(running)}); run `make down` first")
    shared = settings.load_shared(overlay)  # fail before starting anything if manifests are broken
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    creds = load_secrets(layout)

    postgres.init_cluster(layout, creds["db_password"])
    procs.start(postgres.service(layout))
    postgres.wait_ready(layout, creds["db_password"])
    postgres.ensure_database(layout, creds["db_password"])

    gitserver.seed_bare_repo(layout)
    procs.start(gitserver.daemon_service(layout))
    gitserver.wait_port(layout.git_port, "git daemon")

    layout.inbox_dir.mkdir(parents=True, exist_ok=True)
    procs.start(Service("receivers", [sys.executable, "-m", "tools.localplatform.receivers", str(layout.inbox_dir),
                                      str(layout.smtp_port), str(layout.webhook_port)],
                        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT))
    gitserver.wait_port(layout.smtp_port, "SMTP receiver")
    gitserver.wait_port(layout.webhook_port, "webhook receiver")

    procs.start(git_sync_service(layout, shared))
    link = settings.dags_folder(layout, shared.git_sync).parent
    wait_for(link.exists, f"git-sync checkout {link}", timeout=60)

    env = airflow_env(layout, shared)
    layout.airflow_home.mkdir(parents=True, exist_ok=True)
    passwords = layout.secrets_dir / "passwords.json"
    passwords.write_text(json.dumps({ADMIN_USER: creds["admin_password"]}))
    airflow.migrate(layout, env)
    for component in airflow.COMPONENTS:
        procs.start(airflow.component_service(component, layout, env))
    airflow.wait_healthy(layout.api_url)
    return layout


def restart_with(layout: Layout, names: list[str], services: list[Service]) -> None:
    """Replace running services (used by the benchmark to switch settings profiles)."""
    procs = table(layout)
    for name in names:
        procs.stop(name)
    for service in services:
        procs.start(service)


def down(layout: Layout | None = None) -> list[tuple[int, str]]:
    """Stop every service by its process group; return stray processes that had to be killed."""
    layout = layout or default_layout()
    procs = table(layout)
    names = STOP_ORDER + [n for n in procs.names() if n not in STOP_ORDER]
    sessions = {entry[0] for entry in map(procs.read, names) if entry}  # each leader's pid is its session id
    for name in names:
        procs.stop(name)
    return procs.kill_strays(sessions)


def status(layout: Layout | None = None) -> dict[str, bool]:
    layout = layout or default_layout()
    procs = table(layout)
    return {name: procs.is_running(name) for name in STOP_ORDER}
