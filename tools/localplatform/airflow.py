"""Airflow 3 components as separate processes (not `airflow standalone`), and its REST API client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from .layout import Layout
from .procs import Service

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def base_env(layout: Layout, airflow_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(airflow_env)
    env["AIRFLOW_HOME"] = str(layout.airflow_home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def migrate(layout: Layout, env: dict[str, str]) -> None:
    proc = subprocess.run([airflow_bin(), "db", "migrate"], env=env, cwd=layout.run_dir,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def component_service(name: str, layout: Layout, env: dict[str, str]) -> Service:
    return Service(f"airflow-{name}", [airflow_bin(), name], env=env, cwd=layout.run_dir)


class AirflowClient:
    """The public REST API (`/api/v2`), authenticated with a bearer token from `POST /auth/token`."""

    TIMEOUT = 30.0  # seconds per request

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            resp = requests.post(f"{self.base_url}/auth/token", timeout=self.TIMEOUT,
                                 json={"username": self.username, "password": self.password})
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        for attempt in range(3):
            try:
                return requests.request(method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=self.TIMEOUT, **kwargs)
            except (requests.ConnectionError, requests.Timeout):
                # Behind a Service, a request can land on an API server replica the HPA is removing
                # (connection reset), or wait out its timeout while Spark pods hold both cores (seen
                # on the local cluster); a read is safe to send again, a write is not.
                if method != "GET" or attempt == 2:
                    raise
                time.sleep(2)
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        resp = self._send(method, path, **kwargs)
        if resp.status_code == 401:  # token expired: fetch a new one once
            self._token = None
            resp = self._send(method, path, **kwargs)
        return resp

    def get(self, path: str, **params) -> dict:
        resp = self.request("GET", path, params=params)
        resp.raise_for_status()
        return resp.json()

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.get("/dags", limit=1000)["dags"]}

    def has_dag(self, dag_id: str) -> bool:
        return self.request("GET", f"/dags/{dag_id}").status_code == 200

    def import_errors(self) -> list[dict]:
        return self.get("/importErrors", limit=1000)["import_errors"]

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None) -> str:
        """A manual run; `logical_date` (ISO 8601, e.g. 2026-11-15T00:00:00Z) sets its `ds`."""
        resp = self.request("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf or {}})
        resp.raise_for_status()
        return resp.json()["dag_run_id"]

    def delete_runs(self, dag_id: str, logical_date: str | None = None, run_type: str | None = None) -> list[str]:
        """Remove the runs of `dag_id` for that logical date (ISO 8601) and/or of that run type
        (scheduled, manual, ...): a running one is marked failed first, so its tasks stop. Returns
        the run ids removed."""
        query = {"logical_date_gte": logical_date, "logical_date_lte": logical_date} if logical_date else {}
        runs = [run for run in self.get(f"/dags/{dag_id}/dagRuns", limit=100, **query)["dag_runs"]
                if run_type is None or run["run_type"] == run_type]
        for run in runs:
            path = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}"
            if run["state"] not in ("success", "failed"):
                self.request("PATCH", path, json={"state": "failed"}).raise_for_status()
            self.request("DELETE", path).raise_for_status()
        return [run["dag_run_id"] for run in runs]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240.0) -> str:
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(1.0)
        raise TimeoutError(f"DAG run {dag_id}/{run_id} still '{state}' after {timeout:.0f}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]


def wait_healthy(base_url: str, timeout: float = 240.0) -> dict:
    """Wait until the api-server answers and reports DB, scheduler, triggerer, dag-processor healthy."""
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while time.monotonic() < deadline:
        try:
            health = requests.get(f"{base_url}/api/v2/monitor/health", timeout=5).json()
            last = health
            if all(health.get(part, {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                return health
        except (requests.RequestException, ValueError) as err:
            last = err
        time.sleep(2.0)
    raise TimeoutError(f"Airflow at {base_url} not healthy after {timeout:.0f}s; last answer: {last}")
