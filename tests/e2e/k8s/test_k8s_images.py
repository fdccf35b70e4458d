"""Each image `make images` built runs as a pod under the `restricted` Pod Security level and
carries exactly the versions of requirements.lock; admission refuses a privileged pod."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.k8s.conftest import image_records, lock_versions, restricted_pod
from tools.k8s import layout as L

pytestmark = pytest.mark.e2e

# Printed by the pod as one JSON line: installed distributions, and what `import` finds.
REPORT = """
import importlib.metadata as md, json, sys
names = sys.argv[1].split(",")
report = {"dists": {n: md.version(n) for n in names}}
import etl
report["etl"] = etl.__file__
import pyspark
report["pyspark"] = pyspark.__version__
"""
AIRFLOW_EXTRA = """
import airflow
report["airflow"] = airflow.__version__
print(json.dumps(report))
"""
# The JVM side of Spark (not only the Python package) and the S3A filesystem on its class path.
SPARK_EXTRA = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
report["jvm_spark"] = spark.version
report["s3a"] = spark._jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem").getName()
spark.stop()
print(json.dumps(report))
"""
AIRFLOW_DISTS = ("apache-airflow", "apache-airflow-providers-cncf-kubernetes", "apache-airflow-providers-apache-spark",
                 "apache-airflow-providers-smtp", "apache-airflow-providers-slack", "apache-airflow-providers-http",
                 "apache-airflow-providers-postgres", "apache-airflow-providers-standard", "pyspark", "pyspark-client")
SPARK_DISTS = ("numpy", "pandas", "pyarrow", "vega-datasets")


def _run_report(namespace, image: str, python: str, script: str, dists: tuple[str, ...], memory: str) -> dict:
    ns = namespace("images")
    ns.apply(restricted_pod("check", image, [python, "-c", script, ",".join(dists)], memory=memory))
    pod = ns.wait_pod_phase("check", {"Succeeded", "Failed"}, timeout=420)
    logs = ns.logs("check")
    assert pod["status"]["phase"] == "Succeeded", logs[-3000:]
    return json.loads(logs.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def jobs_images():
    records = image_records("jobs")
    assert {"airflow", "spark-etl"} <= set(records), f"make images did not record both job images: {records}"
    return records


def test_airflow_image_runs_restricted_with_locked_versions(namespace, jobs_images):
    record = jobs_images["airflow"]
    report = _run_report(namespace, f"{record['image']}@{record['digest']}", "python", REPORT + AIRFLOW_EXTRA,
                         AIRFLOW_DISTS, "768Mi")
    assert report["dists"] == lock_versions(*AIRFLOW_DISTS)
    assert report["airflow"] == report["dists"]["apache-airflow"]
    # pyspark-client (pulled by the Spark provider) must not have overwritten pyspark's files.
    assert report["pyspark"] == report["dists"]["pyspark"] == report["dists"]["pyspark-client"]
    assert report["etl"].startswith("/opt/etl/etl/")


def test_spark_image_runs_restricted_with_one_spark_version_and_s3a(namespace, jobs_images):
    record = jobs_images["spark-etl"]
    report = _run_report(namespace, f"{record['image']}@{record['digest']}", "python3", REPORT + SPARK_EXTRA,
                         SPARK_DISTS, "1536Mi")
    assert report["dists"] == lock_versions(*SPARK_DISTS)
    pinned_pyspark = lock_versions("pyspark")["pyspark"]
    assert report["pyspark"] == report["jvm_spark"] == pinned_pyspark
    assert report["s3a"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert report["etl"].startswith("/opt/etl/etl/")


def test_privileged_pod_is_refused_by_pod_security_admission(namespace, jobs_images):
    ns = namespace("psa")
    pod = restricted_pod("privileged", f"{jobs_images['airflow']['image']}@{jobs_images['airflow']['digest']}",
                         ["true"])
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    result = ns.apply(pod, check=False)
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr
    assert "privileged" in result.stderr


def test_ci_agent_image_runs_restricted_with_its_pinned_packages(namespace):
    """The CI agent carries exactly the Debian packages its Dockerfile pins and the Go of its base tag."""
    records = image_records("ci")
    assert "ci-agent" in records, f"make images did not record the CI agent: {records}"
    dockerfile = (L.ROOT / "jenkins" / "agents" / "ci-agent" / "Dockerfile").read_text()
    pins = dict(re.findall(r"^\s+([a-z0-9][a-z0-9.+-]+)=(\S+?)\s*\\?$", dockerfile, re.M))
    go_tag = re.search(r"ARG CI_AGENT_BASE_IMAGE=golang:(\d+\.\d+\.\d+)-bookworm", dockerfile).group(1)
    assert pins, "no pinned packages found in the CI agent's Dockerfile"
    ns = namespace("ci-agent")
    script = "dpkg-query -W -f='${Package}=${Version}\\n' " + " ".join(sorted(pins)) + " && go version"
    record = records["ci-agent"]
    ns.apply(restricted_pod("check", f"{record['image']}@{record['digest']}", ["sh", "-c", script]))
    pod = ns.wait_pod_phase("check", {"Succeeded", "Failed"})
    logs = ns.logs("check")
    assert pod["status"]["phase"] == "Succeeded", logs
    installed = dict(line.split("=", 1) for line in logs.splitlines() if "=" in line)
    assert installed == pins
    assert f"go version go{go_tag} " in logs
