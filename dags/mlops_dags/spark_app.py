"""Build the SparkApplication each ETL step submits in kubernetes mode.

There is one ETL template: the platform's `ScheduledSparkApplication` etl-template
(apps/airflow/base/spark/etl-template.yaml, validated by the static gate) with the cluster overlay's
patch file on top (apps/airflow/overlays/<overlay>/spark-template.yaml: the bucket, prod's 20
executors), then the cluster's own patch file if it has one (ETL_SPARK_TEMPLATE_CLUSTER_PATCH:
clusters/local/laptop/spark-template.yaml, the same file its component patches the template with).
git-sync brings the whole repository, so the DAGs read the files from it and merge them the way
kustomize merges a patch into a custom resource (maps merge, lists and values are replaced);
tests/dags/test_spark_application.py and tests/manifests/test_local_cluster.py check the result
equals kustomize's render. Only the per-task parts are set here: name, image (ETL_JOB_IMAGE, set by
kustomize per cluster), arguments and storage settings; dynamic allocation goes in as Spark settings
(see dynamic_allocation_as_conf for why).
"""
import copy
from functools import cache
from pathlib import Path

import yaml

from mlops_dags.settings import OWNER, SPARK_NAMESPACE, EtlSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_TEMPLATE = REPO_ROOT / "apps" / "airflow" / "base" / "spark" / "etl-template.yaml"


def overlay_patch(overlay: str) -> Path:
    return REPO_ROOT / "apps" / "airflow" / "overlays" / overlay / "spark-template.yaml"


def _merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _template_patch(patch_file: Path) -> dict:
    return (yaml.safe_load(patch_file.read_text(encoding="utf-8")) or {}).get("spec", {}).get("template", {})


@cache
def template_for(overlay: str, cluster_patch: str = "") -> dict:
    """The etl-template's `.spec.template` as the overlay (and the cluster's patch, a repo-relative
    file) render it (read-only: copy before use)."""
    spec = yaml.safe_load(BASE_TEMPLATE.read_text(encoding="utf-8"))["spec"]["template"]
    patch_file = overlay_patch(overlay)
    if patch_file.is_file():
        spec = _merge(spec, _template_patch(patch_file))
    if cluster_patch:
        patch_file = REPO_ROOT / cluster_patch
        if not patch_file.is_file():
            raise FileNotFoundError(f"ETL_SPARK_TEMPLATE_CLUSTER_PATCH={cluster_patch}: no such file in the DAG repository")
        spec = _merge(spec, _template_patch(patch_file))
    return spec


# The Spark settings the Spark operator derives from `spec.dynamicAllocation` (v2.3.0,
# submission.go dynamicAllocationOption): field -> spark.dynamicAllocation.<key>.
_DYNAMIC_ALLOCATION_CONF = {
    "initialExecutors": "initialExecutors",
    "minExecutors": "minExecutors",
    "maxExecutors": "maxExecutors",
    "shuffleTrackingEnabled": "shuffleTracking.enabled",
    "shuffleTrackingTimeout": "shuffleTracking.timeout",
}


def dynamic_allocation_as_conf(spec: dict) -> None:
    """Move `dynamicAllocation` into `sparkConf`, as the operator itself would pass it to Spark.

    SparkKubernetesOperator refuses a `dynamicAllocation` block whose minExecutors is 0 ("Make sure
    min/max value for dynamic allocation is passed": the provider's SparkJobSpec.validate tests the
    values for truth), and 0 is what lets every executor go once the work is done. Found when the
    DAG first ran on the local cluster. The template keeps the block (the gate and the overlays
    read it); only what is submitted carries it as settings, with the same values.
    """
    block = spec.pop("dynamicAllocation", None) or {}
    if not block.get("enabled"):
        return
    conf = spec.setdefault("sparkConf", {})
    conf["spark.dynamicAllocation.enabled"] = "true"
    conf["spark.dynamicAllocation.shuffleTracking.enabled"] = "true"  # the operator's default
    for field, key in _DYNAMIC_ALLOCATION_CONF.items():
        if field in block:
            value = block[field]
            conf[f"spark.dynamicAllocation.{key}"] = str(value).lower() if isinstance(value, bool) else str(value)


def application_body(step: str, arguments: list[str], settings: EtlSettings) -> dict:
    """A complete SparkApplication manifest for one step (dict, ready for the CRD API)."""
    spec = copy.deepcopy(template_for(settings.platform_overlay, settings.cluster_template_patch))
    spec["image"] = settings.job_image
    spec["arguments"] = [step, *arguments]
    spec["sparkConf"]["spark.eventLog.dir"] = settings.event_log_dir
    spec["sparkConf"]["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint
    for role in ("driver", "executor"):
        spec[role]["labels"]["app.kubernetes.io/component"] = f"etl-{step}"
    dynamic_allocation_as_conf(spec)
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {
            "name": f"etl-{step}",
            "namespace": SPARK_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "spark-etl", "app.kubernetes.io/part-of": "mlops-platform",
                       "app.kubernetes.io/component": "etl-step", "owner": OWNER},
        },
        "spec": spec,
    }


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
