"""events_features: raw events of one day -> per-user daily features for ML training.

list_partitions -> validate_partition (mapped, one per raw file) -> build_features -> check_quality
-> publish_manifest. ETL_SPARK_MODE=local runs each step in this worker with a local SparkSession;
ETL_SPARK_MODE=kubernetes submits each step as a SparkApplication (namespace spark-jobs) running
the same `etl` code from the spark-etl image. Alerts (e-mail, Slack, Dooray!) fire after the last
retry only. One run per day, no catchup: a missed day is backfilled explicitly.
"""
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from mlops_dags import settings as etl_settings
from mlops_dags.alerts import failure_notifiers

SETTINGS = etl_settings.load()
DAG_ID = "events_features"

with DAG(
    dag_id=DAG_ID,
    description="Raw events -> validated, de-duplicated per-user daily features (Parquet + manifest)",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,  # stated: backfills are explicit (airflow backfill create), never implicit
    max_active_runs=1,  # one date at a time: runs share the features dataset directory
    max_active_tasks=4,
    dagrun_timeout=timedelta(hours=4),
    default_args=etl_settings.default_args(failure_notifiers(SETTINGS.alert_email_to)),
    tags=["etl", "features", SETTINGS.spark_mode],
    doc_md=__doc__,
) as dag:
    if SETTINGS.spark_mode == "local":

        @task
        def list_partitions(ds: str | None = None) -> list[str]:
            from datetime import date

            from etl import pipeline
            from etl.layout import EventsLayout

            return pipeline.list_partitions(None, EventsLayout(SETTINGS.data_root), date.fromisoformat(ds))

        @task(multiple_outputs=False, max_active_tis_per_dag=2)
        def validate_partition(part: str, ds: str | None = None) -> dict:
            from datetime import date

            from etl import pipeline
            from etl.layout import EventsLayout
            from etl.session import local_session

            return pipeline.validate_partition(local_session(DAG_ID), EventsLayout(SETTINGS.data_root),
                                               date.fromisoformat(ds), part)

        @task(multiple_outputs=False)
        def build_features(ds: str | None = None) -> dict:
            from datetime import date

            from etl import pipeline
            from etl.layout import EventsLayout
            from etl.session import local_session

            return pipeline.build_user_features(local_session(DAG_ID), EventsLayout(SETTINGS.data_root),
                                                date.fromisoformat(ds))

        @task
        def check_quality(ds: str | None = None) -> list[dict]:
            from datetime import date

            from etl import pipeline
            from etl.layout import EventsLayout
            from etl.session import local_session

            return pipeline.check_quality(local_session(DAG_ID), EventsLayout(SETTINGS.data_root),
                                          date.fromisoformat(ds))

        @task(multiple_outputs=False)
        def publish_manifest(ds: str | None = None, run_id: str | None = None) -> dict:
            from datetime import date

            from etl import pipeline
            from etl.layout import EventsLayout
            from etl.session import local_session

            manifest = pipeline.publish_manifest(local_session(DAG_ID), EventsLayout(SETTINGS.data_root),
                                                 date.fromisoformat(ds), run_id)
            return {"manifest": EventsLayout(SETTINGS.data_root).manifest(date.fromisoformat(ds)),
                    "location": manifest["location"], "counts": manifest["counts"]}

        validated = validate_partition.expand(part=list_partitions())
        validated >> build_features() >> check_quality() >> publish_manifest()

    else:
        from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

        from mlops_dags import spark_app

        common_args = ["--date", "{{ ds }}", "--root", SETTINGS.data_root, "--run-id", "{{ run_id }}"]

        @task
        def plan_partitions(ds: str | None = None, run_id: str | None = None) -> list[dict]:
            """One SparkApplication per input partition (the producer writes a fixed count)."""
            args = ["--date", ds, "--root", SETTINGS.data_root, "--run-id", run_id]
            return [
                spark_app.template_spec("validate", [*args, "--part", f"{part:05d}"], SETTINGS)
                for part in range(SETTINGS.input_partitions)
            ]

        validated = SparkKubernetesOperator.partial(
            task_id="validate_partition", max_active_tis_per_dag=4, **spark_app.operator_kwargs()
        ).expand(template_spec=plan_partitions())
        steps = [
            SparkKubernetesOperator(task_id=f"{name}", template_spec=spark_app.template_spec(step, common_args, SETTINGS),
                                    **spark_app.operator_kwargs())
            for name, step in (("build_features", "features"), ("check_quality", "quality"),
                               ("publish_manifest", "publish"))
        ]
        validated >> steps[0] >> steps[1] >> steps[2]
