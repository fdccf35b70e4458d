"""Validate parsed raw events; every rejected row keeps a reason (nothing is dropped silently).

Rules are checked in order; a row gets the first reason that applies.
"""
from datetime import date, datetime, time, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.schema import ALLOWED_LATENESS, CORRUPT_COLUMN, EVENT_TIME_FORMAT, EVENT_TYPES, RAW_EVENT_SCHEMA

REASON = "quarantine_reason"
PARSED_TIME = "event_ts"


def read_raw(spark, uris: list[str]) -> DataFrame:
    """Parse JSON lines against the declared schema; unparseable lines land in _corrupt_record."""
    return (
        spark.read.schema(RAW_EVENT_SCHEMA)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .json(uris)
        .withColumn("source_file", F.input_file_name())
    )


def _window(logical_date: date) -> tuple[datetime, datetime]:
    day_start = datetime.combine(logical_date, time())
    return day_start - ALLOWED_LATENESS, day_start + timedelta(days=1)


def reason_column(logical_date: date) -> Column:
    """The reason a row is rejected, or null when it is good."""
    earliest, end = _window(logical_date)
    ts = F.col(PARSED_TIME)
    return (
        F.when(F.col(CORRUPT_COLUMN).isNotNull(), F.lit("malformed_record"))
        .when(F.col("event_id").isNull() | (F.trim("event_id") == ""), F.lit("missing_event_id"))
        .when(F.col("user_id").isNull(), F.lit("missing_user_id"))
        .when(ts.isNull(), F.lit("bad_event_time"))
        .when(~F.col("event_type").isin(*EVENT_TYPES) | F.col("event_type").isNull(), F.lit("unknown_event_type"))
        .when(F.col("amount") < 0, F.lit("negative_amount"))
        .when((F.col("event_type") == "purchase") & F.col("amount").isNull(), F.lit("purchase_without_amount"))
        .when(ts < F.lit(earliest), F.lit("too_late"))
        .when(ts >= F.lit(end), F.lit("future_event_time"))
    )


def judge(raw: DataFrame, logical_date: date) -> DataFrame:
    """raw plus the parsed event time and the reason column (null = good)."""
    return raw.withColumn(
        PARSED_TIME, F.try_to_timestamp(F.col("event_time"), F.lit(EVENT_TIME_FORMAT))
    ).withColumn(REASON, reason_column(logical_date))


def split_valid(raw: DataFrame, logical_date: date, cache: bool = True) -> tuple[DataFrame, DataFrame]:
    """Return (good, quarantined). good has typed, normalised columns; quarantined keeps the raw
    fields plus `quarantine_reason`. Their counts always add up to raw's count.

    cache=True parses the input once for both outputs (right for one file per task); for inputs
    bigger than memory, cache=False re-reads the input for each output instead of spilling."""
    parsed = judge(raw, logical_date)
    if cache:
        parsed = parsed.cache()
    good = parsed.where(F.col(REASON).isNull()).select(
        "event_id",
        "user_id",
        "event_type",
        F.col(PARSED_TIME).alias("event_time"),
        "amount",
        F.upper(F.trim("country")).alias("country"),
        "session_id",
    )
    quarantined = parsed.where(F.col(REASON).isNotNull()).select(
        REASON,
        "event_id",
        F.col("user_id").cast("string").alias("user_id"),
        "event_type",
        "event_time",
        F.col("amount").cast("string").alias("amount"),
        "country",
        "session_id",
        F.col(CORRUPT_COLUMN).alias("raw_record"),
        "source_file",
    )
    return good, quarantined
