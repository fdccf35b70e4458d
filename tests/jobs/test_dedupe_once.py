"""build_user_features (the DAG's build_features task) de-duplicates its input once, and its output is
exactly what the de-duplication rule (etl.dedupe.dedupe) and etl.transform.build_features give.

How "once" is observed: the staged events the task reads are wrapped in a filter that counts every
row it lets through (a non-deterministic Python UDF adding to an accumulator, so Spark can neither
skip nor reuse it). Each evaluation of the de-duplication window reads the staged input again, so
rows counted / staged rows = how many times the window ran. Before the fix it ran three times (the
duplicate count, the cached unique rows, the duplicates' quarantine write).
"""
import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType

from etl import atomic, pipeline
from etl.dedupe import dedupe
from etl.generate import generate_day
from etl.layout import EventsLayout
from etl.quarantine import REASON
from etl.transform import build_features
from tests.jobs.conftest import DAY


class _CountingReader:
    def __init__(self, reader, probe):
        self._reader, self._probe = reader, probe

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def parquet(self, *paths):
        df = self._reader.parquet(*paths)
        if any("/staged/" in str(p) for p in paths):
            df = df.where(self._probe(F.col("event_id")))
        return df


class _CountingSpark:
    """The SparkSession, except that reads of staged events count the rows they pass on."""

    def __init__(self, spark):
        self._spark = spark
        self.rows_read = spark.sparkContext.accumulator(0)
        counter = self.rows_read

        def passes(_):
            counter.add(1)
            return True

        # Not Arrow-optimized: this venv has no pyarrow.
        self._probe = F.udf(passes, BooleanType(), useArrow=False).asNondeterministic()

    def __getattr__(self, name):
        return getattr(self._spark, name)

    @property
    def read(self):
        return _CountingReader(self._spark.read, self._probe)


def _rows(df, columns):
    return sorted((tuple(r[c] for c in columns) for r in df.collect()), key=repr)


@pytest.fixture(scope="module")
def validated(spark, tmp_path_factory):
    """A small day (with retransmitted duplicates) validated the way the DAG's mapped task does it."""
    root = tmp_path_factory.mktemp("dedupe-once")
    generate_day(root / "raw" / "events", DAY, rows=2_000, partitions=2, seed=11)
    layout = EventsLayout(str(root))
    for part in pipeline.list_partitions(spark, layout, DAY):
        pipeline.validate_partition(spark, layout, DAY, part)
    staged = [atomic.resolve_partition(spark, layout.staged(DAY, p)) for p in pipeline._staged_parts(spark, layout, DAY)]
    return layout, spark.read.parquet(*staged)


def test_build_user_features_runs_the_dedupe_window_once(spark, validated):
    layout, events = validated
    staged_rows = events.count()
    counting = _CountingSpark(spark)
    pipeline.build_user_features(counting, layout, DAY)
    assert counting.rows_read.value == staged_rows, (
        f"the staged input was read {counting.rows_read.value / staged_rows:.1f} times: "
        "the de-duplication window must run once")


def test_build_user_features_output_is_the_dedupe_rule_applied(spark, validated):
    layout, events = validated
    stats = pipeline.build_user_features(spark, layout, DAY)
    unique, duplicates = dedupe(events)
    assert duplicates.count() > 0, "the generated input must contain duplicates for this test to mean anything"

    expected = build_features(unique, DAY).drop("dt")
    written = spark.read.parquet(atomic.resolve_partition(spark, layout.features(DAY)))
    assert written.columns == expected.columns
    exact = [c for c in expected.columns if c not in ("revenue", "avg_order_value", "conversion_rate")]
    assert _rows(written, exact) == _rows(expected, exact)
    # Floating sums may be added up in another order: equal to the last few ulps.
    close = ["user_id", "revenue", "avg_order_value", "conversion_rate"]
    got_rows, want_rows = _rows(written, close), _rows(expected, close)
    assert len(got_rows) == len(want_rows)
    for got, want in zip(got_rows, want_rows, strict=True):
        assert got[0] == want[0]
        for g, w in zip(got[1:], want[1:], strict=True):
            assert (g is None and w is None) or g == pytest.approx(w, rel=1e-12, abs=1e-12), (got, want)

    dup_columns = [*events.columns, REASON]
    written_dups = spark.read.parquet(atomic.resolve_partition(spark, layout.quarantine(DAY, "dedupe")))
    assert _rows(written_dups, dup_columns) == _rows(duplicates, dup_columns)

    assert stats["good"] == unique.count()
    assert stats["rows_out"] == expected.count()
    assert stats["by_reason"]["duplicate_event_id"] == duplicates.count()
    assert stats["rows_in"] == stats["good"] + stats["quarantined"]
