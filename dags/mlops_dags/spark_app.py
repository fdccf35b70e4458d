"""Build the SparkApplication each ETL step submits in kubernetes mode.

The body starts from templates/spark-application.yaml and only gets the per-task parts here:
name, image (ETL_JOB_IMAGE, set by kustomize per cluster), arguments and storage settings.
"""
import json
from functools import cache
from pathlib import Path

import yaml

from mlops_dags.settings import SPARK_NAMESPACE, EtlSettings

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "spark-application.yaml"


@cache
def _template_text() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def application_body(step: str, arguments: list[str], settings: EtlSettings) -> dict:
    """A complete SparkApplication manifest for one step (dict, ready for the CRD API)."""
    # JSON round trip: plain dicts without the YAML anchors' shared objects.
    body = json.loads(json.dumps(yaml.safe_load(_template_text())))
    body["metadata"]["name"] = f"etl-{step}"
    body["metadata"]["namespace"] = SPARK_NAMESPACE
    spec = body["spec"]
    spec["image"] = settings.job_image
    spec["arguments"] = [step, *arguments]
    spec["sparkConf"]["spark.eventLog.dir"] = settings.event_log_dir
    spec["hadoopConf"]["fs.s3a.endpoint"] = settings.s3_endpoint
    for role in ("driver", "executor"):
        spec[role]["labels"]["app.kubernetes.io/component"] = f"etl-{step}"
    return body


def template_spec(step: str, arguments: list[str], settings: EtlSettings) -> dict:
    """What SparkKubernetesOperator(template_spec=...) expects: {"spark": <manifest>}."""
    return {"spark": application_body(step, arguments, settings)}


def operator_kwargs() -> dict:
    """Shared SparkKubernetesOperator settings: in-cluster auth, our namespace, logs in Airflow."""
    return {
        "namespace": SPARK_NAMESPACE,
        "in_cluster": True,
        "get_logs": True,
        "delete_on_termination": True,
        "random_name_suffix": True,
    }
