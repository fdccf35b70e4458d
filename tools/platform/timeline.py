"""Draw an HPA timeline record as a PNG: people would rather look at a scale-up and scale-down than
read sample rows, and a PNG is what the README can show. One renderer serves any HPA whose metrics
are cpu and/or memory Resource metrics (the API server's, the Spark workers').

    python -m tools.platform.timeline .run/bench/hpa-timeline.json OUT.png
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

MIB = 2**20
_BYTE_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
                  "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "m": 1e-3}


def millicores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("250m", "1", "1500u", "2n") in millicores."""
    text = str(quantity)
    for suffix, factor in (("n", 1e-6), ("u", 1e-3), ("m", 1.0)):
        if text.endswith(suffix):
            return float(text[:-1]) * factor
    return float(text) * 1000


def memory_bytes(quantity: str) -> float:
    """A Kubernetes memory quantity ("512Mi", "1G", "52133888", "1234567m" as metrics-server may say) in bytes."""
    text = str(quantity)
    for suffix in sorted(_BYTE_SUFFIXES, key=len, reverse=True):  # "Mi" before "M"/"m"
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _BYTE_SUFFIXES[suffix]
    return float(text)


# Per resource and target type: the sample key, the axis label, sample value -> display units,
# target quantity -> display units (None: a Utilization target is a percentage of each pod's
# request, not a level on this axis, so no line is drawn for it).
_METRICS = {
    ("cpu", "AverageValue"): ("cpu_millicores", "CPU per pod (millicores)", float, millicores),
    ("memory", "AverageValue"): ("memory_bytes", "memory per pod (MiB)", lambda b: b / MIB,
                                 lambda q: memory_bytes(q) / MIB),
    ("cpu", "Utilization"): ("cpu_percent", "CPU per pod (% of request)", float, None),
    ("memory", "Utilization"): ("memory_percent", "memory per pod (% of request)", float, None),
}


def _steps(samples: list[dict], key: str) -> list[tuple[float, float]]:
    # A count holds until the next sample changes it: a corner at the old value, then the new one.
    points: list[tuple[float, float]] = []
    for s in samples:
        if s.get(key) is None:
            continue
        if points and points[-1][1] != s[key]:
            points.append((s["t"], points[-1][1]))
        points.append((s["t"], s[key]))
    return points


def series(record: dict) -> dict:
    """What the picture plots, in display units: {"replicas": [(t, n)], "desired": [(t, n)] (step
    points), "metrics": {resource: {"label", "points": [(t, v)], "target": v or None}}, "marks": [(t, what)]}."""
    samples = [s for s in record["samples"] if "error" not in s]
    metrics = {}
    for spec in record["target"]:
        if spec.get("type") != "Resource":
            continue
        name, target = spec["resource"]["name"], spec["resource"]["target"]
        known = _METRICS.get((name, target.get("type")))
        if known is None:
            continue
        key, label, show, level = known
        metrics[name] = {"label": label,
                         "points": [(s["t"], show(s[key])) for s in samples if s.get(key) is not None],
                         "target": level(target["averageValue"]) if level and "averageValue" in target else None}
    return {"replicas": _steps(samples, "replicas"), "desired": _steps(samples, "desired"), "metrics": metrics,
            "marks": [(m["t"], m["what"]) for m in record.get("marks", [])]}


def png(record: dict, path: Path) -> Path:
    data = series(record)
    fig = Figure(figsize=(9, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # Agg for this figure only: no pyplot, no global backend switch
    ax = fig.add_subplot()
    lines = []
    for key, label, style in (("replicas", "replicas", "-"), ("desired", "HPA desired", "--")):
        if data[key]:
            lines += ax.plot(*zip(*data[key], strict=True), style, color="#1f77b4", lw=2.5 if key == "replicas" else 1.8,
                             label=f"{label} (left)")
    top = max([n for _, n in data["replicas"] + data["desired"]] + [2])
    ax.set_ylim(0, top + 0.5)
    ax.set_xlim(left=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("seconds")
    ax.set_ylabel("replicas")
    for i, ((name, metric), color) in enumerate(zip(data["metrics"].items(), ("#d62728", "#2ca02c"), strict=False)):
        right = ax.twinx()
        if i:  # a second right axis would sit on the first one's ticks
            right.spines["right"].set_position(("axes", 1.1))
        values = [v for _, v in metric["points"]] + ([metric["target"] * 1.5] if metric["target"] else []) + [1.0]
        right.set_ylim(0, max(values) * 1.05)
        right.set_ylabel(metric["label"], color=color)
        if metric["points"]:
            lines += right.plot(*zip(*metric["points"], strict=True), color=color, lw=1.5, label=metric["label"])
        if metric["target"] is not None:
            right.axhline(metric["target"], color=color, ls=(0, (4, 4)), lw=1)
            # Both targets sit at the same height (each axis tops at 1.5x its target): labels at opposite ends.
            right.annotate(f"{name} target {metric['target']:.0f}", (1 - i, metric["target"]),
                           xycoords=("axes fraction", "data"), xytext=(-4 if i == 0 else 4, 3), textcoords="offset points",
                           ha="right" if i == 0 else "left", color=color, fontsize=8)
    ax.set_zorder(2)  # the replica steps are the story: above the metric axes, which twinx puts on top
    ax.patch.set_visible(False)
    for t, what in data["marks"]:
        ax.axvline(t, color="#999", ls=":", lw=1)
        ax.annotate(what, (t, 1), xycoords=("data", "axes fraction"), xytext=(3, -3), textcoords="offset points",
                    va="top", rotation=90, color="#555", fontsize=8)
    ax.set_title(f"{record['hpa']} (scale-down window {record['window_s']} s)")
    fig.legend(handles=lines, loc="outside lower center", ncol=max(len(lines), 1), fontsize=8, frameon=False)
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(png(json.loads(Path(args[0]).read_text()), Path(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
