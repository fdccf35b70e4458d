"""The Jenkinsfile parses as Groovy, runs the right targets per path, and calls only targets that exist."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ci_tools.git import BOT_EMAIL
from ci_tools.pipeline_check import FAILS_IN, RELEASE_CHECK, SCENARIOS, java, problems, run_groovy, simulate, simulate_many

ROOT = Path(__file__).resolve().parents[2]
JENKINSFILE = ROOT / "Jenkinsfile"


def test_jenkinsfile_parses_as_groovy(groovy_jar):
    assert run_groovy(groovy_jar, JENKINSFILE).startswith("PARSED")


def test_a_syntax_error_is_reported_with_its_line(groovy_jar, tmp_path):
    broken = tmp_path / "Jenkinsfile"
    broken.write_text(JENKINSFILE.read_text().replace("stages {", "stages {{", 1))
    with pytest.raises(RuntimeError, match=r"(?s)Jenkinsfile: Groovy failed.*@ line \d+"):
        run_groovy(groovy_jar, broken)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_path_runs_the_right_stages(simulations, scenario):
    assert problems(scenario, simulations[scenario]) == []


def test_pr_and_main_paths_differ_as_intended(simulations):
    pr, main, bot = simulations["pull-request"], simulations["main"], simulations["bot-commit-on-main"]
    assert pr.stages["PR preview"] and not main.stages["PR preview"]
    assert main.stages["Build and push images"] and not pr.stages["Build and push images"]
    assert main.stages["Bump overlays"] and not pr.stages["Bump overlays"]
    assert [name for name, ran in bot.stages.items() if ran] == ["Skip CI bot commits"]
    assert "make preview BASE=origin/main PREVIEW_ARGS=--fetch-base" in pr.shell()
    assert pr.stages["End-to-end without a cluster"] and not pr.stages["End-to-end"]
    assert main.stages["End-to-end"] and not main.stages["End-to-end without a cluster"]
    sha = SCENARIOS["main"]["GIT_COMMIT"]
    assert f"make images-script GIT_SHA={sha}" in main.shell()  # immutable tag = the commit


def test_the_checker_catches_a_pipeline_that_bumps_on_prs(groovy_jar, tmp_path):
    """problems() is not vacuous: drop the main-only guard of the bump stage and it must complain."""
    text = JENKINSFILE.read_text()
    bump_stage = text.index("stage('Bump overlays')")
    guarded = text.index("branch 'main'", bump_stage)
    mutated = tmp_path / "Jenkinsfile"
    mutated.write_text(text[:guarded] + "expression { true }" + text[guarded + len("branch 'main'"):])
    pr = simulate(groovy_jar, mutated, SCENARIOS["pull-request"])
    assert any("must not build, push or bump" in p for p in problems("pull-request", pr))


def make_targets_with_help() -> set[str]:
    """Targets `make help` lists (they carry a `## ...` line), read from make's own database."""
    proc = subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "help"],
                          capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"))
    assert proc.returncode == 0, proc.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    return {line.split()[0] for line in plain.splitlines() if line.startswith("  ") and line.strip()}


def make_database_targets() -> set[str]:
    proc = subprocess.run(["make", "-C", str(ROOT), "-pRrq", "--no-print-directory", "help"],
                          capture_output=True, text=True)
    targets, lines = set(), proc.stdout.splitlines()
    for previous, line in zip(["", *lines], lines, strict=False):
        m = re.match(r"^([A-Za-z0-9_.-]+):", line)
        if m and previous != "# Not a target:":
            targets.add(m.group(1))
    return targets


def test_every_make_target_the_jenkinsfile_calls_exists(simulations):
    called = {t for sim in simulations.values() for t in sim.make_targets()}
    # Also every `make X` written anywhere in the file, even on paths no scenario takes.
    called |= set(re.findall(r"\bmake\s+([A-Za-z0-9_.-]+)", JENKINSFILE.read_text()))
    assert {"lint", "validate", "unit", "preview", "images-script", "images-record", "bump-built"} <= called
    missing_rules = called - make_database_targets()
    assert not missing_rules, f"Jenkinsfile calls make targets with no rule: {sorted(missing_rules)}"
    undocumented = called - make_targets_with_help()
    assert not undocumented, f"targets without a `## help` line: {sorted(undocumented)}"


