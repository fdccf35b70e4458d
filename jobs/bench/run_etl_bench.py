"""`make bench-etl`: the events transform on 1M/5M/20M generated rows, Spark local[2] running the
events_features DAG's task functions vs DuckDB (2 threads), plus DAG parse times. Prints a table,
writes .run/bench/etl.json and, with --markdown, the committed summary (jobs/BENCHMARKS.md).

Input is generated once per size and cached under .run/bench/data. Each engine run is its own
process; peak RSS is the max, over 0.2 s samples, of the summed RSS of that process tree.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 27)
ROWS_PER_FILE = 500_000
NOTES_MARKER = "<!-- notes: kept across runs -->"


def ensure_data(data_dir: Path, rows: int) -> Path:
    sys.path.insert(0, str(REPO / "jobs"))
    from etl.generate import generate_day

    root = data_dir / f"rows={rows}"
    files = max(1, rows // ROWS_PER_FILE)
    day_dir = root / f"dt={DAY}"
    done = root / "_GENERATED"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        started = time.perf_counter()
        generate_day(root, DAY, rows, files, seed=2026)
        done.write_text(json.dumps({"rows": rows, "files": files, "seconds": time.perf_counter() - started}))
    return day_dir


def measure(engine: str, raw_dir: Path, out_dir: Path, day: date = DAY) -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "jobs"), os.environ.get("PYTHONPATH", "")]),
               ETL_SPARK_DRIVER_MEMORY=os.environ.get("ETL_SPARK_DRIVER_MEMORY", "3g"))
    cmd = [sys.executable, "-m", "bench.engines", engine, f"{raw_dir}/*.jsonl", str(out_dir), day.isoformat()]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    output = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"{engine} run on {raw_dir} failed (exit {proc.returncode}):\n{output[-2000:]}")
    result = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    result["wall_seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = round(peak / 2**20)
    result["rows_per_s"] = round(result["rows_in"] / result["seconds"])
    return result


PARSE_SCRIPT = """
import json, statistics, sys, time
from airflow.dag_processing.dagbag import DagBag
out = {}
for path in sys.argv[1:]:
    t = time.perf_counter(); DagBag(dag_folder=path, safe_mode=False)  # first parse: imports providers
    out[path.rsplit('/', 1)[1] + " (first)"] = round((time.perf_counter() - t) * 1000, 1)
    times = []
    for _ in range(5):
        t = time.perf_counter(); bag = DagBag(dag_folder=path, safe_mode=False); times.append(time.perf_counter() - t)
        assert not bag.import_errors, bag.import_errors
    out[path.rsplit('/', 1)[1]] = round(statistics.median(times) * 1000, 1)
