"""Spark's feature table equals the independent DuckDB oracle (tests/jobs/oracle.py) row by row."""
from pathlib import Path

from tests.jobs.conftest import DAY
from tests.jobs.oracle import mismatches, oracle_features, parquet_rows, raw_line_count


def test_spark_features_equal_the_duckdb_oracle(raw_root, pipeline_run):
    files = sorted(str(p) for p in (raw_root / "raw/events").rglob("part-*.jsonl"))
    columns, expected = oracle_features(files, DAY)
    location = pipeline_run["layout"].features(DAY)
    actual = parquet_rows(f"{Path(location)}/*.parquet", columns)
    assert len(expected) > 100
    differ = mismatches(expected, actual)
    assert not differ, f"{len(differ)} cells differ, first: {differ[:5]}"


def test_oracle_counts_agree_with_the_manifest(raw_root, pipeline_run):
    files = sorted(str(p) for p in (raw_root / "raw/events").rglob("part-*.jsonl"))
    users = len(oracle_features(files, DAY)[1])
    counts = pipeline_run["manifest"]["counts"]
    assert (counts["rows_in"], counts["rows_out"]) == (raw_line_count(files), users)
