"""The events transform (validate -> de-duplicate -> per-user features -> Parquet) on one engine:
for Spark, the functions the events_features DAG runs; for DuckDB, the same rules in one SQL script.

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
    """The events_features DAG's tasks, in its order, on its functions (etl.pipeline, the same calls
    dags/events_features.py makes in local mode and etl.cli in a SparkApplication): list_partitions,
    validate_partition per raw file, build_user_features, check_quality, publish_manifest.

    Differences from an Airflow run, all outside the measured functions: one SparkSession for every
    task (each Airflow task starts its own, about 7 s), validate_partition runs its files one after
    the other (the DAG maps it, two at a time), and the raw files are the generated ones, linked
    into the layout's raw/events/dt=DAY."""
    from etl import pipeline
    from etl.layout import EventsLayout
    from etl.session import local_session

    raw_day_dir = os.path.dirname(raw_glob)
    if os.path.basename(raw_day_dir) != f"dt={day.isoformat()}":
        raise SystemExit(f"spark: expected RAW_GLOB under .../dt={day.isoformat()}/, got {raw_glob}")
    lake = os.path.join(out_dir, "lake")
    os.makedirs(os.path.join(lake, "raw"), exist_ok=True)
    os.symlink(os.path.dirname(os.path.abspath(raw_day_dir)), os.path.join(lake, "raw", "events"))
    layout = EventsLayout(lake)

    # The DAG's session (etl.session.local_session, its default shuffle partitions) on 2 cores.
    spark = local_session("bench", master="local[2]")
    phases: dict[str, float] = {}

    def timed(name: str, action):
        started = time.perf_counter()
        result = action()
        phases[name] = round(phases.get(name, 0.0) + time.perf_counter() - started, 1)
        return result

    started = time.perf_counter()
    parts = timed("list_partitions", lambda: pipeline.list_partitions(spark, layout, day))
    for part in parts:
        timed("validate_partition", lambda part=part: pipeline.validate_partition(spark, layout, day, part))
    stats = timed("build_features", lambda: pipeline.build_user_features(spark, layout, day))
    timed("check_quality", lambda: pipeline.check_quality(spark, layout, day))
    timed("publish_manifest", lambda: pipeline.publish_manifest(spark, layout, day, "bench"))
    seconds = time.perf_counter() - started
    counts = {"rows_in": stats["rows_in"], "rows_good": stats["good"], "rows_quarantined": stats["quarantined"],
              "rows_out": stats["rows_out"], "seconds": seconds, "phases": phases, "partitions": len(parts)}
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
