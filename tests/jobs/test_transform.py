"""Unit tests of each step on hand-written rows, so every expected value is known."""
import json
from datetime import datetime

import pytest

from etl.dedupe import dedupe, label_duplicates
from etl.quarantine import REASON, read_raw, split_valid
from etl.transform import build_features
from tests.jobs.conftest import DAY


def _event(**overrides):
    row = {"event_id": "e1", "user_id": 1, "event_type": "view", "event_time": "2026-11-27T10:00:00",
           "amount": None, "country": "KR", "session_id": "s1"}
    row.update(overrides)
    return json.dumps(row)


@pytest.fixture
def raw_file(tmp_path):
    def write(lines):
        path = tmp_path / "part-00000.jsonl"
        path.write_text("\n".join(lines) + "\n")
        return [str(path)]

    return write


CASES = [
    ('{"event_id": "e1", "user_id": ', "malformed_record"),
    (_event(event_id=None), "missing_event_id"),
    (_event(event_id="  "), "missing_event_id"),
    (_event(event_id="u", user_id=None), "missing_user_id"),
    (_event(event_id="t", event_time="27/11/2026 10:00"), "bad_event_time"),
    (_event(event_id="k", event_type="refund"), "unknown_event_type"),
    (_event(event_id="n", amount=-3.0), "negative_amount"),
    (_event(event_id="p", event_type="purchase", amount=None), "purchase_without_amount"),
    (_event(event_id="l", event_time="2026-11-24T23:59:59"), "too_late"),
    (_event(event_id="f", event_time="2026-11-28T00:00:00"), "future_event_time"),
    # Several rules broken at once: the first rule in order names the reason.
    (_event(event_id="m", user_id=None, event_type="refund", amount=-1.0), "missing_user_id"),
]


def test_each_rule_quarantines_with_its_reason(spark, raw_file):
    # One Spark job for all cases keeps the suite fast; ids tie each row back to its case.
    good, bad = split_valid(read_raw(spark, raw_file([line for line, _ in CASES])), DAY)
    assert good.count() == 0
    got = sorted((r.event_id or r.raw_record or "", r[REASON]) for r in bad.collect())
    expected = sorted((json.loads(line)["event_id"] or "" if reason != "malformed_record" else line, reason)
                      for line, reason in CASES)
    assert got == expected


def test_good_rows_pass_with_unknown_fields_late_arrivals_and_normalised_country(spark, raw_file):
    lines = [
        _event(event_id="a", client_hint="beta"),  # unknown field: ignored, row kept
        _event(event_id="b", event_time="2026-11-25T00:00:00"),  # exactly at the lateness limit
        _event(event_id="c", country=" jp "),
    ]
    good, bad = split_valid(read_raw(spark, raw_file(lines)), DAY)
    assert bad.count() == 0
    rows = {r.event_id: r for r in good.collect()}
    assert set(rows) == {"a", "b", "c"}
    assert rows["c"].country == "JP"
    assert rows["b"].event_time == datetime(2026, 11, 25)


def test_dedupe_keeps_the_earliest_copy_and_quarantines_the_rest(spark):
    rows = [
        ("e1", 1, "view", datetime(2026, 11, 27, 9), None, "KR", "s"),
        ("e1", 1, "view", datetime(2026, 11, 27, 8), None, "KR", "s"),
        ("e1", 1, "view", datetime(2026, 11, 27, 8), None, "KR", "s"),
        ("e2", 2, "click", datetime(2026, 11, 27, 8), None, "KR", "s"),
    ]
    df = spark.createDataFrame(rows, "event_id string, user_id long, event_type string, event_time timestamp, "
                                     "amount double, country string, session_id string")
    unique, dups = dedupe(df)
    kept = {r.event_id: r.event_time for r in unique.collect()}
    assert kept == {"e1": datetime(2026, 11, 27, 8), "e2": datetime(2026, 11, 27, 8)}
    assert dups.count() == 2
    assert {r[REASON] for r in dups.collect()} == {"duplicate_event_id"}


def test_features_of_one_user(spark):
    rows = [
        ("a", 1, "view", datetime(2026, 11, 27, 8, 0), None, "KR", "s1"),
        ("b", 1, "view", datetime(2026, 11, 27, 8, 5), None, "JP", "s1"),
        ("c", 1, "purchase", datetime(2026, 11, 27, 9, 0), 30.0, "KR", "s2"),
        ("d", 1, "purchase", datetime(2026, 11, 27, 9, 30), 10.0, None, None),
        ("e", 1, "click", datetime(2026, 11, 27, 9, 0), 99.0, "KR", "s2"),  # amount on a click: not revenue
        ("f", 2, "click", datetime(2026, 11, 27, 12, 0), None, None, None),
    ]
    df = spark.createDataFrame(rows, "event_id string, user_id long, event_type string, event_time timestamp, "
                                     "amount double, country string, session_id string")
    out = {r.user_id: r for r in build_features(df, DAY).collect()}
    one, two = out[1], out[2]
    assert (one.events, one.views, one.clicks, one.purchases, one.add_to_carts) == (5, 2, 1, 2, 0)
    assert one.revenue == pytest.approx(40.0)
    assert one.avg_order_value == pytest.approx(20.0)
    assert one.conversion_rate == pytest.approx(1.0)
    assert (one.sessions, one.countries) == (2, 2)
    assert one.active_seconds == 90 * 60
    assert one.dt == "2026-11-27"
    assert (two.revenue, two.avg_order_value, two.conversion_rate, two.sessions) == (0.0, None, None, 0)


def test_label_duplicates_agrees_with_dedupe_and_keeps_earlier_reasons(spark):
    rows = [
        ("e1", 1, "view", datetime(2026, 11, 27, 9), None, "KR", "s", None),
        ("e1", 1, "view", datetime(2026, 11, 27, 8), None, "KR", "s", None),
        ("e1", 1, "view", datetime(2026, 11, 27, 8), None, "KR", "s", None),
        ("e1", 1, "view", datetime(2026, 11, 27, 7), -1.0, "KR", "s", "negative_amount"),  # not a copy
        ("e2", 2, "click", datetime(2026, 11, 27, 8), None, "KR", "s", None),
    ]
    df = spark.createDataFrame(rows, "event_id string, user_id long, event_type string, event_time timestamp, "
                                     f"amount double, country string, session_id string, {REASON} string")
    labelled = label_duplicates(df, ["event_time", "event_type", "amount", "country", "session_id", "user_id"])
    reasons = sorted((r.event_id, r.event_time.hour, r[REASON] or "") for r in labelled.collect())
    assert reasons == [("e1", 7, "negative_amount"), ("e1", 8, ""), ("e1", 8, "duplicate_event_id"),
                       ("e1", 9, "duplicate_event_id"), ("e2", 8, "")]
    unique, _ = dedupe(df.where(f"{REASON} IS NULL").drop(REASON))
    assert {(r.event_id, r.event_time) for r in unique.collect()} == \
        {(r.event_id, r.event_time) for r in labelled.where(f"{REASON} IS NULL").collect()}
