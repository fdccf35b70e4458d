"""The local spark base's entrypoint (tools/images/spark/entrypoint.sh) turns the arguments Spark on
Kubernetes gives its pods into processes: `driver ...` into spark-submit in client mode bound to the
pod's address, `executor` into the executor backend JVM with the SPARK_* settings the driver set on
the pod; any other command runs as given. The first cluster run of the data loop failed here
(`exec: "driver": executable file not found`: the base had no entrypoint). tini, java and
spark-submit are stand-ins that print what they were asked to run."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tools.images.bases import BASES, ENTRYPOINT_PATH
from tools.k8s import layout as L

ENTRYPOINT = L.ROOT / "tools" / "images" / "spark" / "entrypoint.sh"
PRINT_ARGS = '#!/bin/sh\nfor a in "$0" "$@"; do printf "%s\\n" "$a"; done\n'


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    bin_dir, spark_home, java_home = tmp_path / "bin", tmp_path / "spark", tmp_path / "java"
    for folder in (bin_dir, spark_home / "bin", java_home / "bin"):
        folder.mkdir(parents=True)
    (bin_dir / "tini").write_text('#!/bin/sh\n[ "$1" = -s ] && [ "$2" = -- ] || exit 9\nshift 2\nexec "$@"\n')
    for program in (spark_home / "bin" / "spark-submit", java_home / "bin" / "java"):
        program.write_text(PRINT_ARGS)
    for program in (bin_dir / "tini", spark_home / "bin" / "spark-submit", java_home / "bin" / "java"):
        program.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "SPARK_HOME": str(spark_home), "JAVA_HOME": str(java_home)}


def run(env: dict[str, str], *args: str) -> list[str]:
    out = subprocess.run(["bash", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_the_spark_base_uses_this_entrypoint():
    assert BASES["spark"].entrypoint == ENTRYPOINT and ENTRYPOINT_PATH == "/opt/entrypoint.sh"
    assert "tini" in BASES["spark"].packages and "bash" in BASES["spark"].packages
    assert os.access(ENTRYPOINT, os.X_OK)


def test_driver_runs_spark_submit_in_client_mode_on_the_pod_address(stand_ins):
    env = {**stand_ins, "SPARK_DRIVER_BIND_ADDRESS": "10.88.0.7"}
    argv = run(env, "driver", "--properties-file", "/opt/spark/conf/spark.properties", "local:///opt/etl/etl/cli.py", "validate")
    assert argv[0].endswith("/spark/bin/spark-submit")
    assert argv[1:] == ["--conf", "spark.driver.bindAddress=10.88.0.7",
                        "--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=10.88.0.7", "--deploy-mode", "client",
                        "--properties-file", "/opt/spark/conf/spark.properties", "local:///opt/etl/etl/cli.py", "validate"]


def test_executor_runs_the_backend_with_the_driver_settings(stand_ins):
    env = {**stand_ins, "SPARK_EXECUTOR_MEMORY": "1024m", "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@d:7078",
           "SPARK_EXECUTOR_ID": "3", "SPARK_EXECUTOR_CORES": "1", "SPARK_APPLICATION_ID": "spark-abc",
           "SPARK_EXECUTOR_POD_IP": "10.88.0.9", "SPARK_RESOURCE_PROFILE_ID": "0", "SPARK_EXECUTOR_POD_NAME": "e-3",
           "SPARK_CLASSPATH": "/extra/*", "SPARK_CONF_DIR": "/opt/spark/conf",
           # Ten options: the order is numeric (SPARK_JAVA_OPT_10 after _9), and spaces stay inside one.
           **{f"SPARK_JAVA_OPT_{i}": f"-Dopt{i}=a b" for i in range(11)}}
    argv = run(env, "executor")
    assert argv[0].endswith("/java/bin/java")
    assert argv[1:12] == [f"-Dopt{i}=a b" for i in range(11)]
    assert argv[12:16] == ["-Xms1024m", "-Xmx1024m", "-cp", f"/opt/spark/conf:/extra/*:{stand_ins['SPARK_HOME']}/jars/*"]
    assert argv[16:] == ["org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
                         "--driver-url", "spark://CoarseGrainedScheduler@d:7078", "--executor-id", "3", "--cores", "1",
                         "--app-id", "spark-abc", "--hostname", "10.88.0.9", "--resourceProfileId", "0", "--podName", "e-3"]


def test_an_executor_without_its_settings_fails_instead_of_starting_half_configured(stand_ins):
    out = subprocess.run(["bash", str(ENTRYPOINT), "executor"], env=stand_ins, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "SPARK_EXECUTOR_MEMORY" in out.stderr


def test_any_other_command_runs_as_given(stand_ins):
    assert run(stand_ins, "/bin/echo", "history-server") == ["history-server"]
