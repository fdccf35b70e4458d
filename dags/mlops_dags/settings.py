"""Settings every DAG reads from the environment (set by the Airflow ConfigMaps in cluster)."""
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

SPARK_MODES = ("local", "kubernetes")
REPO_ROOT = Path(__file__).resolve().parents[2]

OWNER = "data-platform"
SPARK_NAMESPACE = "spark-jobs"
DEFAULT_JOB_IMAGE = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/spark-etl:0.1.0"


@dataclass(frozen=True)
class EtlSettings:
    spark_mode: str
    data_root: str
    job_image: str
    event_log_dir: str
    s3_endpoint: str
    input_partitions: int
    alert_email_to: str
    # Which apps/airflow/overlays/<overlay> this Airflow runs from: selects the ETL template's patch.
    platform_overlay: str = "dev"
    # A further patch of the ETL template from the cluster's own folder (repo-relative; "" for none):
    # clusters/local's laptop component shrinks Spark's requests so drivers and executors fit one node.
    cluster_template_patch: str = ""


def spark_mode() -> str:
    mode = os.environ.get("ETL_SPARK_MODE", "local")
    if mode not in SPARK_MODES:
        raise ValueError(f"ETL_SPARK_MODE={mode!r} is not one of {SPARK_MODES}")
    return mode


def load() -> EtlSettings:
    return EtlSettings(
        spark_mode=spark_mode(),
        data_root=os.environ.get("ETL_DATA_ROOT", str(REPO_ROOT / ".run" / "data")),
        job_image=os.environ.get("ETL_JOB_IMAGE", DEFAULT_JOB_IMAGE),
        event_log_dir=os.environ.get("ETL_EVENT_LOG_DIR", "s3a://mlops-dev-data/spark-events"),
        s3_endpoint=os.environ.get("ETL_S3_ENDPOINT", "https://kr1-api-object-storage.nhncloudservice.com"),
        # In cluster the producer writes a fixed number of part files per date (see dags/README).
        input_partitions=int(os.environ.get("ETL_INPUT_PARTITIONS", "4")),
        alert_email_to=os.environ.get("ETL_ALERT_EMAIL_TO", "data-platform-alerts@example.com"),
        platform_overlay=os.environ.get("ETL_PLATFORM_OVERLAY", "dev"),
        cluster_template_patch=os.environ.get("ETL_SPARK_TEMPLATE_CLUSTER_PATCH", ""),
    )


def default_args(on_failure_callback: list) -> dict:
    """Retries back off exponentially (1, 2, 4 min ... capped); alerts only on final failure; task
    pods run the commit the DAG was parsed from (mlops_dags.dag_version)."""
    from mlops_dags import dag_version

    return {
        "executor_config": dag_version.executor_config(dag_version.checkout_commit()),
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(minutes=45),
        "on_failure_callback": on_failure_callback,
    }
