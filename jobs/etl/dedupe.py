"""Drop retransmitted events: one row per event_id survives, the rest are quarantined."""
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.quarantine import REASON

# Earliest event wins; the remaining columns only break ties so the choice is deterministic.
_ORDER = ["event_time", "event_type", "amount", "country", "session_id", "user_id"]


def dedupe(good: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Return (unique, duplicates); duplicates carry quarantine_reason='duplicate_event_id'."""
    window = Window.partitionBy("event_id").orderBy(*[F.col(c).asc_nulls_last() for c in _ORDER])
    ranked = good.withColumn("_rank", F.row_number().over(window))
    unique = ranked.where("_rank = 1").drop("_rank")
    duplicates = ranked.where("_rank > 1").drop("_rank").withColumn(REASON, F.lit("duplicate_event_id"))
    return unique, duplicates
