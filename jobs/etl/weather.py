"""Second pipeline, on data nobody here wrote: Seattle daily weather 2012-2015 shipped inside the
`vega_datasets` package. Validates each day, quarantines bad ones with a reason, and commits
monthly climate features per year partition (one mapped task per year)."""
import json
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from etl import atomic, storage
from etl.quarantine import REASON

SOURCE_SCHEMA = StructType(
    [
        StructField("date", StringType()),
        StructField("precipitation", DoubleType()),
        StructField("temp_max", DoubleType()),
        StructField("temp_min", DoubleType()),
        StructField("wind", DoubleType()),
        StructField("weather", StringType()),
    ]
)
WEATHER_KINDS = ("sun", "fog", "rain", "drizzle", "snow")
WET_KINDS = ("rain", "drizzle", "snow")
TEMPERATURE_RANGE_C = (-40.0, 50.0)
DATE_FORMAT = "yyyy/MM/dd"


def packaged_source() -> str:
    from vega_datasets import local_data

    return str(local_data.seattle_weather.filepath)


@dataclass(frozen=True)
class WeatherLayout:
    root: str

    def monthly(self, year: int) -> str:
        return storage.join(self.root, "features/seattle_weather_monthly", f"year={year}")

    def quarantine(self, year: int) -> str:
        return storage.join(self.root, "quarantine/seattle_weather", f"year={year}")


def read_source(spark, uri: str) -> DataFrame:
    return spark.read.schema(SOURCE_SCHEMA).option("header", "true").option("mode", "PERMISSIVE").csv(uri)


def _reason(day: Column) -> Column:
    low, high = TEMPERATURE_RANGE_C
    return (
        F.when(day.isNull(), F.lit("bad_date"))
        .when(F.col("temp_max").isNull() | F.col("temp_min").isNull(), F.lit("missing_temperature"))
        .when(F.col("temp_min") > F.col("temp_max"), F.lit("temp_min_above_max"))
        .when((F.col("temp_min") < low) | (F.col("temp_max") > high), F.lit("temperature_out_of_range"))
        .when(F.col("precipitation").isNull() | (F.col("precipitation") < 0), F.lit("bad_precipitation"))
        .when(~F.col("weather").isin(*WEATHER_KINDS) | F.col("weather").isNull(), F.lit("unknown_weather"))
    )


def split_days(source: DataFrame, year: int) -> tuple[DataFrame, DataFrame]:
    """(good days of `year`, quarantined days of `year` incl. repeated dates)."""
    day = F.try_to_date(F.col("date"), DATE_FORMAT)
    parsed = source.withColumn("day", day).withColumn(REASON, _reason(F.col("day")))
    parsed = parsed.where(F.year("day") == year).cache()
    # Only valid rows compete for a date: a broken row must not push out the good one.
    first = Window.partitionBy("day", REASON).orderBy("temp_max", "temp_min", "precipitation", "wind", "weather")
    ranked = parsed.withColumn(
        REASON, F.coalesce(F.col(REASON), F.when(F.row_number().over(first) > 1, F.lit("duplicate_date")))
    )
    good = ranked.where(F.col(REASON).isNull()).drop(REASON)
    bad = ranked.where(F.col(REASON).isNotNull())
    return good, bad


def monthly_features(days: DataFrame) -> DataFrame:
    wet = F.col("weather").isin(*WET_KINDS)
    return (
        days.groupBy(F.month("day").alias("month"))
        .agg(
            F.count(F.lit(1)).alias("days"),
            F.avg("temp_max").alias("avg_temp_max"),
            F.avg("temp_min").alias("avg_temp_min"),
            F.max("temp_max").alias("max_temp"),
            F.min("temp_min").alias("min_temp"),
            F.sum("precipitation").alias("total_precipitation"),
            F.count(F.when(wet, True)).alias("wet_days"),
            F.avg("wind").alias("avg_wind"),
        )
        .orderBy("month")
    )


def run_year(spark, layout: WeatherLayout, year: int, source_uri: str | None = None) -> dict:
    source = read_source(spark, source_uri or packaged_source())
    good, bad = split_days(source, year)
    rows_in = source.where(F.year(F.try_to_date(F.col("date"), DATE_FORMAT)) == year).count()
    good_rows, bad_rows = good.count(), bad.count()
    # Rows whose date does not parse belong to no year: they are quarantined under every year's
    # run as bad_date, so count them into this year's input too.
    unparsed = source.where(F.try_to_date(F.col("date"), DATE_FORMAT).isNull())
    rows_in += unparsed.count()
    bad = bad.unionByName(unparsed.withColumn("day", F.lit(None).cast("date")).withColumn(REASON, F.lit("bad_date")))
    bad_rows += unparsed.count()
    features = monthly_features(good)
    stats = {"year": year, "rows_in": rows_in, "good": good_rows, "quarantined": bad_rows,
             "rows_out": features.count()}
    if rows_in != good_rows + bad_rows:
        raise AssertionError(f"rows lost in seattle-weather {year}: {stats}")
    if stats["rows_out"] == 0:
        raise ValueError(f"seattle-weather: no valid days for year {year} in {source_uri or packaged_source()}")
    side = {"_stats.json": json.dumps(stats, sort_keys=True)}
    atomic.write_partition(spark, layout.quarantine(year), lambda t: bad.coalesce(1).write.mode("overwrite").parquet(t), side)
    atomic.write_partition(spark, layout.monthly(year), lambda t: features.coalesce(1).write.mode("overwrite").parquet(t), side)
    return stats
