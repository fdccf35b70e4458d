"""The events -> user_daily features pipeline, one function per Airflow task.

Each step reads what the previous one committed, so any step can be retried or re-run alone.
Counts travel in `_stats.json` files committed atomically with the data they describe.
"""
import json
import re
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl import atomic, quality, storage
from etl.dedupe import rank_copies, split_copies
from etl.layout import EventsLayout
from etl.quarantine import REASON, read_raw, split_valid
from etl.transform import build_features

STATS_FILE = "_stats.json"
_PART_FILE = re.compile(r"^part-(\d+)\.jsonl$")


def list_partitions(spark, layout: EventsLayout, day: date) -> list[str]:
    """Partition ids (e.g. '00003') of the raw files that arrived for `day`."""
    names = storage.list_names(spark, layout.raw_dir(day))
    parts = [m.group(1) for m in map(_PART_FILE.match, names) if m]
    if not parts:
        raise FileNotFoundError(f"no raw files part-NNNNN.jsonl under {layout.raw_dir(day)}")
    return parts


def _reason_counts(parsed_reasons: DataFrame) -> dict[str, int]:
    rows = parsed_reasons.groupBy(REASON).count().collect()
    return {(r[REASON] or "good"): r["count"] for r in rows}


def _write_parquet(df: DataFrame, files: int = 1):
    def write(target: str) -> None:
        df.coalesce(files).write.mode("overwrite").parquet(target)

    return write


def validate_partition(spark, layout: EventsLayout, day: date, part: str) -> dict:
    """Parse + validate one raw file; commit good rows to staged/ and rejects to quarantine/."""
    raw = read_raw(spark, [layout.raw_file(day, part)])
    good, quarantined = split_valid(raw, day)
    by_reason = _reason_counts(quarantined.select(REASON))
    good_rows = good.count()
    rows_in = raw.count()
    stats = {
        "part": part,
        "rows_in": rows_in,
        "good": good_rows,
        "quarantined": sum(by_reason.values()),
        "by_reason": dict(sorted(by_reason.items())),
    }
    if stats["rows_in"] != stats["good"] + stats["quarantined"]:
        raise AssertionError(f"rows lost in validation of {layout.raw_file(day, part)}: {stats}")
    side = {STATS_FILE: json.dumps(stats, sort_keys=True)}
    quarantined = quarantined.withColumn("dt", F.lit(str(day)))
    atomic.write_partition(spark, layout.quarantine(day, part), _write_parquet(quarantined), side)
    atomic.write_partition(spark, layout.staged(day, part), _write_parquet(good), side)
    return stats


def _staged_parts(spark, layout: EventsLayout, day: date) -> list[str]:
    names = storage.list_names(spark, layout.staged_dir(day))
    parts = [n.split("=", 1)[1] for n in names if n.startswith("part=")]
    if not parts:  # s3a keeps committed versions behind pointers
        names = storage.list_names(spark, storage.join(layout.staged_dir(day), "_pointers"))
        parts = [n[len("part="):-len(".json")] for n in names if n.startswith("part=")]
    if not parts:
        raise FileNotFoundError(f"no validated partitions under {layout.staged_dir(day)}; run validate first")
    return sorted(parts)


def _read_stats(spark, location: str) -> dict:
    return json.loads(storage.read_text(spark, storage.join(location, STATS_FILE)))


def build_user_features(spark, layout: EventsLayout, day: date, files: int = 1) -> dict:
    """De-duplicate all validated partitions of `day` and commit the feature partition."""
    locations = [atomic.resolve_partition(spark, layout.staged(day, p)) for p in _staged_parts(spark, layout, day)]
    part_stats = [_read_stats(spark, loc) for loc in locations]
    events = spark.read.parquet(*locations)
    # De-duplicate once: the ranked rows are cached, and the duplicate count, the features, the
    # good count and the duplicates' quarantine write all read that cache. (Caching only the
    # unique rows, as before, left the duplicates uncached: the window ran again for their count
    # and for their quarantine write, three times in all.)
    ranked = rank_copies(events).cache()
    unique, duplicates = split_copies(ranked)
    duplicate_rows = duplicates.count()
    by_reason: dict[str, int] = {}
    for s in part_stats:
        for reason, n in s["by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    if duplicate_rows:
        by_reason["duplicate_event_id"] = duplicate_rows
    features = build_features(unique, day).repartitionByRange(files, "user_id").sortWithinPartitions("user_id")
    stats = {
        "dt": day.isoformat(),
        "partitions": [s["part"] for s in part_stats],
        "rows_in": sum(s["rows_in"] for s in part_stats),
        "good": unique.count(),
        "quarantined": sum(by_reason.values()),
        "by_reason": dict(sorted(by_reason.items())),
    }
    dup_side = {STATS_FILE: json.dumps({"duplicates": duplicate_rows})}
    atomic.write_partition(spark, layout.quarantine(day, "dedupe"),
                           _write_parquet(duplicates.withColumn("dt", F.lit(str(day)))), dup_side)

    side_files: dict[str, str] = {}

    def write_features(target: str) -> None:
        features.drop("dt").write.mode("overwrite").parquet(target)
        # rows_out is counted from what was written and committed together with it.
        stats["rows_out"] = spark.read.parquet(target).count()
        side_files[STATS_FILE] = json.dumps(stats, sort_keys=True)

    atomic.write_partition(spark, layout.features(day), write_features, side_files)
    ranked.unpersist()
    return stats


def read_features(spark, layout: EventsLayout, day: date) -> DataFrame:
    location = atomic.resolve_partition(spark, layout.features(day))
    return spark.read.parquet(location).withColumn("dt", F.lit(day.isoformat()))


def check_quality(spark, layout: EventsLayout, day: date, thresholds: quality.Thresholds = quality.Thresholds()) -> list[dict]:
    location = atomic.resolve_partition(spark, layout.features(day))
    checks = quality.run_checks(read_features(spark, layout, day), _read_stats(spark, location), thresholds)
    quality.enforce(checks, f"features {layout.features(day)}")
    return [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks]


def publish_manifest(spark, layout: EventsLayout, day: date, run_id: str = "manual") -> dict:
    """Write the small manifest downstream training reads: where the data is, its schema,
    counts and the checks it passed. Written last, as one atomic file."""
    location = atomic.resolve_partition(spark, layout.features(day))
    features = spark.read.parquet(location)
    checks = check_quality(spark, layout, day)
    stats = _read_stats(spark, location)
    files = sorted(n for n in storage.list_names(spark, location) if n.endswith(".parquet"))
    manifest = {
        "dataset": "features/user_daily",
        "dt": day.isoformat(),
        "location": location,
        "files": files,
        "schema": json.loads(features.schema.json()),
        "counts": {k: stats[k] for k in ("rows_in", "good", "quarantined", "rows_out")},
        "quarantine_by_reason": stats["by_reason"],
        "quality_checks": checks,
        "run_id": run_id,
    }
    storage.write_text(spark, layout.manifest(day), json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
