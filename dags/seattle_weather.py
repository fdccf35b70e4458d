"""seattle_weather: a real public dataset (Seattle daily weather 2012-2015, shipped in the
vega_datasets package) -> monthly climate features per year.

list_years -> build_year (mapped, one per year). Same ETL_SPARK_MODE switch as events_features.
Manually triggered (schedule=None): the source never changes; catchup is off.
"""
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from mlops_dags import settings as etl_settings
from mlops_dags.alerts import failure_notifiers

SETTINGS = etl_settings.load()
DAG_ID = "seattle_weather"

with DAG(
    dag_id=DAG_ID,
    description="Seattle daily weather (vega_datasets) -> validated monthly features per year",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=etl_settings.default_args(failure_notifiers(SETTINGS.alert_email_to)),
    tags=["etl", "real-data", SETTINGS.spark_mode],
    doc_md=__doc__,
) as dag:

    @task
    def list_years() -> list[int]:
        import csv

        from vega_datasets import local_data

        with open(local_data.seattle_weather.filepath, newline="", encoding="utf-8") as source:
            years = {row["date"][:4] for row in csv.DictReader(source)}
        return sorted(int(y) for y in years if y.isdigit())

    if SETTINGS.spark_mode == "local":

        @task(multiple_outputs=False, max_active_tis_per_dag=2)
        def build_year(year: int) -> dict:
            from etl import weather
            from etl.session import local_session

            return weather.run_year(local_session(DAG_ID), weather.WeatherLayout(SETTINGS.data_root), year)

        build_year.expand(year=list_years())

    else:
        from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

        from mlops_dags import spark_app

        @task
        def plan_years(years: list[int], ds: str | None = None) -> list[dict]:
            return [
                spark_app.template_spec("weather", ["--date", ds, "--root", SETTINGS.data_root,
                                                    "--part", str(year)], SETTINGS)
                for year in years
            ]

        SparkKubernetesOperator.partial(task_id="build_year", **spark_app.operator_kwargs()).expand(
            template_spec=plan_years(list_years())
        )
