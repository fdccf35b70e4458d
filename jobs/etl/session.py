"""A SparkSession configured the same way in tests, Airflow local mode and the bench."""
import os

from pyspark.sql import SparkSession


def local_session(app_name: str = "etl", master: str | None = None, shuffle_partitions: int = 4) -> SparkSession:
    """Local Spark: UTC, no UI, few shuffle partitions (data per date is small locally)."""
    master = master or os.environ.get("ETL_SPARK_MASTER", "local[*]")
    return (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("ETL_SPARK_DRIVER_MEMORY", "1g"))
        .config("spark.sql.parquet.compression.codec", "snappy")
        .getOrCreate()
    )


def cluster_session(app_name: str) -> SparkSession:
    """In a SparkApplication the operator injects master/executor settings; only add ours."""
    return (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
