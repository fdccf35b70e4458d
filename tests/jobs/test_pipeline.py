"""The pipeline end to end on generated data: accounting, idempotence, atomic replacement."""
import json
from pathlib import Path

import pytest

from etl import atomic, pipeline, quality
from etl.layout import EventsLayout
from tests.jobs.conftest import DAY


def _sorted_rows(df):
    return sorted(tuple(r) for r in df.collect())


def test_every_input_row_is_good_or_quarantined(spark, raw_root, pipeline_run):
    # Count input lines independently of Spark.
    lines = sum(len(p.read_text().splitlines()) for p in (raw_root / "raw/events").rglob("part-*.jsonl"))
    counts = pipeline_run["manifest"]["counts"]
    assert counts["rows_in"] == lines
    assert counts["rows_in"] == counts["good"] + counts["quarantined"]
    layout = pipeline_run["layout"]
    quarantined = spark.read.parquet(str(Path(layout.quarantine(DAY, "x")).parent))
    assert quarantined.count() == counts["quarantined"]
    reasons = {r["quarantine_reason"]: r["count"] for r in quarantined.groupBy("quarantine_reason").count().collect()}
    assert reasons == pipeline_run["manifest"]["quarantine_by_reason"]
    assert {"malformed_record", "duplicate_event_id", "too_late", "missing_user_id"} <= set(reasons)
    for part in pipeline_run["part_stats"]:
        assert part["rows_in"] == part["good"] + part["quarantined"]


def test_features_are_partitioned_parquet_with_a_manifest(spark, pipeline_run):
    layout = pipeline_run["layout"]
    manifest = json.loads(Path(layout.manifest(DAY)).read_text())
    assert manifest["location"] == layout.features(DAY)
    assert manifest["files"] and all(f.endswith(".parquet") for f in manifest["files"])
    assert all(c["passed"] for c in manifest["quality_checks"])
    table = spark.read.parquet(layout.features_dataset())  # partition discovery over dt=...
    assert table.where(f"dt = '{DAY}'").count() == manifest["counts"]["rows_out"]
    assert not [p for p in Path(layout.features_dataset()).iterdir() if p.name.startswith("_")]


def test_rerunning_a_date_gives_identical_output(spark, pipeline_run):
    layout = pipeline_run["layout"]
    before = _sorted_rows(pipeline.read_features(spark, layout, DAY))
    before_stats = json.loads(Path(layout.features(DAY), "_stats.json").read_text())
    for part in pipeline_run["parts"]:
        pipeline.validate_partition(spark, layout, DAY, part)
    pipeline.build_user_features(spark, layout, DAY)
    after = _sorted_rows(pipeline.read_features(spark, layout, DAY))
    assert after == before
    assert json.loads(Path(layout.features(DAY), "_stats.json").read_text()) == before_stats
    assert len(list(Path(layout.features(DAY)).glob("*.parquet"))) == len(pipeline_run["manifest"]["files"])


class CrashDuringWrite(RuntimeError):
    pass


def _crashing_write(df):
    def write(target: str) -> None:
        df.limit(5).write.parquet(target)  # some files really land in the target...
        raise CrashDuringWrite("executor lost mid-write")  # ...then the job dies

    return write


def test_crash_mid_write_leaves_the_previous_partition(spark, tmp_path):
    partition = str(tmp_path / "dataset" / "dt=2026-11-27")
    old = spark.range(100).selectExpr("id", "id * 2 AS doubled")
    atomic.write_partition(spark, partition, lambda t: old.write.parquet(t), {"_stats.json": "{}"})
    before = _sorted_rows(spark.read.parquet(partition))

    new = spark.range(1000).selectExpr("id", "id * 3 AS doubled")
    with pytest.raises(CrashDuringWrite):
        atomic.write_partition(spark, partition, _crashing_write(new))

    assert _sorted_rows(spark.read.parquet(atomic.resolve_partition(spark, partition))) == before
    assert not list((tmp_path / "dataset").glob("_staging/*")), "half-written staging dir left behind"


def test_crash_between_the_two_renames_is_healed(spark, tmp_path):
    partition = tmp_path / "dataset" / "dt=2026-11-27"
    atomic.write_partition(spark, str(partition), lambda t: spark.range(10).write.parquet(t))
    # Simulate dying after moving the old copy to trash but before renaming the new one in.
    trash = partition.parent / "_trash" / f"{partition.name}.deadbeef"
    trash.parent.mkdir()
    partition.rename(trash)
    location = atomic.resolve_partition(spark, str(partition))
    assert spark.read.parquet(location).count() == 10
    assert not trash.exists()


def test_pointer_commit_for_object_storage_survives_a_crash(spark, tmp_path):
    # The s3a strategy runs on any Hadoop filesystem: exercise it through file:// URIs.
    partition = f"file://{tmp_path}/dataset/dt=2026-11-27"
    first = atomic.PointerCommitter(spark, partition).commit(lambda t: spark.range(7).write.parquet(t), {})
    with pytest.raises(CrashDuringWrite):
        atomic.PointerCommitter(spark, partition).commit(_crashing_write(spark.range(50)), {})
    assert atomic.PointerCommitter(spark, partition).resolve() == first
    assert spark.read.parquet(first).count() == 7

    second = atomic.PointerCommitter(spark, partition).commit(lambda t: spark.range(9).write.parquet(t), {"_stats.json": "{}"})
    third = atomic.PointerCommitter(spark, partition).commit(lambda t: spark.range(11).write.parquet(t), {})
    assert atomic.PointerCommitter(spark, partition).resolve() == third
    assert spark.read.parquet(third).count() == 11
    versions = sorted(p.name for p in (tmp_path / "dataset" / "_versions" / "dt=2026-11-27").iterdir())
    assert len(versions) == 2 and second.rsplit("/", 1)[1] in versions  # old ones pruned, previous kept


def test_failed_quality_check_names_the_rule(spark, pipeline_run):
    layout = pipeline_run["layout"]
    strict = quality.Thresholds(max_quarantine_ratio=0.001)
    with pytest.raises(quality.DataQualityError) as failure:
        pipeline.check_quality(spark, layout, DAY, strict)
    message = str(failure.value)
    assert "quarantine_ratio" in message and layout.features(DAY) in message
    assert "row_count" not in message  # only the broken rule is named


def test_missing_input_is_a_clear_error(spark, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no raw files part-NNNNN.jsonl under .*dt=2026-11-27"):
        pipeline.list_partitions(spark, EventsLayout(str(tmp_path)), DAY)
