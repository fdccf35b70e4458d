"""Draw an HPA timeline (tests/e2e/dataloop/test_dataloop_40_hpa.py's record) as an SVG: replicas
and the HPA's desired count as steps on the left axis, the CPU metric the HPA read on the right axis
with its target, and the moments load started and stopped. Plain SVG text, so the picture in the
README is reviewable as a diff and needs no plotting library.

    python -m tools.platform.timeline .run/bench/hpa-timeline.json OUT.svg
"""
from __future__ import annotations

import json
import sys
from html import escape
from pathlib import Path

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 70, 40, 50


def millicores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("250m", "1", "1500u", "2n") in millicores."""
    text = str(quantity)
    for suffix, factor in (("n", 1e-6), ("u", 1e-3), ("m", 1.0)):
        if text.endswith(suffix):
            return float(text[:-1]) * factor
    return float(text) * 1000


def svg(record: dict) -> str:
    samples = [s for s in record["samples"] if "error" not in s]
    end = max([s["t"] for s in samples] + [m["t"] for m in record.get("marks", [])] + [1.0])
    target = millicores(record["target"][0]["resource"]["target"].get("averageValue", "0"))
    top_cpu = max([s["cpu_millicores"] or 0 for s in samples] + [target * 1.5, 1.0])
    top_replicas = max([s["replicas"] or 0 for s in samples] + [s["desired"] or 0 for s in samples] + [2]) + 0.5
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / end

    def y_rep(n: float) -> float:
        return TOP + plot_h * (1 - n / top_replicas)

    def y_cpu(m: float) -> float:
        return TOP + plot_h * (1 - m / top_cpu)

    def steps(key: str) -> str:
        points, last = [], None
        for s in samples:
            if s.get(key) is None:
                continue
            if last is not None:
                points.append(f"{x(s['t']):.1f},{y_rep(last):.1f}")
            points.append(f"{x(s['t']):.1f},{y_rep(s[key]):.1f}")
            last = s[key]
        return " ".join(points)

    cpu_line = " ".join(f"{x(s['t']):.1f},{y_cpu(s['cpu_millicores']):.1f}" for s in samples
                        if s.get("cpu_millicores") is not None)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT}" y="20" font-size="14">{escape(record["hpa"])}: replicas vs CPU under load '
           f'(scale-down window {record["window_s"]} s)</text>',
           f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="black"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="black"/>',
           f'<line x1="{LEFT + plot_w}" y1="{TOP}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="black"/>']
    for n in range(int(top_replicas) + 1):
        out.append(f'<text x="{LEFT - 8}" y="{y_rep(n) + 4:.1f}" text-anchor="end">{n}</text>')
    for i in range(5):
        m = top_cpu * i / 4
        out.append(f'<text x="{LEFT + plot_w + 8}" y="{y_cpu(m) + 4:.1f}">{m:.0f}m</text>')
    step = max(30, int(end / 8 / 30 + 1) * 30)
    for t in range(0, int(end) + 1, step):
        out.append(f'<text x="{x(t):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{t}s</text>')
    out.append(f'<line x1="{LEFT}" y1="{y_cpu(target):.1f}" x2="{LEFT + plot_w}" y2="{y_cpu(target):.1f}" '
               f'stroke="#d62728" stroke-dasharray="4 4"/>')
    out.append(f'<text x="{LEFT + plot_w - 4}" y="{y_cpu(target) - 4:.1f}" text-anchor="end" fill="#d62728">'
               f'target {target:.0f}m</text>')
    for mark in record.get("marks", []):
        out.append(f'<line x1="{x(mark["t"]):.1f}" y1="{TOP}" x2="{x(mark["t"]):.1f}" y2="{TOP + plot_h}" stroke="#999"/>')
        out.append(f'<text x="{x(mark["t"]) + 3:.1f}" y="{TOP + 12}" fill="#555">{escape(mark["what"])}</text>')
    out.append(f'<polyline points="{cpu_line}" fill="none" stroke="#d62728" stroke-width="1.5"/>')
    out.append(f'<polyline points="{steps("desired")}" fill="none" stroke="#1f77b4" stroke-width="2" stroke-dasharray="6 3"/>')
    out.append(f'<polyline points="{steps("replicas")}" fill="none" stroke="#1f77b4" stroke-width="2.5"/>')
    legend_y = HEIGHT - 12
    out += [f'<line x1="{LEFT}" y1="{legend_y - 4}" x2="{LEFT + 24}" y2="{legend_y - 4}" stroke="#1f77b4" stroke-width="2.5"/>',
            f'<text x="{LEFT + 30}" y="{legend_y}">replicas (left)</text>',
            f'<line x1="{LEFT + 140}" y1="{legend_y - 4}" x2="{LEFT + 164}" y2="{legend_y - 4}" stroke="#1f77b4" '
            'stroke-width="2" stroke-dasharray="6 3"/>',
            f'<text x="{LEFT + 170}" y="{legend_y}">HPA desired (left)</text>',
            f'<line x1="{LEFT + 300}" y1="{legend_y - 4}" x2="{LEFT + 324}" y2="{legend_y - 4}" stroke="#d62728" '
            'stroke-width="1.5"/>',
            f'<text x="{LEFT + 330}" y="{legend_y}">CPU per pod, as the HPA read it (right)</text>',
            "</svg>"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    Path(args[1]).write_text(svg(json.loads(Path(args[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
