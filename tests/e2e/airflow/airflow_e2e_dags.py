"""Source text of the DAGs the e2e tests push to the local DAG repo (as a developer would merge them)."""

HELLO = '''
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False, tags=["e2e"])
def hello():
    @task
    def say_hello() -> str:
        return "hello from {dag_id}"

    say_hello()


hello()
'''

# A module that fails at import: the dag-processor must report it and keep the other files.
BROKEN = '''
from airflow.sdk import dag
import module_that_does_not_exist_{token}  # the import error the test expects
'''

# Fails on every try; the repo's notifiers (dags/mlops_dags/alerts.py) fire once, after the last retry.
FAILING = '''
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from mlops_dags.alerts import failure_notifiers


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False, tags=["e2e"],
     default_args={{"retries": 1, "retry_delay": timedelta(seconds=1),
                   "on_failure_callback": failure_notifiers("{email_to}")}})
def failing():
    @task
    def always_fails():
        raise RuntimeError("deliberate failure for the alert test")

    always_fails()


failing()
'''
