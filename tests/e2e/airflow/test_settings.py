"""The running processes use the cluster manifests' settings; only the documented keys differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.localplatform import platform, settings
from tools.versions import read_versions

pytestmark = pytest.mark.e2e


def process_env(layout, service: str) -> dict[str, str]:
    """The environment the running service was started with (recorded at start; /proc/<pid>/environ
    is no witness: Airflow's setproctitle overwrites that memory)."""
    table = platform.table(layout)
    assert table.is_running(service), f"{service} is not running"
    return table.started_env(service)


@pytest.fixture(scope="module")
def shared():
    return settings.load_shared()


@pytest.mark.parametrize("component", ["api-server", "scheduler", "dag-processor", "triggerer"])
def test_airflow_components_run_with_the_rendered_airflow_config(layout, shared, component):
    env = process_env(layout, f"airflow-{component}")
    assert shared.airflow, "rendered airflow-config ConfigMap is empty"
    differing = {k: (v, env.get(k)) for k, v in shared.airflow.items()
                 if env.get(k) != v and k not in settings.LOCAL_AIRFLOW_OVERRIDES}
    assert differing == {}, f"airflow-{component} drifted from {settings.DEFAULT_OVERLAY}: {differing}"
    for key, value in {**shared.job_images,
                       **{k: v for k, v in shared.etl.items() if k not in settings.LOCAL_ETL_OVERRIDES}}.items():
        assert env.get(key) == value, f"{key} differs from the rendered manifests"
    # The local differences are the explicit ones, and they really are local.
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert "@127.0.0.1:" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(settings.dags_folder(layout, shared.git_sync))
    assert env["ETL_SPARK_MODE"] == "local"


def test_dag_parsing_settings_are_the_clusters(layout, shared):
    """The keys that decide merge -> parsed latency must come from the manifests, never overridden."""
    env = process_env(layout, "airflow-dag-processor")
    for key in ("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"):
        assert key in shared.airflow, f"{settings.DEFAULT_OVERLAY}: airflow-config lacks {key}"
        assert key not in settings.LOCAL_AIRFLOW_OVERRIDES
        assert env[key] == shared.airflow[key]


def test_git_sync_runs_with_the_rendered_git_sync_config(layout, shared):
    env = process_env(layout, "git-sync")
    differing = {k: (v, env.get(k)) for k, v in shared.git_sync.items()
                 if env.get(k) != v and k not in settings.LOCAL_GIT_SYNC_OVERRIDES}
    assert differing == {}, f"git-sync drifted from {settings.DEFAULT_OVERLAY}: {differing}"
    for key in ("GITSYNC_PERIOD", "GITSYNC_REF", "GITSYNC_LINK", "GITSYNC_DEPTH"):
        assert key in shared.git_sync and env[key] == shared.git_sync[key]
    assert env["GITSYNC_REPO"] == layout.git_url
    # The dag folder is what git-sync publishes: <root>/<link>/dags, like /git/repo/dags in the pod.
    link = Path(env["GITSYNC_ROOT"]) / env["GITSYNC_LINK"]
    assert link.is_symlink()


def test_overrides_document_only_keys_that_need_to_differ():
    for key, reason in {**settings.LOCAL_AIRFLOW_OVERRIDES, **settings.LOCAL_GIT_SYNC_OVERRIDES}.items():
        assert reason.strip(), f"override {key} has no reason"
    assert "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL" not in settings.LOCAL_AIRFLOW_OVERRIDES
    assert "GITSYNC_PERIOD" not in settings.LOCAL_GIT_SYNC_OVERRIDES


def test_git_sync_image_tag_matches_the_pinned_version():
    versions = read_versions()
    images = {c["image"] for obj in settings.render_overlay(settings.DEFAULT_OVERLAY)
              for c in _containers(obj) if "/git-sync" in c.get("image", "")}
    assert images, f"{settings.DEFAULT_OVERLAY}: no git-sync container rendered"
    assert images == {f"registry.k8s.io/git-sync/git-sync:{versions['GIT_SYNC_VERSION']}"}


def _containers(obj: dict) -> list[dict]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])
