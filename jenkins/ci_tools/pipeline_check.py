"""Check the Jenkinsfile: it parses as Groovy, and its PR / main / bot-commit paths run the right targets.

    python -m ci_tools.pipeline_check --groovy-jar .tools/groovy/groovy-4.0.33.jar Jenkinsfile

Runs jenkins/pipeline-sim/simulate.groovy with Apache Groovy (JAVA_HOME's java) for each scenario.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SIMULATOR = Path(__file__).resolve().parents[1] / "pipeline-sim" / "simulate.groovy"
SKIP_CHECK = "make ci-skip-check"
RELEASE_CHECK = "make release-commit-check"

# The scenarios a multibranch job sees. The bump summary stands in for the file `make bump-built` writes.
SCENARIOS = {
    "pull-request": {"BRANCH_NAME": "PR-42", "CHANGE_ID": "42", "CHANGE_TARGET": "main",
                     "GIT_COMMIT": "1111111111111111111111111111111111111111", f"status:{SKIP_CHECK}": "1",
                     f"status:{RELEASE_CHECK}": "1"},
    "main": {"BRANCH_NAME": "main", "GIT_COMMIT": "2222222222222222222222222222222222222222",
             f"status:{SKIP_CHECK}": "1", f"status:{RELEASE_CHECK}": "1",
             "file:.run/bump/summary.txt": "Bumped-Image: example:2222222"},
    "release-commit-on-main": {"BRANCH_NAME": "main", "GIT_COMMIT": "4444444444444444444444444444444444444444",
                               f"status:{SKIP_CHECK}": "1", f"status:{RELEASE_CHECK}": "0"},
    "bot-commit-on-main": {"BRANCH_NAME": "main", "GIT_COMMIT": "3333333333333333333333333333333333333333",
                           f"status:{SKIP_CHECK}": "0"},
}


@dataclass
class Step:
    stage: str
    container: str
    kind: str
    arg: str


@dataclass
class Simulation:
    stages: dict[str, bool] = field(default_factory=dict)  # name -> ran
    steps: list[Step] = field(default_factory=list)
    agent_yaml: str = ""
    options: list[str] = field(default_factory=list)
    result: str = ""
    description: str = ""

    def shell(self) -> list[str]:
        return [s.arg for s in self.steps if s.kind == "sh"]

    def make_targets(self) -> list[str]:
        return [t for cmd in self.shell() for t in re.findall(r"\bmake\s+([A-Za-z0-9_.-]+)", cmd)]


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def run_groovy(groovy_jar: Path, jenkinsfile: Path, scenario: dict[str, str] | None = None) -> str:
    args = [f"{k}={v}" for k, v in (scenario or {}).items()]
    proc = subprocess.run(
        [java(), "-cp", str(groovy_jar), "groovy.ui.GroovyMain", str(SIMULATOR), str(jenkinsfile), *args],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{jenkinsfile}: Groovy failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


def simulate(groovy_jar: Path, jenkinsfile: Path, scenario: dict[str, str]) -> Simulation:
    sim = Simulation()
    for line in run_groovy(groovy_jar, jenkinsfile, scenario).splitlines():
        parts = line.split("\t")
        if parts[0] == "STAGE":
            sim.stages[parts[1]] = parts[2] == "ran"
        elif parts[0] == "STEP":
            sim.steps.append(Step(*parts[1:5]))
        elif parts[0] == "AGENT":
            sim.agent_yaml = parts[1]
        elif parts[0] == "OPTIONS":
            sim.options = parts[1].split(",")
        elif parts[0] == "RESULT":
            sim.result, sim.description = parts[1], parts[2] if len(parts) > 2 else ""
    return sim


def problems(name: str, sim: Simulation) -> list[str]:
    """The rules of the pipeline, per scenario; an empty list means the path is right."""
    targets = set(sim.make_targets())
    found = []

    def need(cond: bool, message: str) -> None:
        if not cond:
            found.append(f"{name}: {message}")

    need(sim.shell()[:1] == [SKIP_CHECK], "the first step must be `make ci-skip-check`")
    if name == "bot-commit-on-main":
        need(targets == {"ci-skip-check"}, f"a bot commit must run nothing else, ran {sorted(targets)}")
        need(sim.result == "NOT_BUILT", "a bot commit must end NOT_BUILT")
        return found
    need({"lint", "validate", "unit"} <= targets, "lint, validate and unit must run")
    if name == "release-commit-on-main":
        need("e2e" in targets, "a release commit on main is tested like any main commit")
        need(not targets & {"images-script", "images-record", "bump-built", "bump"},
             f"a promotion/rollback must not build or bump images (that would undo it), ran {sorted(targets)}")
    need(any(s.kind == "junit" for s in sim.steps), "JUnit reports must be published")
    if name == "pull-request":
        need("preview" in targets, "the PR preview must run")
        need(any(s.kind == "archiveArtifacts" and "preview" in s.arg for s in sim.steps), "the preview must be archived")
        need(not targets & {"images-script", "images-record", "bump-built", "bump"}, "a PR must not build, push or bump")
    if name == "main":
        need("preview" not in targets, "main has no PR preview")
        order = [t for t in sim.make_targets() if t in {"unit", "images-script", "images-record", "bump-built"}]
        need(order == ["unit", "images-script", "images-record", "bump-built"],
             f"main must test, build, record, bump in order, got {order}")
        need(any(s.container == "kaniko" and "kaniko.sh" in s.arg for s in sim.steps), "kaniko must run in the kaniko container")
        need("Bumped-Image" in sim.description, "the build description must carry the bumped images")
    need("disableConcurrentBuilds" in sim.options and "timeout" in sim.options,
         "options need disableConcurrentBuilds and timeout")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline_check", description=__doc__)
    parser.add_argument("--groovy-jar", type=Path, required=True)
    parser.add_argument("jenkinsfile", type=Path)
    args = parser.parse_args(argv)
    try:
        print(run_groovy(args.groovy_jar, args.jenkinsfile).strip())
        failures = []
        for name, scenario in SCENARIOS.items():
            sim = simulate(args.groovy_jar, args.jenkinsfile, scenario)
            ran = [stage for stage, did in sim.stages.items() if did]
            print(f"{name}: stages {ran}; make {sim.make_targets()}")
            failures += problems(name, sim)
    except RuntimeError as exc:
        print(f"jenkinsfile-check: {exc}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"jenkinsfile-check: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
