"""Seeded generator of raw event files with realistic dirt.

Same (seed, date, rows, partitions) -> byte-identical files. Vectorised with numpy/pandas so it
scales from thousands of rows (tests) to tens of millions (bench) without a Python loop per row;
only the few dirty lines are edited one by one.

Dirt injected (fractions of rows, see DIRT): malformed JSON, unknown extra fields, null ids,
unparseable timestamps, unknown event types, negative amounts, purchases without amount,
lower-case countries, late events (inside and beyond the allowed lateness), future events and
exact duplicates (retransmits).
"""
import argparse
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from etl.schema import EVENT_TYPES

COUNTRIES = np.array(["KR", "JP", "US", "DE", "VN", "SG"])
EVENT_TYPE_WEIGHTS = np.array([0.6, 0.25, 0.1, 0.05])

DIRT = {
    "malformed": 0.004,
    "unknown_field": 0.01,
    "null_event_id": 0.002,
    "null_user_id": 0.004,
    "bad_time": 0.003,
    "unknown_type": 0.003,
    "negative_amount": 0.002,
    "purchase_no_amount": 0.002,
    "lower_country": 0.02,
    "null_country": 0.01,
    "late_ok": 0.03,
    "late_too_old": 0.003,
    "future": 0.002,
    "duplicate": 0.02,
}


@dataclass(frozen=True)
class GeneratedPartition:
    path: Path
    rows: int


def _clean_frame(rng: np.random.Generator, day: date, rows: int, partition: int, users: int) -> pd.DataFrame:
    day_start = np.datetime64(datetime(day.year, day.month, day.day), "s")
    offsets = rng.integers(0, 86_400, rows)
    event_type = np.array(EVENT_TYPES)[rng.choice(len(EVENT_TYPES), rows, p=EVENT_TYPE_WEIGHTS)]
    amount = np.where(event_type == "purchase", np.round(rng.gamma(2.0, 20.0, rows) + 1.0, 2), np.nan)
    serial = np.arange(rows, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "event_id": pd.Series(serial).map(f"{day:%Y%m%d}-{partition:03d}-{{:09d}}".format),
            "user_id": pd.array(rng.integers(1, users + 1, rows), dtype="Int64"),
            "event_type": event_type,
            "event_time": np.datetime_as_string(day_start + offsets, unit="s"),
            "amount": amount,
            "country": COUNTRIES[rng.integers(0, len(COUNTRIES), rows)].astype(object),
            "session_id": pd.Series(rng.integers(0, users * 3, rows)).map("s{:07d}".format),
        }
    )
    return frame


def _pick(rng: np.random.Generator, rows: int, fraction: float) -> np.ndarray:
    count = int(round(rows * fraction))
    return rng.choice(rows, count, replace=False) if count else np.array([], dtype=np.int64)


def _dirty_frame(rng: np.random.Generator, frame: pd.DataFrame, day: date) -> pd.DataFrame:
    rows = len(frame)
    day_start = np.datetime64(datetime(day.year, day.month, day.day), "s")

    def set_values(name: str, column: str, value) -> None:
        frame.loc[_pick(rng, rows, DIRT[name]), column] = value

    set_values("null_event_id", "event_id", None)
    set_values("null_user_id", "user_id", pd.NA)
    set_values("unknown_type", "event_type", "refund")
    set_values("null_country", "country", None)
    lower = _pick(rng, rows, DIRT["lower_country"])
    frame.loc[lower, "country"] = frame.loc[lower, "country"].str.lower()
    negative = _pick(rng, rows, DIRT["negative_amount"])
    frame.loc[negative, "amount"] = -frame.loc[negative, "amount"].fillna(5.0).abs()
    purchases = np.flatnonzero(frame["event_type"].to_numpy() == "purchase")
    if len(purchases):
        no_amount = rng.choice(purchases, int(round(rows * DIRT["purchase_no_amount"])), replace=True)
        frame.loc[no_amount, "amount"] = np.nan

    def shift_time(name: str, low_s: int, high_s: int) -> None:
        picked = _pick(rng, rows, DIRT[name])
        moments = day_start + rng.integers(low_s, high_s, len(picked))
        frame.loc[picked, "event_time"] = np.datetime_as_string(moments, unit="s")

    shift_time("late_ok", -86_400, -60)  # happened yesterday, arrived today: still counted
    shift_time("late_too_old", -6 * 86_400, -3 * 86_400)  # older than the allowed lateness
    shift_time("future", 86_400 + 3_600, 3 * 86_400)  # clock skew on the client
    set_values("bad_time", "event_time", "yesterday-ish")

    # Retransmits: exact copies of random earlier rows, spread through the file.
    copies = frame.iloc[_pick(rng, rows, DIRT["duplicate"])]
    frame = pd.concat([frame, copies], ignore_index=True)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def _to_lines(rng: np.random.Generator, frame: pd.DataFrame) -> list[str]:
    lines = frame.to_json(orient="records", lines=True).splitlines()
    for index in _pick(rng, len(lines), DIRT["unknown_field"]):
        lines[index] = lines[index][:-1] + ',"client_hint":"beta-app"}'
    for index in _pick(rng, len(lines), DIRT["malformed"]):
        lines[index] = lines[index][: max(1, len(lines[index]) // 2)]  # truncated write
    return lines


def generate_partition(out_dir: Path, day: date, partition: int, rows: int, seed: int, users: int) -> GeneratedPartition:
    """Write one raw file `part-NNNNN.jsonl` of about `rows` rows (plus duplicates)."""
    rng = np.random.default_rng([seed, day.toordinal(), partition])
    frame = _dirty_frame(rng, _clean_frame(rng, day, rows, partition, users), day)
    lines = _to_lines(rng, frame)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"part-{partition:05d}.jsonl"
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return GeneratedPartition(path, len(lines))


def generate_day(raw_root: Path, day: date, rows: int, partitions: int = 4, seed: int = 42,
                 users: int | None = None) -> list[GeneratedPartition]:
    """Generate `rows` clean rows for `day` split over `partitions` files under raw_root/dt=DAY/."""
    users = users or max(10, rows // 20)
    out_dir = Path(raw_root) / f"dt={day.isoformat()}"
    per_part = [rows // partitions + (1 if i < rows % partitions else 0) for i in range(partitions)]
    return [generate_partition(out_dir, day, i, n, seed, users) for i, n in enumerate(per_part)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-root", required=True, type=Path)
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    parts = generate_day(args.raw_root, args.date, args.rows, args.partitions, args.seed)
    print(json.dumps([{"path": str(p.path), "rows": p.rows} for p in parts]))


if __name__ == "__main__":
    main()
