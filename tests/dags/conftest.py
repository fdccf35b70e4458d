"""DAG tests: the dags/ folder on sys.path (as in every Airflow process) and a DagBag per mode."""
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
if str(DAGS_DIR) not in sys.path:
    sys.path.insert(0, str(DAGS_DIR))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

DAG_IDS = {"events_features", "seattle_weather"}


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


def load_dagbag(mode: str, **extra):
    from airflow.dag_processing.dagbag import DagBag

    with env(ETL_SPARK_MODE=mode, **extra):
        return DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)


@pytest.fixture(scope="module", params=["local", "kubernetes"])
def dagbag(request):
    return load_dagbag(request.param)
