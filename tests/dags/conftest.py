"""DAG tests: the dags/ folder on sys.path (as in every Airflow process) and a DagBag per mode."""
import atexit
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
if str(DAGS_DIR) not in sys.path:
    sys.path.insert(0, str(DAGS_DIR))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# The first import of the Kubernetes provider takes several seconds; on a busy 2-core machine more
# than the 30 s default, which shows up as a missing DAG rather than a slow one.
os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "180")
# Airflow creates AIRFLOW_HOME (default ~/airflow, with an airflow.cfg) when it is first imported,
# which happens while these modules are collected: give this test process a throw-away home
# instead, unless the caller chose one.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-tests-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

# One DAG per top-level file, dag_id = file name (the convention `make new-dag` follows).
DAG_IDS = {path.stem for path in DAGS_DIR.glob("*.py")}


@contextmanager
def env(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_dagbag(mode: str, dag_folder: Path = DAGS_DIR, **extra):
    """DagBag of `dag_folder` (the DAG folder or one file) with ETL_SPARK_MODE=mode."""
    from airflow.dag_processing.dagbag import DagBag

    with env(ETL_SPARK_MODE=mode, **extra):
        return DagBag(dag_folder=str(dag_folder), safe_mode=False)


@pytest.fixture(scope="module", params=["local", "kubernetes"])
def dagbag(request):
    return load_dagbag(request.param)
