"""The web UI in a real browser (Debian Chromium via Playwright): login, DAG list, last run succeeded."""

from __future__ import annotations

import pytest

from tools.localplatform import platform, ui

pytestmark = pytest.mark.e2e


def test_ui_login_dag_list_and_last_run_succeeded(api, layout, hello_dag_run):
    dag_id, run_id = hello_dag_run
    shot = layout.run_dir / "screenshots" / "airflow-ui.png"
    shot.unlink(missing_ok=True)
    repo_dags = tuple(sorted(api.dag_ids() - {dag_id}))  # the repo's own DAGs, seeded from dags/
    result = ui.check_ui(layout.api_url, *platform.admin_login(layout), dag_id, run_id, shot,
                         listed_dag_ids=repo_dags)
    assert result.listed == {d: True for d in (dag_id, *repo_dags)}
    assert result.run_state_text == "success"
    assert shot.stat().st_size > 10_000  # a real rendered page, not an empty canvas


def test_ui_rejects_a_wrong_password(layout, hello_dag_run):
    dag_id, run_id = hello_dag_run
    with pytest.raises(ui.UiError, match="login as 'admin'"):
        ui.check_ui(layout.api_url, "admin", "not-the-password", dag_id, run_id,
                    layout.run_dir / "screenshots" / "wrong-password.png", timeout_ms=15_000)
