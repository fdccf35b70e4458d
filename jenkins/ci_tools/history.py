"""Recent builds of the pipeline from a Jenkins controller (python-jenkins over Jenkins' JSON API).

    JENKINS_URL=https://ci.example JENKINS_USER=me JENKINS_API_TOKEN=... \
        python -m ci_tools.history --job mlops-platform/main --limit 10 [--json]

Per build: number, result, duration, the commit it built (git plugin's BuildData action) and the
images it bumped (the `Bumped-Image:` lines the pipeline puts in the build description).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import jenkins
from ci_tools.bump import TRAILER


@dataclass
class BuildRow:
    number: int
    result: str
    duration_s: float
    started: str
    commit: str
    images: list[str]


def _commit_of(build: dict) -> str:
    for action in build.get("actions") or []:
        if not isinstance(action, dict):
            continue
        revision = action.get("lastBuiltRevision")
        if revision and revision.get("SHA1"):
            return revision["SHA1"]
    return ""


def _images_of(build: dict) -> list[str]:
    description = build.get("description") or ""
    prefix = f"{TRAILER}:"
    return [line[len(prefix):].strip() for line in description.splitlines() if line.startswith(prefix)]


def to_row(build: dict) -> BuildRow:
    started = datetime.fromtimestamp(build.get("timestamp", 0) / 1000, tz=UTC)
    result = build.get("result") or ("RUNNING" if build.get("building") else "UNKNOWN")
    return BuildRow(
        number=build["number"], result=result, duration_s=round(build.get("duration", 0) / 1000, 1),
        started=started.strftime("%Y-%m-%d %H:%M UTC"), commit=_commit_of(build), images=_images_of(build),
    )


def recent_builds(server: jenkins.Jenkins, job: str, limit: int) -> list[BuildRow]:
    """Newest first; the job info lists build numbers, each build's own JSON has the details."""
    info = server.get_job_info(job)
    numbers = [b["number"] for b in info.get("builds") or []][:limit]
    return [to_row(server.get_build_info(job, n)) for n in numbers]


def format_table(rows: list[BuildRow]) -> str:
    header = f"{'#':>5}  {'result':<9} {'duration':>9}  {'started':<20} {'commit':<12} images bumped"
    lines = [header, "-" * len(header)]
    for r in rows:
        images = ", ".join(r.images) if r.images else "-"
        lines.append(f"{r.number:>5}  {r.result:<9} {r.duration_s:>8.1f}s  {r.started:<20} {r.commit[:12]:<12} {images}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="history", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("JENKINS_URL"))
    parser.add_argument("--user", default=os.environ.get("JENKINS_USER"))
    parser.add_argument("--job", default="mlops-platform/main", help="full job name; multibranch: <job>/<branch>")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if not args.url:
        print("history: error: set JENKINS_URL (or --url) to the Jenkins controller", file=sys.stderr)
        return 2
    token = os.environ.get("JENKINS_API_TOKEN")  # from the environment only, never a flag (shell history)
    server = jenkins.Jenkins(args.url, username=args.user, password=token, timeout=15)
    try:
        rows = recent_builds(server, args.job, args.limit)
    except jenkins.JenkinsException as exc:
        # python-jenkins turns a 404 of the job into "job[<name>] does not exist"
        if isinstance(exc, jenkins.NotFoundException) or "does not exist" in str(exc):
            print(f"history: error: job {args.job!r} not found on {args.url}", file=sys.stderr)
            return 2
        print(f"history: failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
