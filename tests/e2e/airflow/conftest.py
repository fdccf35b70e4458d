"""Fixtures for the live Airflow loop: one local platform for the session (started if not up)."""

from __future__ import annotations

import secrets

import pytest
from airflow_e2e_dags import HELLO
from airflow_e2e_util import PARSE_TIMEOUT, wait_until

from tools.localplatform import gitserver, platform
from tools.localplatform.layout import default_layout


@pytest.fixture(scope="session")
def layout():
    layout = default_layout()
    started_here = not all(platform.status(layout).values())
    if started_here:
        platform.down(layout)  # clear a half-started platform before starting a fresh one
        platform.up(layout)
    yield layout
    if started_here and any(platform.status(layout).values()):
        platform.down(layout)


@pytest.fixture(scope="session")
def api(layout):
    return platform.client(layout)


@pytest.fixture(scope="session")
def token():
    """Unique suffix so DAG ids never collide with an earlier session on the same platform."""
    return secrets.token_hex(3)


@pytest.fixture(scope="session")
def clone(layout, tmp_path_factory):
    return gitserver.Clone(layout.git_url, tmp_path_factory.mktemp("dev-clone") / "repo")


@pytest.fixture(scope="session")
def hello_dag(api, clone, token):
    """A DAG merged to the repo during this session, parsed and unpaused."""
    dag_id = f"e2e_hello_{token}"
    clone.push_file(f"dags/{dag_id}.py", HELLO.format(dag_id=dag_id), f"add {dag_id}")
    wait_until(lambda: api.has_dag(dag_id), f"{dag_id} in /api/v2/dags", PARSE_TIMEOUT)
    api.unpause(dag_id)
    return dag_id


@pytest.fixture(scope="session")
def hello_dag_run(api, hello_dag):
    run_id = api.trigger(hello_dag)
    assert api.wait_run(hello_dag, run_id) == "success"
    return hello_dag, run_id
