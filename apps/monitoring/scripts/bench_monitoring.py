#!/usr/bin/env python3
"""Benchmark the monitoring checks and size the monitoring-as-code (for `make bench`).

Times `promtool check rules` (rule files + every dashboard query) and `promtool test rules` over
several runs, counts alerts, recording rules, dashboards, panels, queries and catalogued metrics,
prints a summary and writes JSON.

    bench_monitoring.py --runs 3 --out .run/bench/monitoring.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "monitoring"))

from monitoring_support import (  # noqa: E402  (path set up above)
    DASHBOARDS_DIR,
    RULE_TESTS_DIR,
    RULES_DIR,
    catalogue,
    panel_queries,
    queries_as_rule_file,
    tool,
)


def timed(command: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import yaml
    promtool = str(tool("promtool"))
    rule_files = sorted(RULES_DIR.glob("*.yaml"))
    rules = [r for p in rule_files for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]]
    dashboards = sorted(DASHBOARDS_DIR.glob("*.json"))
    queries = [q for d in dashboards for q in panel_queries(d)]
    panels = sum(len(json.loads(d.read_text())["panels"]) for d in dashboards)
    tests = sorted(RULE_TESTS_DIR.glob("*.test.yaml"))

    with tempfile.TemporaryDirectory() as tmp:
        query_file = Path(tmp) / "dashboard-queries.yaml"
        query_file.write_text(queries_as_rule_file(queries))
        check = [timed([promtool, "check", "rules", *map(str, rule_files), str(query_file)]) for _ in range(args.runs)]
    unit = [timed([promtool, "test", "rules", *[t.name for t in tests]], cwd=RULE_TESTS_DIR) for _ in range(args.runs)]

    result = {
        "alerts": sum("alert" in r for r in rules),
        "recording_rules": sum("record" in r for r in rules),
        "rule_unit_test_files": len(tests),
        "dashboards": len(dashboards),
        "panels": panels,
        "panel_queries": len(queries),
        "catalogued_metrics": sum(len(e["metrics"]) for e in catalogue().values()),
        "exporters": len(catalogue()),
        "promtool_check_rules_seconds_median": round(statistics.median(check), 3),
        "promtool_test_rules_seconds_median": round(statistics.median(unit), 3),
        "runs": args.runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"  {key:40s} {value}")
    print(f"bench-monitoring: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
