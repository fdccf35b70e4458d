"""Data-quality checks on the feature table; a failure names every broken rule."""
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


class DataQualityError(RuntimeError):
    pass


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Thresholds:
    min_rows: int = 1
    max_quarantine_ratio: float = 0.10


def _measure(features: DataFrame) -> dict:
    row = features.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(F.col("user_id").isNull(), True)).alias("null_user_id"),
        F.count(F.when(F.col("first_event_at").isNull(), True)).alias("null_first_event_at"),
        F.min("revenue").alias("min_revenue"),
        F.min("events").alias("min_events"),
        F.count(F.when(F.col("purchases") > F.col("events"), True)).alias("purchases_over_events"),
        F.count(F.when(F.col("active_seconds") < 0, True)).alias("negative_active_seconds"),
        (F.count(F.lit(1)) - F.countDistinct("user_id")).alias("duplicate_users"),
    ).first()
    return row.asDict()


def run_checks(features: DataFrame, counts: dict, thresholds: Thresholds = Thresholds()) -> list[Check]:
    m = _measure(features)
    rows_in = counts["rows_in"]
    quarantined = counts["quarantined"]
    ratio = quarantined / rows_in if rows_in else 1.0
    return [
        Check("row_count", m["rows"] >= thresholds.min_rows, f"{m['rows']} rows (min {thresholds.min_rows})"),
        Check("rows_accounted", rows_in == counts["good"] + quarantined,
              f"rows_in {rows_in} vs good {counts['good']} + quarantined {quarantined}"),
        Check("quarantine_ratio", ratio <= thresholds.max_quarantine_ratio,
              f"{ratio:.4f} of rows quarantined (max {thresholds.max_quarantine_ratio})"),
        Check("user_id_not_null", m["null_user_id"] == 0, f"{m['null_user_id']} null user_id"),
        Check("first_event_at_not_null", m["null_first_event_at"] == 0,
              f"{m['null_first_event_at']} null first_event_at"),
        Check("unique_user", m["duplicate_users"] == 0, f"{m['duplicate_users']} duplicate user rows"),
        Check("revenue_non_negative", m["min_revenue"] is None or m["min_revenue"] >= 0,
              f"min revenue {m['min_revenue']}"),
        Check("events_positive", m["min_events"] is None or m["min_events"] >= 1, f"min events {m['min_events']}"),
        Check("purchases_within_events", m["purchases_over_events"] == 0,
              f"{m['purchases_over_events']} users with purchases > events"),
        Check("active_seconds_non_negative", m["negative_active_seconds"] == 0,
              f"{m['negative_active_seconds']} negative active_seconds"),
    ]


def enforce(checks: list[Check], where: str) -> None:
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = "\n".join(f"  - {c.name}: {c.detail}" for c in failed)
        raise DataQualityError(f"data-quality checks failed for {where}:\n{lines}")
