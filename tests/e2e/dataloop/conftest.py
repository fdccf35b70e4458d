"""The data loop on Kubernetes: `make e2e-dataloop` runs these files in name order on the running
local platform (`make e2e`, inside e2e-cluster, runs the alert and HPA files only). Raw events go
into the in-cluster object storage through its S3 API; `events_features` is triggered through
Airflow's REST API; what the API server saw (task pods, Spark driver and executor pods) and what
landed in the bucket are asserted.

Each pod's times are the API server's: creationTimestamp, and the deletionTimestamp carried by the
watch's DELETED event (`kubectl get pods --watch`), never the time a poll happened to notice."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.e2e.platform_e2e import running_platform, wait_for
from tools.localplatform.airflow import AirflowClient
from tools.platform.platform import Platform

DAG_ID = "events_features"
DAY = date(2026, 11, 15)
# Enough rows that the features step has a backlog for dynamic allocation to add executors.
ROWS = 60_000
BUCKET = "mlops-dev-data"  # ETL_DATA_ROOT of the dev overlay, which local syncs
SEED = 11


def parse_time(stamp: str | None) -> float | None:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() if stamp else None


class PodWatch:
    """Every pod of a namespace as the API server reports it, from a `kubectl get pods --watch`
    started before the work: name, labels, annotations, creation and deletion times, phases seen."""

    def __init__(self, platform: Platform, namespace: str):
        self.namespace = namespace
        self.pods: dict[str, dict] = {}  # by uid
        self.restarts = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._cmd = [str(platform.k8s.kubectl_bin), f"--kubeconfig={platform.k8s.layout.kubeconfig}", "-n", namespace,
                     "get", "pods", "--watch", "--output-watch-events", "-o", "json"]
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name=f"pods-{namespace}", daemon=True)
        self._thread.start()

    def _record(self, event: dict) -> None:
        pod = event.get("object") or {}
        meta = pod.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        with self._lock:
            entry = self.pods.setdefault(uid, {"name": meta.get("name"), "created": parse_time(meta.get("creationTimestamp")),
                                               "deleted": None, "phases": []})
            entry["labels"] = meta.get("labels") or {}
            entry["annotations"] = meta.get("annotations") or {}
            # The commit a task pod's one-time git-sync fetches (mlops_dags.dag_version pins it).
            for init in (pod.get("spec") or {}).get("initContainers") or []:
                if init.get("name") == "git-sync-init":
                    entry["git_sync_ref"] = next((e.get("value") for e in init.get("env") or []
                                                  if e.get("name") == "GITSYNC_REF"), None)
            phase = (pod.get("status") or {}).get("phase")
            if phase and (not entry["phases"] or entry["phases"][-1] != phase):
                entry["phases"].append(phase)
            started = [c["state"]["running"].get("startedAt") for c in (pod.get("status") or {}).get("containerStatuses") or []
                       if "running" in (c.get("state") or {})]
            if started and not entry.get("running"):
                entry["running"] = parse_time(min(started))
            if event.get("type") == "DELETED":
                entry["deleted"] = parse_time(meta.get("deletionTimestamp")) or time.time()
                entry["gone"] = True

    def _run(self) -> None:
        decoder = json.JSONDecoder()
        while not self._stopped.is_set():
            self._proc = subprocess.Popen(self._cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            buffer = ""
            fd = self._proc.stdout.fileno()
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buffer += chunk.decode(errors="replace")
                while True:
                    buffer = buffer.lstrip()
                    try:
                        event, end = decoder.raw_decode(buffer)
                    except json.JSONDecodeError:
                        break
                    buffer = buffer[end:]
                    self._record(event)
            self._proc.wait()
            if not self._stopped.is_set():
                self.restarts += 1  # the watch ended (server timeout): list and watch again
                time.sleep(0.5)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [dict(p) for p in self.pods.values()]

    def stop(self) -> list[dict]:
        self._stopped.set()
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
        self._thread.join(timeout=10)
        return self.snapshot()


def peak(intervals: list[tuple[float, float]]) -> int:
    """Most intervals [start, end) alive at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    alive = best = 0
    for _, step in events:
        alive += step
        best = max(best, alive)
    return best


