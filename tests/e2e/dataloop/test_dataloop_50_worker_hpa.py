"""The Spark standalone workers' HPA under a real Spark load: idle at one worker, a bounded
application (a Job in namespace spark running spark-submit against the standalone master: a fixed
number of tasks, each busy for a fixed time) takes the workers' CPU that metrics-server reports
above the target and the HPA adds a worker (whether the master places executors on it is not
asserted);
once the application ends, the HPA removes the worker again, not before its scale-down window
(60 s in `local`, 600 s in dev and prod). CPU and memory per worker are both recorded
(.run/bench/worker-hpa-timeline.json and .png, tests/e2e/dataloop/hpa.py)."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.dataloop.conftest import wait_for
from tests.e2e.dataloop.hpa import HpaSampler

pytestmark = pytest.mark.e2e

NAMESPACE, NAME, MASTER = "spark", "spark-worker", "spark://spark-master.spark.svc.cluster.local:7077"
JOB = "worker-hpa-load"
TASKS, TASK_SECONDS = 16, 25  # the load's bound: about 16 x 25 s of busy cores in all

# Each task keeps one core busy for TASK_SECONDS, then the application stops (no lingering executors).
LOAD_APP = """
import sys, time
from pyspark.sql import SparkSession

tasks, seconds = int(sys.argv[1]), float(sys.argv[2])
spark = SparkSession.builder.appName("worker-hpa-load").getOrCreate()

def busy(i):
    end, n = time.time() + seconds, 0
    while time.time() < end:
        n += 1
    return n

print("loops", sum(spark.sparkContext.parallelize(range(tasks), tasks).map(busy).collect()), flush=True)
spark.stop()
"""


def load_job(image: str) -> list[dict]:
    restricted = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                  "seccompProfile": {"type": "RuntimeDefault"}}
    script = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": JOB, "namespace": NAMESPACE},
              "data": {"load.py": LOAD_APP}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, "namespace": NAMESPACE}, "spec": {
        "backoffLimit": 0, "ttlSecondsAfterFinished": 600, "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "spark-standalone", "app.kubernetes.io/component": JOB}},
            "spec": {
                "restartPolicy": "Never", "enableServiceLinks": False, "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 185, "runAsGroup": 185,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "driver", "image": image,
                    # Client mode: the driver is this pod, so executors connect back to its address.
                    "command": ["/opt/spark/bin/spark-submit", "--master", MASTER,
                                "--conf", "spark.driver.host=$(POD_IP)", "--conf", "spark.driver.bindAddress=0.0.0.0",
                                "--conf", "spark.executor.memory=512m", "--conf", "spark.cores.max=4",
                                "/load/load.py", str(TASKS), str(TASK_SECONDS)],
                    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                    "securityContext": restricted,
                    "resources": {"requests": {"cpu": "10m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                    "volumeMounts": [{"name": "load", "mountPath": "/load"}, {"name": "tmp", "mountPath": "/tmp"}],
                }],
                "volumes": [{"name": "load", "configMap": {"name": JOB}}, {"name": "tmp", "emptyDir": {}}],
            }}}}
    return [script, job]


def job_state(platform) -> dict:
    return json.loads(platform.kubectl("-n", NAMESPACE, "get", "job", JOB, "-o", "json").stdout).get("status", {})


def test_the_spark_workers_hpa_follows_a_spark_application(platform):
    deployment = json.loads(platform.kubectl("-n", NAMESPACE, "get", "deployment", NAME, "-o", "json").stdout)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    platform.kubectl("-n", NAMESPACE, "delete", "job,configmap", JOB, "--ignore-not-found", "--wait=true")
    sampler = HpaSampler(platform, NAMESPACE, NAME)
    try:
        wait_for(lambda: sampler.last().get("replicas") == 1 and sampler.last().get("desired") == 1,
                 f"{NAME} idle at one worker", 600, 5)
        start = sampler.mark("application submitted")
        platform.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(load_job(image)))
        wait_for(lambda: (sampler.last().get("ready") or 0) >= 2, f"{NAME} scaled to two ready workers", 420, 5)
        sampler.mark("second worker ready")
        state = wait_for(lambda: (s := job_state(platform)) and (s.get("succeeded") or s.get("failed")) and s,
                         f"Job {JOB} finished", 900, 5)
        logs = platform.kubectl("-n", NAMESPACE, "logs", f"job/{JOB}", "--tail=20", check=False).stdout
        assert state.get("succeeded") == 1, f"the load application failed: {state}\n{logs}"
        ended = sampler.mark("application ended")
        wait_for(lambda: sampler.last().get("replicas") == 1, f"{NAME} back to one worker", sampler.window + 420, 5)
        down = sampler.mark("scaled down")
    finally:
        record = sampler.keep("worker-hpa-timeline")
        platform.kubectl("-n", NAMESPACE, "delete", "job,configmap", JOB, "--ignore-not-found", "--wait=false", check=False)
    samples = record["samples"]
    up = next(s for s in samples if (s["replicas"] or 0) >= 2 and s["t"] >= start)
    assert any((s["cpu_millicores"] or 0) > sampler.target("cpu") for s in samples if start <= s["t"] <= up["t"]), \
        "the HPA added a worker without the CPU metric going above its target"
    assert all(s["memory_bytes"] for s in samples[-3:]), "metrics-server reported no memory for the workers"
    assert down - ended >= sampler.window, \
        f"scaled down {down - ended:.0f}s after the application ended, inside the {sampler.window}s window"
