"""Independent oracle: DuckDB SQL, written here from the spec and not from the Spark code,
computes the feature table straight from the raw files; Spark's output must match row by row.

Deliberate differences in *how* (same *what*): DuckDB's JSON functions instead of Spark's reader,
SELECT DISTINCT instead of a window for retransmits (copies are exact by the generator's
contract), FILTER clauses instead of CASE counts.
"""
import math
from pathlib import Path

import duckdb

from tests.jobs.conftest import DAY

ORACLE_SQL = """
WITH lines AS (
    SELECT unnest(string_split(rtrim(content, chr(10)), chr(10))) AS raw_line FROM read_text($files)
), parseable AS (
    -- JSON functions raise on malformed text, so only valid documents reach them.
    SELECT CASE WHEN json_valid(raw_line) THEN raw_line END AS line FROM lines
), fields AS (
    SELECT
        json_extract_string(line, '$.event_id') AS event_id,
        TRY_CAST(json_extract_string(line, '$.user_id') AS BIGINT) AS user_id,
        json_extract_string(line, '$.event_type') AS event_type,
        try_strptime(json_extract_string(line, '$.event_time'), '%Y-%m-%dT%H:%M:%S') AS ts,
        TRY_CAST(json_extract_string(line, '$.amount') AS DOUBLE) AS amount,
        upper(trim(json_extract_string(line, '$.country'))) AS country,
        json_extract_string(line, '$.session_id') AS session_id
    FROM parseable
    WHERE line IS NOT NULL
), valid AS (
    SELECT DISTINCT * FROM fields
    WHERE trim(coalesce(event_id, '')) <> ''
      AND user_id IS NOT NULL
      AND ts IS NOT NULL
      AND event_type IN ('view', 'click', 'add_to_cart', 'purchase')
      AND coalesce(amount, 0) >= 0
      AND NOT (event_type = 'purchase' AND amount IS NULL)
      AND ts >= CAST($day AS TIMESTAMP) - INTERVAL 2 DAY
      AND ts < CAST($day AS TIMESTAMP) + INTERVAL 1 DAY
)
SELECT
    user_id,
    count(*) AS events,
    count(*) FILTER (WHERE event_type = 'view') AS views,
    count(*) FILTER (WHERE event_type = 'click') AS clicks,
    count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
    count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
    avg(amount) FILTER (WHERE event_type = 'purchase') AS avg_order_value,
    count(DISTINCT session_id) AS sessions,
    count(DISTINCT country) AS countries,
    min(ts) AS first_event_at,
    max(ts) AS last_event_at,
    epoch(max(ts)) - epoch(min(ts)) AS active_seconds,
    CASE WHEN views > 0 THEN purchases / views END AS conversion_rate
FROM valid
GROUP BY user_id
ORDER BY user_id
"""


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_spark_features_equal_the_duckdb_oracle(raw_root, pipeline_run):
    files = sorted(str(p) for p in (raw_root / "raw/events").rglob("part-*.jsonl"))
    con = duckdb.connect()
    oracle = con.execute(ORACLE_SQL, {"files": files, "day": DAY.isoformat()})
    columns = [d[0] for d in oracle.description]
    expected = [dict(zip(columns, row, strict=True)) for row in oracle.fetchall()]

    location = pipeline_run["layout"].features(DAY)
    spark_rows = con.execute(
        f"SELECT {', '.join(columns)} FROM read_parquet('{Path(location)}/*.parquet') ORDER BY user_id"
    )
    actual = [dict(zip(columns, row, strict=True)) for row in spark_rows.fetchall()]

    assert len(actual) == len(expected) > 100
    mismatches = [
        (e["user_id"], column, e[column], a[column])
        for e, a in zip(expected, actual, strict=True)
        for column in columns
        if not _same(e[column], a[column])
    ]
    assert not mismatches, f"{len(mismatches)} cells differ, first: {mismatches[:5]}"


def test_oracle_counts_agree_with_the_manifest(raw_root, pipeline_run):
    files = sorted(str(p) for p in (raw_root / "raw/events").rglob("part-*.jsonl"))
    con = duckdb.connect()
    lines = con.execute(
        "SELECT count(*) FROM (SELECT unnest(string_split(rtrim(content, chr(10)), chr(10))) FROM read_text($files))",
        {"files": files},
    ).fetchall()[0][0]
    users = len(con.execute(ORACLE_SQL, {"files": files, "day": DAY.isoformat()}).fetchall())
    counts = pipeline_run["manifest"]["counts"]
    assert (counts["rows_in"], counts["rows_out"]) == (lines, users)
