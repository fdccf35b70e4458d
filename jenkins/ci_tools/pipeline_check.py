"""Check the Jenkinsfile: it parses as Groovy, its PR / main / bot / release paths run the right targets,
and its failure paths stop the build and notify (post { failure }), and the first green build after a
red one reports `fixed`.

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
E2E_POD = "jenkins/agents/e2e-pod.yaml"
BUILD_TARGETS = {"images-script", "images-record", "bump-built", "bump"}


def answers(bot: str | None, release: str | None = None) -> dict[str, str]:
    """What the two make checks print (their last line is the answer the Jenkinsfile reads)."""
    out = {}
    if bot is not None:
        out[f"stdout:{SKIP_CHECK}"] = f"ci-skip-check: ...\nBOT_COMMIT={bot}"
    if release is not None:
        out[f"stdout:{RELEASE_CHECK}"] = f"release-commit-check: ...\nRELEASE_COMMIT={release}"
    return out


PR = {"BRANCH_NAME": "PR-42", "CHANGE_ID": "42", "CHANGE_TARGET": "main",
      "GIT_COMMIT": "1111111111111111111111111111111111111111", **answers("false", "false")}
MAIN = {"BRANCH_NAME": "main", "GIT_COMMIT": "2222222222222222222222222222222222222222",
        **answers("false", "false"), "file:.run/bump/summary.txt": "Bumped-Image: example:2222222"}

# The scenarios a multibranch job sees. The bump summary stands in for the file `make bump-built` writes;
# PREVIOUS_RESULT is the last build of the branch (default SUCCESS); status:<cmd> makes a step fail.
SCENARIOS = {
    "pull-request": PR,
    "main": MAIN,
    "release-commit-on-main": {"BRANCH_NAME": "main", "GIT_COMMIT": "4444444444444444444444444444444444444444",
                               **answers("false", "true")},
    "bot-commit-on-main": {"BRANCH_NAME": "main", "GIT_COMMIT": "3333333333333333333333333333333333333333",
                           **answers("true")},
    # Failure paths: the failing stage stops the build, later stages are skipped, post { failure } reports.
    "pull-request-unit-tests-fail": {**PR, "status:make unit": "2"},
    "main-e2e-fails": {**MAIN, "status:make e2e": "2"},
    "main-release-check-fails": {**MAIN, f"status:{RELEASE_CHECK}": "2"},
    "main-release-check-gives-no-answer": {**MAIN, f"stdout:{RELEASE_CHECK}": "Traceback (most recent call last): ..."},
    "main-skip-check-fails": {**MAIN, f"status:{SKIP_CHECK}": "2"},
    # The first green build after a red one: post { fixed } says so.
    "main-fixed-after-failure": {**MAIN, "PREVIOUS_RESULT": "FAILURE"},
}

# Where each failure scenario must stop.
FAILS_IN = {
    "pull-request-unit-tests-fail": "Unit tests",
    "main-e2e-fails": "End-to-end",
    "main-release-check-fails": "Skip CI bot commits",
    "main-release-check-gives-no-answer": "Skip CI bot commits",
    "main-skip-check-fails": "Skip CI bot commits",
}


@dataclass
class Step:
    stage: str
    container: str
    kind: str
    arg: str


@dataclass
class Simulation:
    stages: dict[str, bool] = field(default_factory=dict)  # name -> ran (also when it failed)
    steps: list[Step] = field(default_factory=list)
    agent_yaml: str = ""
    agent_container: str = ""  # the pipeline's defaultContainer
    stage_agents: dict[str, str] = field(default_factory=dict)  # stage -> yamlFile of its own pod
    failed: dict[str, str] = field(default_factory=dict)  # stage -> failure message
    options: list[str] = field(default_factory=list)
    result: str = ""
    description: str = ""

    def shell(self) -> list[str]:
        return [s.arg for s in self.steps if s.kind == "sh"]

    def make_targets(self) -> list[str]:
        return [t for cmd in self.shell() for t in re.findall(r"\bmake\s+([A-Za-z0-9_.-]+)", cmd)]

    def post_steps(self, kind: str) -> list[str]:
        """Arguments of the pipeline-level post steps of one kind (slackSend: "<channel> <color>")."""
        return [s.arg for s in self.steps if s.stage == "post" and s.kind == kind]


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


SEPARATOR = "--next-scenario--"


def run_groovy(groovy_jar: Path, jenkinsfile: Path, *scenarios: dict[str, str]) -> str:
    """Parse the Jenkinsfile; with scenarios, dry-run each of them (all in one JVM)."""
    args: list[str] = []
    for i, scenario in enumerate(scenarios):
        args += ([SEPARATOR] if i else []) + [f"{k}={v}" for k, v in scenario.items()]
    proc = subprocess.run(
        [java(), "-cp", str(groovy_jar), "groovy.ui.GroovyMain", str(SIMULATOR), str(jenkinsfile), *args],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{jenkinsfile}: Groovy failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


def _parse(lines: list[str]) -> Simulation:
    sim = Simulation()
    for line in lines:
        parts = line.split("\t")
        if parts[0] == "STAGE":
            sim.stages[parts[1]] = parts[2] in ("ran", "failed")
        elif parts[0] == "STAGEAGENT":
            sim.stage_agents[parts[1]] = parts[2]
        elif parts[0] == "FAILED":
            sim.failed[parts[1]] = parts[2] if len(parts) > 2 else ""
        elif parts[0] == "STEP":
            sim.steps.append(Step(*parts[1:5]))
        elif parts[0] == "AGENT":
            sim.agent_yaml, sim.agent_container = parts[1], parts[2]
        elif parts[0] == "OPTIONS":
            sim.options = parts[1].split(",")
        elif parts[0] == "RESULT":
            sim.result, sim.description = parts[1], parts[2] if len(parts) > 2 else ""
    return sim


def simulate_many(groovy_jar: Path, jenkinsfile: Path, scenarios: dict[str, dict[str, str]]) -> dict[str, Simulation]:
    """Dry-run every scenario in one Groovy process; name -> what the run did."""
    names = list(scenarios)
    blocks: list[list[str]] = []
    for line in run_groovy(groovy_jar, jenkinsfile, *scenarios.values()).splitlines():
        if line.startswith("SCENARIO\t"):
            blocks.append([])
        elif blocks:
            blocks[-1].append(line)
    if len(blocks) != len(names):
        raise RuntimeError(f"{jenkinsfile}: the simulator ran {len(blocks)} of {len(names)} scenarios")
    return {name: _parse(block) for name, block in zip(names, blocks, strict=True)}


def simulate(groovy_jar: Path, jenkinsfile: Path, scenario: dict[str, str]) -> Simulation:
    return simulate_many(groovy_jar, jenkinsfile, {"one": scenario})["one"]


def problems(name: str, sim: Simulation) -> list[str]:
    """The rules of the pipeline, per scenario; an empty list means the path is right."""
    targets = set(sim.make_targets())
    found = []

    def need(cond: bool, message: str) -> None:
        if not cond:
            found.append(f"{name}: {message}")

    need(sim.shell()[:1] == [SKIP_CHECK], "the first step must be `make ci-skip-check`")
    need("disableConcurrentBuilds" in sim.options and "timeout" in sim.options,
         "options need disableConcurrentBuilds and timeout")
    red = [s for s in sim.post_steps("slackSend") if s.endswith(" danger")]
    green = [s for s in sim.post_steps("slackSend") if s.endswith(" good")]
    if name in FAILS_IN:
        stage = FAILS_IN[name]
        need(list(sim.failed) == [stage], f"the build must fail in {stage!r}, failed in {list(sim.failed)}")
        need(sim.result == "FAILURE", f"a failed step must fail the build, result {sim.result}")
        stages = list(sim.stages)
        later = stages[stages.index(stage) + 1:] if stage in stages else []
        need(not any(sim.stages[s] for s in later), f"stages after the failure must be skipped, ran "
             f"{[s for s in later if sim.stages[s]]}")
        need(not targets & BUILD_TARGETS, f"a failed build must not build, push or bump, ran {sorted(targets)}")
        need(bool(red) and bool(sim.post_steps("mail")), "post { failure } must notify Slack and mail")
        need(not green, "a failed build is not `fixed`")
        if stage in ("Unit tests", "End-to-end"):
            need(any(s.kind == "junit" and s.stage == stage for s in sim.steps),
                 f"{stage}: the JUnit report of the failed tests must still be published")
        return found
    need(not sim.failed, f"no stage may fail, failed {sim.failed}")
    need(not red and not sim.post_steps("mail"), "a green build sends no failure notification")
    if name == "main-fixed-after-failure":
        need(sim.result == "SUCCESS" and bool(green), "the first green build after a red one reports `fixed`")
    else:
        need(not green, "`fixed` is only for the first green build after a red one")
    if name == "bot-commit-on-main":
        need(targets == {"ci-skip-check"}, f"a bot commit must run nothing else, ran {sorted(targets)}")
        need(sim.result == "NOT_BUILT", "a bot commit must end NOT_BUILT")
        return found
    need(sim.result == "SUCCESS", f"result must be SUCCESS, is {sim.result}")
    need({"lint", "validate", "unit"} <= targets, "lint, validate and unit must run")
    if name == "release-commit-on-main":
        need("e2e" in targets, "a release commit on main is tested like any main commit")
        need(not targets & BUILD_TARGETS,
             f"a promotion/rollback must not build or bump images (that would undo it), ran {sorted(targets)}")
    need(any(s.kind == "junit" for s in sim.steps), "JUnit reports must be published")
    if name == "pull-request":
        need("preview" in targets, "the PR preview must run")
        need(any(s.kind == "archiveArtifacts" and "preview" in s.arg for s in sim.steps), "the preview must be archived")
        need(not targets & BUILD_TARGETS, "a PR must not build, push or bump")
        need("e2e-no-cluster" in targets, "a PR must run the e2e suites that need no cluster")
        need("e2e" not in targets, "a PR must not bring up the local cluster (the privileged e2e pod is main's)")
    if name.startswith("main") or name == "release-commit-on-main":
        e2e = [s for s in sim.steps if s.kind == "sh" and s.arg == "make e2e"]
        need(len(e2e) == 1 and sim.stage_agents.get(e2e[0].stage) == E2E_POD,
             f"`make e2e` must run once, in the stage with its own pod {E2E_POD}")
    if name in ("main", "main-fixed-after-failure"):
        need("preview" not in targets, "main has no PR preview")
        order = [t for t in sim.make_targets() if t in {"unit", "e2e", "images-script", "images-record", "bump-built"}]
        need(order == ["unit", "e2e", "images-script", "images-record", "bump-built"],
             f"main must test, build, record, bump in order, got {order}")
        need(any(s.container == "kaniko" and "kaniko.sh" in s.arg for s in sim.steps), "kaniko must run in the kaniko container")
        need("Bumped-Image" in sim.description, "the build description must carry the bumped images")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline_check", description=__doc__)
    parser.add_argument("--groovy-jar", type=Path, required=True)
    parser.add_argument("jenkinsfile", type=Path)
    args = parser.parse_args(argv)
    try:
        print(run_groovy(args.groovy_jar, args.jenkinsfile).strip())
        failures = []
        for name, sim in simulate_many(args.groovy_jar, args.jenkinsfile, SCENARIOS).items():
            ran = [stage for stage, did in sim.stages.items() if did]
            print(f"{name}: {sim.result}; stages {ran}; make {sim.make_targets()}")
            failures += problems(name, sim)
    except RuntimeError as exc:
        print(f"jenkinsfile-check: {exc}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"jenkinsfile-check: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
