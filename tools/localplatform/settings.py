"""Airflow and git-sync settings for the local platform, read from the RENDERED cluster manifests.

The cluster gets its settings from kustomize-generated ConfigMaps (`airflow-config`,
`airflow-git-sync`, `airflow-job-images`). The local platform renders the same overlay and uses every
value verbatim, except the keys in LOCAL_AIRFLOW_OVERRIDES / LOCAL_GIT_SYNC_OVERRIDES: those name
things that differ by nature on one machine (database URL, executor, paths, ports, secrets).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from .layout import REPO_ROOT, Layout

DEFAULT_OVERLAY = Path(os.environ.get("LOCALPLATFORM_OVERLAY", REPO_ROOT / "apps" / "airflow" / "overlays" / "dev"))

AIRFLOW_CONFIGMAP = "airflow-config"
GIT_SYNC_CONFIGMAP = "airflow-git-sync"
JOB_IMAGES_CONFIGMAP = "airflow-job-images"
ETL_CONFIGMAP = "airflow-etl"

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"

# key -> why it differs locally. Values are filled in by `local_airflow_env`.
LOCAL_AIRFLOW_OVERRIDES = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "local PostgreSQL on loopback instead of the cluster DB secret",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor: no Kubernetes API to launch pods on",
    "AIRFLOW__CORE__DAGS_FOLDER": "git-sync root is under .run/ instead of the pod volume /git",
    "AIRFLOW__CORE__FERNET_KEY": "generated per local run (cluster: ExternalSecret airflow-fernet-key)",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "api-server on a loopback port instead of the Service",
    "AIRFLOW__CORE__AUTH_MANAGER": "the simple auth manager with a local admin: no IdP here (the FAB login "
                                   "through Keycloak is tests/e2e/idp/test_airflow_login.py)",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "local admin password file under .run/",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "local admin user for the UI and REST API",
    "AIRFLOW__API__HOST": "loopback only",
    "AIRFLOW__API__PORT": "a free loopback port",
    "AIRFLOW__API__BASE_URL": "loopback URL (cluster: the Ingress host)",
    "AIRFLOW__API_AUTH__JWT_SECRET": "generated per local run (cluster: ExternalSecret airflow-api-secret)",
    "AIRFLOW__API__SECRET_KEY": "generated per local run (cluster: ExternalSecret airflow-api-secret)",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": "task logs under .run/",
    "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": "dag-processor logs under .run/",
    "AIRFLOW__LOGGING__REMOTE_LOGGING": "no object storage locally; logs stay on disk",
    "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "no object storage locally",
    "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "no object storage locally",
    "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": "no Kubernetes locally",
    "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": "no Kubernetes locally",
    "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_REPOSITORY": "no Kubernetes locally",
    "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG": "no Kubernetes locally",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "never load Airflow's examples locally either",
    "AIRFLOW__METRICS__STATSD_HOST": "no StatsD exporter locally: metrics go to loopback UDP and are dropped",
    "AIRFLOW__SMTP__SMTP_HOST": "local SMTP receiver",
    "AIRFLOW__SMTP__SMTP_PORT": "local SMTP receiver",
    "AIRFLOW__SMTP__SMTP_STARTTLS": "local SMTP receiver speaks plain SMTP",
    "AIRFLOW__SMTP__SMTP_SSL": "local SMTP receiver speaks plain SMTP",
}

LOCAL_ETL_OVERRIDES = {
    "ETL_SPARK_MODE": "Spark runs in-process (local[*]) instead of SparkApplications",
    "ETL_DATA_ROOT": "local directory under .run/ instead of the object storage bucket",
    "ETL_EVENT_LOG_DIR": "local directory under .run/ instead of the object storage bucket",
    "ETL_ALERT_EMAIL_TO": "a local address; the mail lands in the local SMTP receiver's inbox",
}

LOCAL_GIT_SYNC_OVERRIDES = {
    "GITSYNC_REPO": "local bare repo served by git daemon on loopback (cluster: GitHub over SSH)",
    "GITSYNC_ROOT": "under .run/ instead of the pod volume /git",
    "GITSYNC_SSH": "plain git:// locally, no SSH key",
    "GITSYNC_SSH_KEY_FILE": "plain git:// locally, no SSH key",
    "GITSYNC_SSH_KNOWN_HOSTS": "plain git:// locally, no SSH key",
    "GITSYNC_SSH_KNOWN_HOSTS_FILE": "plain git:// locally, no SSH key",
    "GITSYNC_HTTP_BIND": "no metrics endpoint locally",
    "GITSYNC_HTTP_METRICS": "no metrics endpoint locally",
}


class ManifestError(RuntimeError):
    """The rendered overlay lacks what the local platform needs; names the overlay and object."""


@dataclass(frozen=True)
class SharedSettings:
    airflow: dict[str, str]    # data of ConfigMap airflow-config
    git_sync: dict[str, str]   # data of ConfigMap airflow-git-sync
    job_images: dict[str, str]  # data of ConfigMap airflow-job-images (may be empty)
    etl: dict[str, str]         # data of ConfigMap airflow-etl (may be empty)
    overlay: Path


def render_overlay(overlay: Path) -> list[dict]:
    """kustomize build of `overlay`: the static gate's renderer when its kustomize is built."""
    try:
        from tools.gate import paths as gate_paths
        from tools.gate.render import render

        if Path(gate_paths.tool("kustomize")).exists():
            return render(overlay)
    except (ImportError, AttributeError, FileNotFoundError):
        pass
    kubectl = shutil.which("kubectl") or str(REPO_ROOT / ".venv" / "bin" / "kubectl")
    proc = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ManifestError(f"{overlay}: kustomize build failed: {proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _configmap(objects: list[dict], name: str, overlay: Path, required: bool = True) -> dict[str, str]:
    for obj in objects:
        rendered = obj.get("metadata", {}).get("name", "")
        # A generator may append a content hash ("<name>-<10 chars>") unless disabled.
        if obj.get("kind") == "ConfigMap" and (rendered == name or re.fullmatch(rf"{re.escape(name)}-[a-z0-9]{{10}}", rendered)):
            return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    if required:
        raise ManifestError(f"{overlay}: rendered output has no ConfigMap '{name}' "
                            f"(the local platform reads Airflow settings from it)")
    return {}


def load_shared(overlay: Path = DEFAULT_OVERLAY) -> SharedSettings:
    objects = render_overlay(overlay)
    return SharedSettings(
        airflow=_configmap(objects, AIRFLOW_CONFIGMAP, overlay),
        git_sync=_configmap(objects, GIT_SYNC_CONFIGMAP, overlay),
        job_images=_configmap(objects, JOB_IMAGES_CONFIGMAP, overlay, required=False),
        etl=_configmap(objects, ETL_CONFIGMAP, overlay, required=False),
        overlay=overlay,
    )


def dags_folder(layout: Layout, git_sync: dict[str, str]) -> Path:
    """Where git-sync's link points locally: <root>/<GITSYNC_LINK>/dags, like /git/repo/dags."""
    return layout.git_sync_root / git_sync.get("GITSYNC_LINK", "repo") / "dags"


def local_airflow_env(shared: SharedSettings, layout: Layout, secrets: dict[str, str]) -> dict[str, str]:
    """Environment for every Airflow component: shared values verbatim + the local overrides."""
    env = {k: v for k, v in shared.airflow.items() if k not in LOCAL_AIRFLOW_OVERRIDES}
    env.update(shared.job_images)
    env.update({k: v for k, v in shared.etl.items() if k not in LOCAL_ETL_OVERRIDES})
    env.update({
        "ETL_SPARK_MODE": "local",
        "ETL_DATA_ROOT": str(layout.run_dir / "data"),
        "ETL_EVENT_LOG_DIR": str(layout.run_dir / "spark-events"),
    })
    local = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://airflow:{secrets['db_password']}@127.0.0.1:{layout.postgres_port}/airflow"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder(layout, shared.git_sync)),
        "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{layout.api_url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(layout.secrets_dir / "passwords.json"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(layout.api_port),
        "AIRFLOW__API__BASE_URL": layout.api_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": secrets["api_secret_key"],
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(layout.airflow_home / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(layout.airflow_home / "logs" / "dag_processor"),
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "False",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__SMTP__SMTP_HOST": "127.0.0.1",
        "AIRFLOW__SMTP__SMTP_PORT": str(layout.smtp_port),
        "AIRFLOW__SMTP__SMTP_STARTTLS": "False",
        "AIRFLOW__SMTP__SMTP_SSL": "False",
    }
    env.update(local)
    return env


def local_git_sync_env(shared: SharedSettings, layout: Layout) -> dict[str, str]:
    env = {k: v for k, v in shared.git_sync.items() if k not in LOCAL_GIT_SYNC_OVERRIDES}
    env["GITSYNC_REPO"] = layout.git_url
    env["GITSYNC_ROOT"] = str(layout.git_sync_root)
    return env