print(json.dumps(out))
"""


def dag_parse_ms() -> dict:
    files = sorted(str(p) for p in (REPO / "dags").glob("*.py"))
    env = dict(os.environ, ETL_SPARK_MODE="local", AIRFLOW__CORE__LOAD_EXAMPLES="False",
               PYTHONPATH=os.pathsep.join([str(REPO / "dags"), str(REPO / "jobs")]))
    result = {}
    for mode in ("local", "kubernetes"):
        env["ETL_SPARK_MODE"] = mode
        out = subprocess.run([sys.executable, "-c", PARSE_SCRIPT, *files], env=env, capture_output=True, text=True,
                             check=True)
        result[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def markdown(results: dict) -> str:
    lines = [
        "# ETL benchmarks",
        "",
        "Written by `make bench-etl` (jobs/bench/run_etl_bench.py); raw numbers in .run/bench/etl.json.",
        "Same transform on both engines: parse JSON lines, validate + quarantine, de-duplicate,",
        "per-user features, write Parquet. Spark runs what the `events_features` DAG runs: its five",
        "tasks' functions (`etl.pipeline`: list, validate each file, build features, check quality,",
        "publish the manifest) in one session, `local[2]` (driver 3g); DuckDB runs the same rules as",
        "one SQL script, 2 threads (3GB limit). rows/s = input rows / seconds of all steps (engine",
        "start excluded; wall includes it). Per-task seconds: `phases` in .run/bench/etl.json.",
        "",
        f"Measured {results['measured_at']} on {results['machine']}.",
        "",
        "| rows | engine | seconds | wall s | rows/s | peak RSS MB | Spark/DuckDB rows/s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        s, d = size["spark"], size["duckdb"]
        lines.append(f"| {size['rows_in']:,} | Spark | {s['seconds']:.1f} | {s['wall_seconds']:.1f} | "
                     f"{s['rows_per_s']:,} | {s['peak_rss_mb']:,} | {size['spark_to_duckdb']:.2f} |")
        lines.append(f"| {size['rows_in']:,} | DuckDB | {d['seconds']:.1f} | {d['wall_seconds']:.1f} | "
                     f"{d['rows_per_s']:,} | {d['peak_rss_mb']:,} | |")
    lines += ["", "DAG parse time, ms: median of 5 DagBag parses after a first one "
              "(first = in a fresh process, incl. provider imports):", "",
              "| file | local mode | kubernetes mode |", "|---|---:|---:|"]
    for name in results["dag_parse_ms"]["local"]:
        lines.append(f"| {name} | {results['dag_parse_ms']['local'][name]} | "
                     f"{results['dag_parse_ms']['kubernetes'][name]} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "1000000,5000000,20000000"))
    parser.add_argument("--bench-dir", type=Path, default=REPO / ".run" / "bench")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    results = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {round(psutil.virtual_memory().total / 2**30)} GiB, "
                   f"load avg {os.getloadavg()[0]:.1f} at start, {platform.python_version()}",
        "sizes": [],
    }
    print(f"{'rows':>12} {'engine':<7} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'ratio':>6}", flush=True)
    for rows in (int(s) for s in args.sizes.split(",")):
        raw_dir = ensure_data(args.bench_dir / "data", rows)
        spark = measure("spark", raw_dir, args.bench_dir / "out" / "spark")
        duck = measure("duckdb", raw_dir, args.bench_dir / "out" / "duckdb")
        if [spark[k] for k in ("rows_in", "rows_good", "rows_out")] != [duck[k] for k in ("rows_in", "rows_good", "rows_out")]:
            raise SystemExit(f"engines disagree at {rows} rows: spark {spark} duckdb {duck}")
        ratio = spark["rows_per_s"] / duck["rows_per_s"]
        results["sizes"].append({"rows_requested": rows, "rows_in": spark["rows_in"], "spark": spark,
                                 "duckdb": duck, "spark_to_duckdb": round(ratio, 3)})
        for name, r in (("spark", spark), ("duckdb", duck)):
            print(f"{r['rows_in']:>12,} {name:<7} {r['seconds']:>8.1f} {r['rows_per_s']:>10,} {r['peak_rss_mb']:>12,}"
                  f" {ratio if name == 'spark' else '':>6.2}" if name == "spark" else
                  f"{r['rows_in']:>12,} {name:<7} {r['seconds']:>8.1f} {r['rows_per_s']:>10,} {r['peak_rss_mb']:>12,}",
                  flush=True)
    results["dag_parse_ms"] = dag_parse_ms()
    print("DAG parse ms (median warm):", json.dumps(results["dag_parse_ms"]), flush=True)
    args.bench_dir.mkdir(parents=True, exist_ok=True)
    (args.bench_dir / "etl.json").write_text(json.dumps(results, indent=2))
    print(f"results: {args.bench_dir / 'etl.json'}")
    if args.markdown:
        # Hand-written notes below the marker survive a re-run; the tables above it are regenerated.
        old = args.markdown.read_text() if args.markdown.exists() else ""
        notes = old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else NOTES_MARKER + "\n"
        args.markdown.write_text(markdown(results) + "\n" + notes)
        print(f"summary: {args.markdown}")


if __name__ == "__main__":
    main()
