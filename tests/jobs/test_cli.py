"""The SparkApplication entry point runs the same step functions as the local DAG tasks."""
import json

import pytest

from etl import cli
from tests.jobs.conftest import DAY


def test_validate_step_through_the_cli(spark, raw_root, pipeline_run):
    args = cli.parse_args(["validate", "--date", DAY.isoformat(), "--root", str(raw_root), "--part", "00001"])
    stats = cli.run(args, spark)
    assert stats == next(s for s in pipeline_run["part_stats"] if s["part"] == "00001")
    json.dumps(stats)  # printed as JSON by main()


def test_validate_without_a_partition_is_refused(spark, raw_root):
    args = cli.parse_args(["validate", "--date", DAY.isoformat(), "--root", str(raw_root)])
    with pytest.raises(SystemExit, match="--part is required"):
        cli.run(args, spark)


def test_unknown_step_is_refused():
    with pytest.raises(SystemExit):
        cli.parse_args(["train", "--date", "2026-11-27", "--root", "/tmp"])
