"""ETL rows/s on Kubernetes vs local mode, on the same input: after `make bench-dataloop` ran
events_features on the local cluster (.run/bench/dataloop.json), regenerate exactly its raw files
(same day, rows, files and seed) and run them through the DAG's own task functions in one local[2]
session (bench.engines, what `make bench-etl` measures), then keep both figures side by side.

    python jobs/bench/dataloop_local.py [--bench-dir .run/bench]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_etl_bench import REPO, measure  # noqa: E402 (the bench folder is not a package on sys.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-dir", type=Path, default=REPO / ".run" / "bench")
    args = parser.parse_args(argv)
    record_file = args.bench_dir / "dataloop.json"
    if not record_file.exists():
        print(f"{record_file}: no Kubernetes run recorded; run `make bench-dataloop` first", file=sys.stderr)
        return 2
    record = json.loads(record_file.read_text())
    spec = record["input"]
    day = date.fromisoformat(spec["day"])

    sys.path.insert(0, str(REPO / "jobs"))
    from etl.generate import generate_day

    raw_root = REPO / ".run" / "bench-data" / "dataloop"
    shutil.rmtree(raw_root, ignore_errors=True)  # files of an earlier input must not join this one
    parts = generate_day(raw_root, day, spec["rows"], spec["partitions"], seed=spec["seed"])
    local = measure("spark", parts[0].path.parent, args.bench_dir / "dataloop-local-out", day)
    if local["rows_in"] != record["rows_in"]:
        raise SystemExit(f"local mode read {local['rows_in']} rows, the cluster run {record['rows_in']}: not the same input")
    record["local_mode"] = {"rows_in": local["rows_in"], "seconds": round(local["seconds"], 1),
                            "wall_seconds": round(local["wall_seconds"], 1), "rows_per_second": local["rows_per_s"],
                            "peak_rss_mb": local["peak_rss_mb"]}
    record_file.write_text(json.dumps(record, indent=2))
    print(f"same input, {local['rows_in']:,} rows: Kubernetes {record['rows_per_second_whole_run']} rows/s "
          f"(trigger to success, {record['run_seconds']} s), local[2] {local['rows_per_s']} rows/s "
          f"({local['seconds']:.1f} s of steps, {local['wall_seconds']:.1f} s with the session start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