class ObjectStore:
    """The in-cluster S3 server, from the host: Arrow's S3 client (SigV4, path-style) through a
    forwarder to the Service, with the root keys the local Secure Key Manager holds."""

    def __init__(self, platform: Platform):
        from pyarrow import fs

        secrets = json.loads(platform.skm_store.read_text())["secrets"]
        port = platform.service_port("object-storage", "object-storage", 7070)
        # SigV4 signs for a region: the one the server is configured with (its VGW_REGION).
        server = json.loads(platform.kubectl("-n", "object-storage", "get", "statefulset", "object-storage",
                                             "-o", "json").stdout)
        env = {e["name"]: e.get("value") for c in server["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
        self.fs = fs.S3FileSystem(access_key=secrets["object-storage-access-key"],
                                  secret_key=secrets["object-storage-secret-key"],
                                  endpoint_override=f"127.0.0.1:{port}", scheme="http", region=env["VGW_REGION"])
        self._fs_module = fs

    @staticmethod
    def key(uri: str) -> str:
        return uri.removeprefix("s3a://").removeprefix("s3://")

    def put(self, uri: str, data: bytes) -> None:
        with self.fs.open_output_stream(self.key(uri)) as out:
            out.write(data)

    def get(self, uri: str) -> bytes:
        with self.fs.open_input_stream(self.key(uri)) as src:
            return src.read()

    def list(self, uri: str) -> list[str]:
        selector = self._fs_module.FileSelector(self.key(uri), recursive=True, allow_not_found=True)
        return sorted(i.path for i in self.fs.get_file_info(selector) if i.type == self._fs_module.FileType.File)

    def remove(self, uri: str) -> None:
        """Delete an object, or everything under a prefix; nothing there is fine."""
        fs, kinds = self.fs, self._fs_module.FileType
        info = fs.get_file_info(self.key(uri))
        if info.type == kinds.File:
            fs.delete_file(self.key(uri))
        elif info.type == kinds.Directory:
            # Files first, then the folders deepest first: the server keeps folders as objects and
            # refuses to delete one that is not empty, which a single batch delete may try first.
            below = fs.get_file_info(self._fs_module.FileSelector(self.key(uri), recursive=True))
            for item in below:
                if item.type == kinds.File:
                    fs.delete_file(item.path)
            for folder in sorted((i.path for i in below if i.type == kinds.Directory), key=len, reverse=True):
                fs.delete_dir(folder)

    def download(self, uri: str, target: Path, suffix: str) -> list[Path]:
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for key in self.list(uri):
            if key.endswith(suffix):
                path = target / key.rsplit("/", 1)[1]
                path.write_bytes(self.get(key))
                paths.append(path)
        return paths


def airflow_client(platform: Platform) -> AirflowClient:
    port = platform.service_port("airflow", "airflow-api-server", 8080)
    data = platform.kubectl("-n", "airflow", "get", "secret", "airflow-ui-passwords", "-o",
                            "jsonpath={.data.passwords\\.json}").stdout
    password = json.loads(base64.b64decode(data))["admin"]
    return AirflowClient(f"http://127.0.0.1:{port}", "admin", password)


@pytest.fixture(scope="session")
def platform() -> Platform:
    return running_platform("e2e-dataloop")


@pytest.fixture(scope="session")
def store(platform) -> ObjectStore:
    return ObjectStore(platform)


@pytest.fixture(scope="session")
def airflow(platform) -> AirflowClient:
    return airflow_client(platform)


@pytest.fixture(scope="session")
def watches(platform):
    """Pod watches of the task pods' and the Spark applications' namespaces for the whole suite."""
    started = {ns: PodWatch(platform, ns) for ns in ("airflow", "spark-jobs")}
    time.sleep(2)  # the initial list arrives before any work starts
    yield started
    for watch in started.values():
        watch.stop()


def input_partitions(platform: Platform) -> int:
    """How many raw files per date the DAG plans for (ETL_INPUT_PARTITIONS of ConfigMap airflow-etl)."""
    value = platform.kubectl("-n", "airflow", "get", "configmap", "airflow-etl", "-o",
                             "jsonpath={.data.ETL_INPUT_PARTITIONS}").stdout.strip()
    return int(value or 4)


def day_outputs(day: date) -> list[str]:
    """Every object prefix the events pipeline writes for `day` (the pointers included)."""
    d = f"dt={day.isoformat()}"
    return [f"{BUCKET}/staged/events/{d}", f"{BUCKET}/quarantine/events/{d}", f"{BUCKET}/features/user_daily/{d}",
            f"{BUCKET}/features/user_daily/_versions/{d}",
            f"{BUCKET}/features/user_daily/_pointers/{d}.json", f"{BUCKET}/manifests/user_daily/{d}.json"]


def task_pods(pods: list[dict], run_id: str, dag_id: str = DAG_ID) -> list[dict]:
    """The KubernetesExecutor's worker pods of one DAG run (its annotations carry the exact ids)."""
    return [p for p in pods if p["annotations"].get("dag_id") == dag_id and p["annotations"].get("run_id") == run_id]


def run_to_end(airflow: AirflowClient, watches: dict, run_id: str, timeout: float = 1500) -> dict:
    """Wait for the run's end, then until none of its pods (task pods, Spark drivers and executors)
    is left; returns what was seen."""
    started = time.monotonic()
    state = airflow.wait_run(DAG_ID, run_id, timeout=timeout)
    seconds = time.monotonic() - started

    def nothing_left():
        alive = [p["name"] for p in task_pods(watches["airflow"].snapshot(), run_id) if not p.get("gone")]
        alive += [p["name"] for p in watches["spark-jobs"].snapshot() if not p.get("gone")]
        return not alive or None

    tis = airflow.task_instances(DAG_ID, run_id)
    if state == "success":
        wait_for(nothing_left, f"no pod of {run_id} left", 300)
    return {"run_id": run_id, "state": state, "seconds": seconds, "task_instances": tis}


def unpause_without_a_scheduled_run(airflow: AirflowClient, dag_id: str) -> list[str]:
    """Unpausing a daily DAG makes the scheduler start the run of the latest interval (today's, whose
    raw data does not exist here), and with max_active_runs=1 a triggered run waits behind it. Wait
    for that run and mark it failed: it then exists (the scheduler does not make it again, as it
    would if it were deleted) and no longer holds the DAG's one active run. Returns the run ids
    marked failed."""
    airflow.unpause(dag_id)

    def scheduled_runs():
        return [r for r in airflow.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"] if r["run_type"] == "scheduled"]

    failed = []
    for run in wait_for(scheduled_runs, f"the scheduler's run of {dag_id}'s latest interval", 180):
        if run["state"] not in ("success", "failed"):
            airflow.request("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}",
                            json={"state": "failed"}).raise_for_status()
            failed.append(run["dag_run_id"])
    return failed


def delete_task_pods(platform: Platform, watch: PodWatch, run_ids: list[str]) -> list[str]:
    """A task pod of a run we failed on purpose ends in Error and is kept for its logs
    (DELETE_WORKER_PODS_ON_FAILURE=False): there are none worth keeping, so delete them."""
    names = [p["name"] for p in watch.snapshot() if p["annotations"].get("run_id") in run_ids and not p.get("gone")]
    if names:
        platform.kubectl("-n", "airflow", "delete", "pod", *names, "--ignore-not-found", "--wait=false")
    return names


@pytest.fixture(scope="session")
def first_run(platform, store, airflow, watches, tmp_path_factory) -> dict:
    """Raw events of DAY into the bucket, then one `events_features` run for that logical date."""
    from etl.generate import generate_day
    from etl.layout import EventsLayout

    layout = EventsLayout(f"s3a://{BUCKET}")
    raw = tmp_path_factory.mktemp("raw")
    for prefix in [f"{BUCKET}/raw/events/dt={DAY.isoformat()}", *day_outputs(DAY)]:
        store.remove(prefix)  # a suite re-run on the same platform starts from nothing too
    # So do the Spark pods: a failed application keeps its driver until its TTL (an hour).
    platform.kubectl("-n", "spark-jobs", "delete", "sparkapplications", "--all", "--wait=true")
    parts = generate_day(raw, DAY, ROWS, partitions=input_partitions(platform), seed=SEED)
    for part in parts:
        store.put(layout.raw_file(DAY, part.path.stem.removeprefix("part-")), part.path.read_bytes())
    wait_for(lambda: airflow.has_dag(DAG_ID), f"DAG {DAG_ID} parsed by Airflow", 300)
    # An earlier run of DAY (a suite re-run on the same platform) would hold the logical date and,
    # with max_active_runs=1, the new run's turn.
    logical_date = f"{DAY.isoformat()}T00:00:00Z"
    airflow.delete_runs(DAG_ID, logical_date)
    failed_on_purpose = unpause_without_a_scheduled_run(airflow, DAG_ID)
    run_id = airflow.trigger(DAG_ID, logical_date=logical_date)
    try:
        run = run_to_end(airflow, watches, run_id)
    except BaseException:
        # Stop the run's tasks, so a broken fixture does not leave Spark work behind that the
        # later tests of the suite (alerts, both HPAs) would share the node with.
        airflow.request("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": "failed"})
        raise
    finally:
        delete_task_pods(platform, watches["airflow"], failed_on_purpose)
    run.update(raw_files=sorted(str(p.path) for p in parts), layout=layout)
    assert run["state"] == "success", f"{DAG_ID} run {run_id}: {run['state']}; tasks: " + ", ".join(
        f"{t['task_id']}[{t.get('map_index')}]={t['state']}" for t in run["task_instances"])
    return run


def features_rows(store: ObjectStore, target: Path, columns: list[str]) -> tuple[str, list[dict]]:
    """The committed feature partition of DAY (its pointer resolved): (location, rows by user_id)."""
    from tests.jobs.oracle import parquet_rows

    pointer = json.loads(store.get(f"{BUCKET}/features/user_daily/_pointers/dt={DAY.isoformat()}.json"))
    files = store.download(pointer["location"], target, ".parquet")
    assert files, f"no Parquet file under {pointer['location']}"
    return pointer["location"], parquet_rows(f"{target}/*.parquet", columns)


__all__ = ["BUCKET", "DAG_ID", "DAY", "ROWS", "SEED", "ObjectStore", "PodWatch", "features_rows", "peak",
           "run_to_end", "task_pods", "wait_for"]
