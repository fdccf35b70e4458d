"""pyspark's Python side, its JVM side and the pyspark-client distribution agree on one Spark version.

A mismatch (say a lock that upgrades pyspark-client but not pyspark) shows up only at run time
as odd Py4J or Spark Connect errors, so it is checked here with a real local SparkSession.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest


def test_pyspark_and_pyspark_client_distributions_match():
    assert version("pyspark") == version("pyspark-client")


@pytest.mark.slow
def test_python_and_jvm_report_the_same_spark_version(tmp_path):
    import pyspark
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("toolchain-version-check")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(tmp_path / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={tmp_path}")
        .getOrCreate()
    )
    try:
        jvm_version = spark.version
        # A job really ran on the JVM, not just a property lookup.
        assert spark.range(10).selectExpr("sum(id) AS total").collect()[0]["total"] == 45
    finally:
        spark.stop()
    assert pyspark.__version__ == jvm_version == version("pyspark")