def test_job_dsl_seed_parses_as_groovy(groovy_jar):
    seed = ROOT / "jenkins" / "casc" / "jobs.groovy"
    proc = subprocess.run(
        [java(), "-cp", str(groovy_jar), "groovy.ui.GroovyMain", "-e",
         "new GroovyShell().parse(new File(args[0])); println 'ok'", str(seed)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    text = seed.read_text()
    assert "scriptPath('Jenkinsfile')" in text
    assert f"ignoredAuthors('{BOT_EMAIL}')" in text  # the ignore-committer strategy names the bump bot


def test_release_commits_are_tested_but_build_and_bump_nothing(simulations):
    """A merged promotion or a rollback must not be followed by new images + a bump (that undoes it)."""
    release, main = simulations["release-commit-on-main"], simulations["main"]
    assert release.stages["Unit tests"] and release.stages["End-to-end"]
    assert not release.stages["Build and push images"] and not release.stages["Bump overlays"]
    assert main.stages["Build and push images"] and main.stages["Bump overlays"]
    assert "make release-commit-check" in main.shell()
    # Builds on main deploy to dev only: prod moves by promotion.
    assert re.search(r"^\s*BUMP_CLUSTERS = 'dev'", JENKINSFILE.read_text(), re.M)


def test_the_checker_catches_a_pipeline_that_bumps_after_a_release(groovy_jar, tmp_path):
    mutated = tmp_path / "Jenkinsfile"
    mutated.write_text(JENKINSFILE.read_text().replace("          environment name: 'RELEASE_COMMIT', value: 'false'\n", ""))
    release = simulate(groovy_jar, mutated, SCENARIOS["release-commit-on-main"])
    assert any("must not build or bump images" in p for p in problems("release-commit-on-main", release))


# --- failure paths and post conditions ------------------------------------------------------------

def test_a_failing_stage_stops_the_build_and_post_failure_notifies(simulations):
    sim = simulations["main-e2e-fails"]
    assert sim.result == "FAILURE" and list(sim.failed) == ["End-to-end"]
    assert "exit code 2: make e2e" in sim.failed["End-to-end"]
    assert not sim.stages["Build and push images"] and not sim.stages["Bump overlays"]
    assert not {"images-script", "images-record", "bump-built"} & set(sim.make_targets())
    # The stage's own post { always } still publishes the failed tests; the pipeline's post { failure } reports.
    assert [s.arg for s in sim.steps if s.stage == "End-to-end" and s.kind == "junit"] == [".run/reports/e2e-*.xml"]
    assert sim.post_steps("slackSend") == ["#mlops-ci danger"]
    assert sim.post_steps("mail") == ["data-platform@mlops-platform.invalid"]
    assert sim.post_steps("archiveArtifacts") == [".run/gate/report.json"]  # post { always } too


def test_a_failed_pr_build_publishes_its_tests_and_previews_nothing(simulations):
    sim = simulations["pull-request-unit-tests-fail"]
    assert list(sim.failed) == ["Unit tests"] and sim.result == "FAILURE"
    assert any(s.stage == "Unit tests" and s.kind == "junit" for s in sim.steps)
    assert not sim.stages["PR preview"] and not sim.stages["End-to-end without a cluster"]
    assert sim.post_steps("slackSend") == ["#mlops-ci danger"]


def test_fixed_is_reported_once_after_a_red_build(simulations):
    fixed, green = simulations["main-fixed-after-failure"], simulations["main"]
    assert fixed.result == green.result == "SUCCESS"
    assert fixed.post_steps("slackSend") == ["#mlops-ci good"] and not fixed.post_steps("mail")
    assert green.post_steps("slackSend") == [] and green.post_steps("mail") == []


@pytest.mark.parametrize("scenario", ["main-release-check-fails", "main-release-check-gives-no-answer",
                                      "main-skip-check-fails"])
def test_the_skip_and_release_checks_fail_closed(simulations, scenario):
    """A check that errors or gives no answer fails the build; it is never read as "not a release"."""
    sim = simulations[scenario]
    assert sim.result == "FAILURE" and list(sim.failed) == [FAILS_IN[scenario]]
    assert [stage for stage, ran in sim.stages.items() if ran] == ["Skip CI bot commits"]
    if scenario == "main-release-check-gives-no-answer":
        assert "expected RELEASE_COMMIT=true or RELEASE_COMMIT=false" in sim.failed["Skip CI bot commits"]


def test_the_checker_catches_a_fail_open_release_check_and_a_missing_failure_notice(groovy_jar, tmp_path):
    """problems() is not vacuous for the failure paths: the old fail-open check and a pipeline without
    post { failure } are both reported."""
    text = JENKINSFILE.read_text()
    fail_open = tmp_path / "fail-open" / "Jenkinsfile"
    fail_open.parent.mkdir()
    fail_open.write_text(text.replace(
        "env.RELEASE_COMMIT = decide('release-commit-check', 'RELEASE_COMMIT')",
        f"env.RELEASE_COMMIT = sh(script: '{RELEASE_CHECK}', returnStatus: true) == 0 ? 'true' : 'false'"))
    assert fail_open.read_text() != text
    sim = simulate(groovy_jar, fail_open, SCENARIOS["main-release-check-fails"])
    assert sim.stages["Build and push images"]  # the old pipeline would build and bump after a crash
    assert any("must fail in 'Skip CI bot commits'" in p for p in problems("main-release-check-fails", sim))

    silent = tmp_path / "silent" / "Jenkinsfile"
    silent.parent.mkdir()
    start = text.index("    failure {")
    silent.write_text(text[:start] + text[text.index("    fixed {"):])
    sims = simulate_many(groovy_jar, silent, {"red": SCENARIOS["main-e2e-fails"],
                                              "fixed": SCENARIOS["main-fixed-after-failure"]})
    assert any("post { failure } must notify" in p for p in problems("main-e2e-fails", sims["red"]))
    assert problems("main-fixed-after-failure", sims["fixed"]) == []
