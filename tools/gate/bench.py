"""Time the whole static gate on all clusters, warm, and print objects checked per run."""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import paths


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    cmd = [sys.executable, "-m", "tools.gate", "--json", str(paths.RUN_DIR / "bench" / "gate-report.json")]
    subprocess.run(cmd, capture_output=True, check=False, cwd=paths.ROOT)  # warm-up: page cache, pyc
    seconds = []
    for _ in range(args.runs):
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=paths.ROOT)
        seconds.append(time.monotonic() - started)
    report = json.loads((paths.RUN_DIR / "bench" / "gate-report.json").read_text())
    result = {
        "runs": args.runs, "median_s": round(statistics.median(seconds), 2), "min_s": round(min(seconds), 2),
        "objects": report["objects"], "failures": len(report["failures"]), "exit_code": proc.returncode,
        "clusters": report["clusters"], "goal_s": 10,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"bench-gate: static gate on {len(report['clusters'])} clusters, {result['objects']} objects: "
          f"median {result['median_s']}s, min {result['min_s']}s over {args.runs} warm runs "
          f"(goal <= {result['goal_s']}s), {result['failures']} failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
