"""The generator is deterministic and really injects the dirt the pipeline must handle."""
import json

from etl.generate import generate_day
from tests.jobs.conftest import DAY


def _lines(parts):
    return [line for p in parts for line in p.path.read_text().splitlines()]


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    first = generate_day(tmp_path / "a", DAY, rows=500, partitions=2, seed=1)
    again = generate_day(tmp_path / "b", DAY, rows=500, partitions=2, seed=1)
    other = generate_day(tmp_path / "c", DAY, rows=500, partitions=2, seed=2)
    assert [p.path.read_bytes() for p in first] == [p.path.read_bytes() for p in again]
    assert [p.path.read_bytes() for p in first] != [p.path.read_bytes() for p in other]


def test_dirt_is_present(tmp_path):
    parts = generate_day(tmp_path, DAY, rows=5_000, partitions=1, seed=3)
    lines = _lines(parts)
    assert sum(p.rows for p in parts) == len(lines)
    parsed, malformed = [], 0
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            malformed += 1
    ids = [r.get("event_id") for r in parsed if r.get("event_id")]
    assert malformed > 0
    assert len(ids) > len(set(ids)), "expected duplicated event ids"
    assert any("client_hint" in r for r in parsed), "expected unknown fields"
    assert any(r.get("user_id") is None for r in parsed)
    assert any(r.get("event_type") not in ("view", "click", "add_to_cart", "purchase") for r in parsed)
    assert any(str(r.get("event_time", "")).startswith("2026-11-26") for r in parsed), "expected late events"
    assert any((r.get("country") or "").islower() for r in parsed)


def test_rows_scale_with_the_request(tmp_path):
    small = generate_day(tmp_path / "s", DAY, rows=1_000, partitions=2)
    large = generate_day(tmp_path / "l", DAY, rows=10_000, partitions=4)
    assert len(large) == 4
    assert 9.5 < sum(p.rows for p in large) / sum(p.rows for p in small) < 10.5
