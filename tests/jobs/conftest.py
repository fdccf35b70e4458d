"""One local SparkSession for every jobs test, plus small generated inputs."""
from datetime import date

import pytest

from etl.generate import generate_day
from etl.layout import EventsLayout

DAY = date(2026, 11, 27)


@pytest.fixture(scope="session")
def spark():
    from etl.session import local_session

    session = local_session("tests", master="local[2]", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def raw_root(tmp_path_factory):
    """3 000 generated rows in 2 files: every kind of dirt appears, Spark stays fast."""
    root = tmp_path_factory.mktemp("events")
    generate_day(root / "raw" / "events", DAY, rows=3_000, partitions=2, seed=7)
    return root


@pytest.fixture(scope="session")
def pipeline_run(spark, raw_root):
    """The whole events pipeline once over the shared input; tests read its outputs."""
    from etl import pipeline

    layout = EventsLayout(str(raw_root))
    parts = pipeline.list_partitions(spark, layout, DAY)
    part_stats = [pipeline.validate_partition(spark, layout, DAY, p) for p in parts]
    stats = pipeline.build_user_features(spark, layout, DAY)
    manifest = pipeline.publish_manifest(spark, layout, DAY, run_id="test")
    return {"layout": layout, "parts": parts, "part_stats": part_stats, "stats": stats, "manifest": manifest}
