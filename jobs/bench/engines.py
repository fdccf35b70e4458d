"""The events transform (validate -> de-duplicate -> per-user features -> Parquet) on one engine.

Run as `python -m bench.engines spark|duckdb RAW_GLOB OUT_DIR DAY` in a fresh process per
measurement, so the parent can sample the whole process tree's memory (JVM included).
Prints one JSON line: rows in/good/quarantined/out and seconds.
"""
import json
import os
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime

from etl.schema import ALLOWED_LATENESS


def run_spark(raw_glob: str, out_dir: str, day: date) -> dict:
    """One JSON parse and one shuffle label every row (good, rejected with its reason, or
    duplicate); the labelled rows are staged as Parquet, and features and quarantine are then
    cheap column reads of that staging instead of re-parsing the JSON for each output."""
    from pyspark.sql import functions as F

    from etl.dedupe import label_duplicates
    from etl.quarantine import PARSED_TIME, REASON, judge, read_raw
    from etl.session import local_session
    from etl.transform import build_features

    partitions = int(os.environ.get("BENCH_SPARK_SHUFFLE_PARTITIONS", "8"))
    spark = local_session("bench", master="local[2]", shuffle_partitions=partitions)
    phases: dict[str, float] = {}

    def timed(name: str, action) -> None:
        started = time.perf_counter()
        action()
        phases[name] = round(time.perf_counter() - started, 1)

    staging, features_dir, quarantine_dir = (f"{out_dir}/{name}" for name in ("_staging", "features", "quarantine"))
    started = time.perf_counter()
    judged = judge(read_raw(spark, [raw_glob]), day).select(
        REASON, "event_id", "user_id", "event_type", "event_time", PARSED_TIME, "amount", "country",
        F.upper(F.trim("country")).alias("country_clean"), "session_id")
    labelled = label_duplicates(judged, [PARSED_TIME, "event_type", "amount", "country_clean", "session_id", "user_id"])
    # The raw strings are only read back for rejected rows: null (nearly free in Parquet) elsewhere.
    rejected_only = lambda name: F.when(F.col(REASON).isNotNull(), F.col(name)).alias(name)  # noqa: E731
    labelled = labelled.select(*[rejected_only(c) if c in ("event_time", "country") else c for c in labelled.columns])
    timed("parse_label_stage", lambda: labelled.write.mode("overwrite").parquet(staging))

    staged = spark.read.parquet(staging)
    good = staged.where(F.col(REASON).isNull()).select(
        "event_id", "user_id", "event_type", F.col(PARSED_TIME).alias("event_time"), "amount",
        F.col("country_clean").alias("country"), "session_id")
    timed("features", lambda: build_features(good, day).write.mode("overwrite").parquet(features_dir))
    rejected = staged.where(F.col(REASON).isNotNull()).selectExpr(
        REASON, "event_id", "CAST(user_id AS STRING) AS user_id", "event_type", "event_time",
        "CAST(amount AS STRING) AS amount", "country", "session_id")
    timed("quarantine", lambda: rejected.write.mode("overwrite").parquet(quarantine_dir))
    seconds = time.perf_counter() - started
    rows_in = spark.read.text(raw_glob).count()
    rows_quarantined = spark.read.parquet(quarantine_dir).count()
    counts = {"rows_in": rows_in, "rows_good": rows_in - rows_quarantined, "rows_quarantined": rows_quarantined,
              "rows_out": spark.read.parquet(features_dir).count(), "seconds": seconds, "phases": phases}
    spark.stop()
    return counts


DUCKDB_SQL = """
CREATE TEMP TABLE parsed AS
WITH lines AS (
    SELECT json_valid(line) AS ok, CASE WHEN json_valid(line) THEN line END AS doc
    FROM read_csv($raw, columns = {'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '',
                  header = false, auto_detect = false, strict_mode = false)
)
SELECT
    ok,
    json_extract_string(doc, '$.event_id') AS event_id,
    TRY_CAST(json_extract_string(doc, '$.user_id') AS BIGINT) AS user_id,
    json_extract_string(doc, '$.event_type') AS event_type,
    try_strptime(json_extract_string(doc, '$.event_time'), '%Y-%m-%dT%H:%M:%S') AS event_time,
    TRY_CAST(json_extract_string(doc, '$.amount') AS DOUBLE) AS amount,
    upper(trim(json_extract_string(doc, '$.country'))) AS country,
    json_extract_string(doc, '$.session_id') AS session_id
FROM lines;

CREATE TEMP TABLE judged AS
SELECT *, CASE
    WHEN NOT ok THEN 'malformed_record'
    WHEN event_id IS NULL OR trim(event_id) = '' THEN 'missing_event_id'
    WHEN user_id IS NULL THEN 'missing_user_id'
    WHEN event_time IS NULL THEN 'bad_event_time'
    WHEN event_type IS NULL OR event_type NOT IN ('view', 'click', 'add_to_cart', 'purchase') THEN 'unknown_event_type'
    WHEN amount < 0 THEN 'negative_amount'
    WHEN event_type = 'purchase' AND amount IS NULL THEN 'purchase_without_amount'
    WHEN event_time < $earliest THEN 'too_late'
    WHEN event_time >= $end THEN 'future_event_time'
END AS quarantine_reason
FROM parsed;

CREATE TEMP TABLE ranked AS
SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY event_time, event_type, amount, country,
                                                        session_id, user_id) AS copy_no
FROM judged WHERE quarantine_reason IS NULL;

COPY (
    SELECT user_id,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'view') AS views,
        count(*) FILTER (WHERE event_type = 'click') AS clicks,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
        avg(amount) FILTER (WHERE event_type = 'purchase') AS avg_order_value,
        count(DISTINCT session_id) AS sessions,
        count(DISTINCT country) AS countries,
        min(event_time) AS first_event_at,
        max(event_time) AS last_event_at,
        epoch(max(event_time)) - epoch(min(event_time)) AS active_seconds,
        CASE WHEN views > 0 THEN purchases / views END AS conversion_rate
    FROM ranked WHERE copy_no = 1 GROUP BY user_id
) TO '{out}/features.parquet' (FORMAT parquet);

COPY (SELECT * EXCLUDE (ok) FROM judged WHERE quarantine_reason IS NOT NULL)
TO '{out}/quarantine.parquet' (FORMAT parquet);
"""


def run_duckdb(raw_glob: str, out_dir: str, day: date) -> dict:
    import duckdb

    start_of_day = datetime.combine(day, dtime())
    params = {"raw": raw_glob, "earliest": start_of_day - ALLOWED_LATENESS, "end": start_of_day + timedelta(days=1)}
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '3GB'")
    started = time.perf_counter()
    for statement in DUCKDB_SQL.replace("{out}", out_dir).split(";\n"):
        if statement.strip():
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            con.execute(statement, used)
    seconds = time.perf_counter() - started
    one = lambda sql: con.execute(sql).fetchall()[0][0]  # noqa: E731
    rows_in = one("SELECT count(*) FROM judged")
    good = one("SELECT count(*) FROM ranked WHERE copy_no = 1")
    return {"rows_in": rows_in, "rows_good": good, "rows_quarantined": rows_in - good,
            "rows_out": one(f"SELECT count(*) FROM '{out_dir}/features.parquet'"), "seconds": seconds}


def main() -> None:
    engine, raw_glob, out_dir, day = sys.argv[1:5]
    runner = {"spark": run_spark, "duckdb": run_duckdb}[engine]
    print("RESULT " + json.dumps(runner(raw_glob, out_dir, date.fromisoformat(day))), flush=True)


if __name__ == "__main__":
    main()
