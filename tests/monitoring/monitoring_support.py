"""Shared helpers for the monitoring tests: paths, promtool, the metric catalogue, PromQL names."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.versions import read_versions

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "apps" / "monitoring"
BASE = MONITORING / "base"
RULES_DIR = BASE / "rules"
DASHBOARDS_DIR = BASE / "grafana" / "dashboards"
CATALOGUE = MONITORING / "metrics-catalogue.yaml"
RULE_TESTS_DIR = Path(__file__).resolve().parent / "rules"
TOOLS_BIN = ROOT / ".tools" / "bin"


def tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make monitoring-tools`")
    return path


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(tool("promtool")), *args], capture_output=True, text=True, cwd=cwd, check=False)


def versions() -> dict[str, str]:
    """The pins of tools/versions.env."""
    return read_versions()


# --- the metric catalogue -------------------------------------------------------------------

def catalogue() -> dict[str, dict]:
    return yaml.safe_load(CATALOGUE.read_text())["exporters"]


def recording_rule_names(rules_dir: Path = RULES_DIR) -> set[str]:
    names = set()
    for path in sorted(rules_dir.glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def known_metrics() -> set[str]:
    names = {name for exporter in catalogue().values() for name in exporter["metrics"]}
    return names | recording_rule_names()


# --- PromQL: which metric names does an expression read? ------------------------------------

# Words that look like identifiers in PromQL but are not metric names.
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "atan2", "inf", "nan", "start", "end",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_NUMBER_WITH_UNIT = re.compile(r"\b\d+(\.\d+)?(ms|s|m|h|d|w|y)?\b")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords or labels.

    Strings, label matchers, ranges and grouping clauses are removed first, so label names and
    values never count. `{__name__="x"}` selectors are read from the matcher itself.
    """
    names = set(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    text = _STRING.sub('""', expr)
    text = _LABEL_BRACES.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER_WITH_UNIT.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


# --- Grafana dashboards ---------------------------------------------------------------------

GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}


def concrete_expr(expr: str) -> str:
    """A panel query with Grafana's variables replaced by values PromQL accepts."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    # Template variables only ever appear inside regex label matchers in our dashboards; ".*" is
    # what Grafana sends for "All".
    return re.sub(r"\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?", ".*", expr)


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # file name
    panel: str      # panel title
    ref_id: str
    expr: str

    @property
    def where(self) -> str:
        return f"{self.dashboard}: panel {self.panel!r} query {self.ref_id}"


def panel_queries(path: Path) -> list[PanelQuery]:
    dashboard = json.loads(path.read_text())
    panels = list(dashboard.get("panels", []))
    for panel in list(panels):  # rows may nest panels
        panels += panel.get("panels", [])
    queries = []
    for panel in panels:
        for target in panel.get("targets", []):
            if "expr" in target:
                queries.append(PanelQuery(path.name, panel.get("title", "?"), target.get("refId", "?"), target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query or "")
        if match:  # label_values(<selector>, label): the selector must be a valid series selector
            queries.append(PanelQuery(path.name, f"variable ${variable['name']}", "var", match.group(1)))
    return queries


def unknown_metrics(queries: list[PanelQuery], known: set[str]) -> list[str]:
    """One line per query that reads a metric missing from the catalogue (empty when all known)."""
    problems = []
    for query in queries:
        missing = sorted(metric_names(concrete_expr(query.expr)) - known)
        if missing:
            problems.append(f"{query.where} uses unknown metric(s) {', '.join(missing)}")
    return problems


def queries_as_rule_file(queries: list[PanelQuery]) -> str:
    """Every query as a recording rule, so `promtool check rules` parses each with Prometheus' parser."""
    rules = [
        {"record": f"dashboard_query:{index}", "expr": concrete_expr(query.expr),
         "labels": {"where": query.where}}
        for index, query in enumerate(queries)
    ]
    return yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, sort_keys=False)
