"""Independent oracle: DuckDB SQL, written here from the spec and not from the Spark code,
computes the feature table straight from the raw files; Spark's output must match row by row
(tests/jobs/test_oracle.py locally, tests/e2e/dataloop on the cluster's object storage).

Deliberate differences in *how* (same *what*): DuckDB's JSON functions instead of Spark's reader,
SELECT DISTINCT instead of a window for retransmits (copies are exact by the generator's
contract), FILTER clauses instead of CASE counts.
"""
import math

import duckdb

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


def oracle_features(raw_files: list[str], day) -> tuple[list[str], list[dict]]:
    """The feature rows the spec asks for, straight from the raw JSON-lines files: (columns, rows)."""
    oracle = duckdb.connect().execute(ORACLE_SQL, {"files": raw_files, "day": day.isoformat()})
    columns = [d[0] for d in oracle.description]
    return columns, [dict(zip(columns, row, strict=True)) for row in oracle.fetchall()]


def parquet_rows(parquet_glob: str, columns: list[str]) -> list[dict]:
    """`columns` of Parquet files (a glob), ordered by user_id like the oracle."""
    rows = duckdb.connect().execute(f"SELECT {', '.join(columns)} FROM read_parquet('{parquet_glob}') ORDER BY user_id")
    return [dict(zip(columns, row, strict=True)) for row in rows.fetchall()]


def mismatches(expected: list[dict], actual: list[dict]) -> list[tuple]:
    """(user_id, column, expected, actual) of every cell that differs; rows compared in order."""
    assert len(actual) == len(expected), f"{len(actual)} rows, the oracle has {len(expected)}"
    return [(e["user_id"], column, e[column], a[column])
            for e, a in zip(expected, actual, strict=True) for column in e if not _same(e[column], a[column])]


def raw_line_count(raw_files: list[str]) -> int:
    return duckdb.connect().execute(
        "SELECT count(*) FROM (SELECT unnest(string_split(rtrim(content, chr(10)), chr(10))) FROM read_text($files))",
        {"files": raw_files},
    ).fetchall()[0][0]
