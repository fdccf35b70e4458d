"""on_failure_callback fires once, after the last retry, never on the retries before it.

A real Airflow run (dag.test against a throw-away SQLite DB, in a subprocess so its config stays
isolated) of a task that always fails with retries=2; our Dooray notifier posts to a local
HTTP server. The retries are made visible by a second notifier on on_retry_callback.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.dags.conftest import DAGS_DIR, REPO
from tests.dags.test_alerts import webhook_server  # noqa: F401 (fixture)

FLAKY_DAG = textwrap.dedent(
    """
    from datetime import datetime, timedelta, timezone

    from airflow.sdk import DAG, task

    from mlops_dags.alerts import DoorayWebhookNotifier

    with DAG(dag_id="always_fails", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

        @task(retries=2, retry_delay=timedelta(seconds=0),
              on_failure_callback=[DoorayWebhookNotifier(bot_name="final")],
              on_retry_callback=[DoorayWebhookNotifier(bot_name="retry")])
        def boom():
            raise RuntimeError("boom")

        boom()

    if __name__ == "__main__":
        dag.test(logical_date=datetime(2026, 11, 27, tzinfo=timezone.utc))
    """
)


@pytest.mark.slow
def test_failure_alert_only_after_the_last_retry(tmp_path, webhook_server):  # noqa: F811
    base, received = webhook_server
    home = tmp_path / "airflow"
    home.mkdir()
    dag_file = tmp_path / "dags" / "always_fails.py"
    dag_file.parent.mkdir()
    dag_file.write_text(FLAKY_DAG)
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_file.parent),
        "PYTHONPATH": os.pathsep.join([str(DAGS_DIR), str(REPO / "jobs")]),
        "AIRFLOW_CONN_DOORAY_ALERTS": json.dumps({"conn_type": "http", "password": f"{base}/hook"}),
    })
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    run = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=600)
    assert "RuntimeError: boom" in run.stdout + run.stderr

    posts = [json.loads(body) for _, _, body in received]
    kinds = [p["botName"] for p in posts]
    assert kinds == ["retry", "retry", "final"], kinds
    final = posts[-1]["text"]
    assert "dag=always_fails task=boom" in final and "try=3" in final and "tasks/boom?try_number=3" in final
