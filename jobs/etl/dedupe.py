"""Drop retransmitted events: one row per event_id survives, the rest are quarantined."""
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.quarantine import REASON

# Earliest event wins; the remaining columns only break ties so the choice is deterministic.
_ORDER = ["event_time", "event_type", "amount", "country", "session_id", "user_id"]


COPY_NO = "_copy_no"


def rank_copies(good: DataFrame) -> DataFrame:
    """good plus COPY_NO: 1 for the copy of each event_id that survives, 2, 3, ... for the others.
    This is the one window (one shuffle) of de-duplication."""
    window = Window.partitionBy("event_id").orderBy(*[F.col(c).asc_nulls_last() for c in _ORDER])
    return good.withColumn(COPY_NO, F.row_number().over(window))


def split_copies(ranked: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(unique, duplicates) of rank_copies() output. Both are filters of `ranked`: cache `ranked`
    (or stage it) when both are used, or each action on them computes the window again."""
    unique = ranked.where(F.col(COPY_NO) == 1).drop(COPY_NO)
    duplicates = ranked.where(F.col(COPY_NO) > 1).drop(COPY_NO).withColumn(REASON, F.lit("duplicate_event_id"))
    return unique, duplicates


def dedupe(good: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Return (unique, duplicates); duplicates carry quarantine_reason='duplicate_event_id'."""
    return split_copies(rank_copies(good))


def label_duplicates(judged: DataFrame, order_columns: list[str]) -> DataFrame:
    """Same rule as dedupe(), applied in place: on rows without a reason yet, every copy of an
    event_id but the first gets reason 'duplicate_event_id'. Rejected rows keep theirs.

    Lets a job label all rows in one window pass (one shuffle) and split good/quarantined
    afterwards, instead of running dedupe() once per output."""
    is_good = F.col(REASON).isNull()
    window = Window.partitionBy(is_good, "event_id").orderBy(*[F.col(c).asc_nulls_last() for c in order_columns])
    copy_no = F.when(is_good, F.row_number().over(window))
    return judged.withColumn(REASON, F.when(copy_no > 1, F.lit("duplicate_event_id")).otherwise(F.col(REASON)))
