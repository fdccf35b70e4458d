"""Per-user daily features from clean, de-duplicated events (the training table)."""
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

FEATURE_COLUMNS = [
    "user_id", "events", "views", "clicks", "add_to_carts", "purchases", "revenue",
    "avg_order_value", "sessions", "countries", "first_event_at", "last_event_at",
    "active_seconds", "conversion_rate", "dt",
]


def _count_of(event_type: str):
    return F.count(F.when(F.col("event_type") == event_type, True))


def _distinct_count(column: str):
    # Same result as countDistinct (nulls ignored), but without the Expand step Spark plans for
    # several distinct aggregates, which multiplies the input rows (3x here) before grouping.
    return F.size(F.collect_set(column)).cast("long")  # countDistinct is a long too


def build_features(events: DataFrame, logical_date: date) -> DataFrame:
    purchase_amount = F.when(F.col("event_type") == "purchase", F.col("amount"))
    features = events.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("events"),
        _count_of("view").alias("views"),
        _count_of("click").alias("clicks"),
        _count_of("add_to_cart").alias("add_to_carts"),
        _count_of("purchase").alias("purchases"),
        F.coalesce(F.sum(purchase_amount), F.lit(0.0)).alias("revenue"),
        F.avg(purchase_amount).alias("avg_order_value"),
        _distinct_count("session_id").alias("sessions"),
        _distinct_count("country").alias("countries"),
        F.min("event_time").alias("first_event_at"),
        F.max("event_time").alias("last_event_at"),
    )
    return (
        features.withColumn(
            "active_seconds",
            F.col("last_event_at").cast("long") - F.col("first_event_at").cast("long"),
        )
        .withColumn(
            "conversion_rate",
            F.when(F.col("views") > 0, F.col("purchases") / F.col("views")),
        )
        .withColumn("dt", F.lit(logical_date.isoformat()))
        .select(*FEATURE_COLUMNS)
    )
