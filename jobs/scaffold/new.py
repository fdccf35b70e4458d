"""Scaffold a new ETL job (`job NAME`) or DAG (`dag NAME [--job JOB]`) into a repository tree.

    python -m scaffold.new job customer_orders
    python -m scaffold.new dag customer_orders_daily --job customer_orders

Every check runs before the first file is written, so a refused request leaves the tree as it
was. Existing files are never overwritten. `--root` points at another checkout (tests use a copy).
"""
import argparse
import ast
import keyword
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from string import Template

from scaffold import cli_steps

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPO = Path(__file__).resolve().parents[2]
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_NAME = 50
# Module / folder names a new job or DAG must not take over.
RESERVED = {"etl", "cli", "scaffold", "bench", "mlops_dags", "templates", "conftest", "test", "tests",
            "pyspark", "airflow", "pandas", "spark"}


class ScaffoldError(Exception):
    """A request the scaffold refuses; the message names the file or name and the rule."""


@dataclass(frozen=True)
class Planned:
    path: Path
    text: str


def check_name(kind: str, name: str) -> None:
    if not SNAKE.match(name or ""):
        raise ScaffoldError(f"{kind} name {name!r}: must be snake_case (a-z, 0-9, single '_' between "
                            "words, starting with a letter), e.g. customer_orders")
    if keyword.iskeyword(name) or name in RESERVED:
        raise ScaffoldError(f"{kind} name {name!r}: reserved (Python keyword or a name the repo already uses)")
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"{kind} name {name!r}: longer than {MAX_NAME} characters "
                            "(it becomes a Kubernetes object name in kubernetes mode)")


def _refuse_existing(planned: list[Planned], root: Path) -> None:
    existing = [str(p.path.relative_to(root)) for p in planned if p.path.exists()]
    if existing:
        raise ScaffoldError(f"refusing to overwrite existing file(s): {', '.join(existing)}")


def _render(template: str, **values) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def plan_job(root: Path, name: str) -> tuple[list[Planned], Planned]:
    """(new files, the edited cli.py) for job `name`, or ScaffoldError."""
    check_name("job", name)
    module = root / "jobs" / "etl" / f"{name}.py"
    cli = root / "jobs" / "etl" / "cli.py"
    new = [
        Planned(module, _render("job.py.tmpl", name=name, class_name=class_name(name))),
        Planned(root / "tests" / "jobs" / f"test_{name}.py",
                _render("test_job.py.tmpl", name=name, class_name=class_name(name))),
    ]
    _refuse_existing(new, root)
    if not cli.is_file():
        raise ScaffoldError(f"{cli}: not found (is --root a checkout of this repository?)")
    try:
        edited = cli_steps.add_step(cli.read_text(encoding="utf-8"), name, str(cli.relative_to(root)))
    except cli_steps.CliLayoutError as error:
        raise ScaffoldError(str(error)) from error
    return new, Planned(cli, edited)


def plan_dag(root: Path, dag_id: str, job: str, today: date) -> list[Planned]:
    check_name("DAG", dag_id)
    check_name("job", job)
    taken = _dag_ids_in(root / "dags")
    if dag_id in taken:
        raise ScaffoldError(f"DAG {dag_id!r}: already defined in dags/{taken[dag_id]}")
    cli = root / "jobs" / "etl" / "cli.py"
    if not (root / "jobs" / "etl" / f"{job}.py").is_file():
        raise ScaffoldError(f"job {job!r}: jobs/etl/{job}.py does not exist; run `make new-job NAME={job}` "
                            "first (or pass JOB=<an existing job>)")
    if not _has_run_function(root / "jobs" / "etl" / f"{job}.py"):
        raise ScaffoldError(f"job {job!r}: jobs/etl/{job}.py has no top-level run(spark, root, day), "
                            "which the DAG's local mode calls (scaffold the job with `make new-job`)")
    try:
        known_steps = cli_steps.steps(cli.read_text(encoding="utf-8"), str(cli))
    except (OSError, cli_steps.CliLayoutError) as error:
        raise ScaffoldError(str(error)) from error
    if job not in known_steps:
        raise ScaffoldError(f"job {job!r}: not a step of jobs/etl/cli.py (STEPS = {known_steps}); "
                            "the SparkApplication could not run it")
    values = {"dag_id": dag_id, "job": job, "start_year": today.year - 1}
    planned = [
        Planned(root / "dags" / f"{dag_id}.py", _render("dag.py.tmpl", **values)),
        Planned(root / "tests" / "dags" / f"test_{dag_id}.py", _render("test_dag.py.tmpl", **values)),
    ]
    _refuse_existing(planned, root)
    return planned


def _has_run_function(module: Path) -> bool:
    try:
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    except SyntaxError as error:
        raise ScaffoldError(f"{module}: does not parse ({error.msg}, line {error.lineno})") from error
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" and len(node.args.args) >= 3
               for node in tree.body)


DAG_ID_LITERAL = re.compile(r"""dag_id\s*=\s*["']([^"']+)["']|DAG_ID\s*=\s*["']([^"']+)["']""")


def _dag_ids_in(dags_dir: Path) -> dict[str, str]:
    """dag ids declared as literals in the DAG folder's top-level files -> file name."""
    found = {}
    for path in sorted(dags_dir.glob("*.py")):
        found.setdefault(path.stem, path.name)
        for match in DAG_ID_LITERAL.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1) or match.group(2), path.name)
    return found


def write(planned: list[Planned], root: Path) -> list[str]:
    written = []
    for item in planned:
        item.path.parent.mkdir(parents=True, exist_ok=True)
        mode = "w" if item.path.exists() else "x"  # "x": new files must not appear meanwhile
        with item.path.open(mode, encoding="utf-8") as out:
            out.write(item.text)
        written.append(str(item.path.relative_to(root)))
    return written


def new_job(root: Path, name: str) -> str:
    files, cli = plan_job(root, name)
    created = write(files, root)
    write([cli], root)
    return "\n".join([
        f"Created job {name!r}:",
        *[f"  + {path}" for path in created],
        f"  ~ {cli.path.relative_to(root)} (step {name!r} added to STEPS and run())",
        "",
        "Next steps:",
        f"  1. Edit jobs/etl/{name}.py: SOURCE_SCHEMA, reason_column() (quarantine rules), transform().",
        f"  2. Edit tests/jobs/test_{name}.py to cover the real rules; run: make test-data "
        f"PYTEST_ARGS='-k {name}'",
        f"  3. Schedule it: make new-dag NAME={name}_daily JOB={name}",
    ])


def new_dag(root: Path, dag_id: str, job: str, today: date) -> str:
    created = write(plan_dag(root, dag_id, job, today), root)
    return "\n".join([
        f"Created DAG {dag_id!r} running job {job!r}:",
        *[f"  + {path}" for path in created],
        "",
        "Next steps:",
        f"  1. Edit dags/{dag_id}.py: description, schedule, start_date, timeouts; add upstream tasks.",
        f"  2. Check it: make test-data PYTEST_ARGS='-k {dag_id}' (both Spark modes, platform DAG rules).",
        f"  3. Run it locally end to end: make run-dag DAG={dag_id} JOB={job}",
        "  4. Commit; git-sync delivers dags/ to the scheduler, the spark-etl image build carries jobs/etl.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scaffold.new", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository checkout to write into")
    sub = parser.add_subparsers(dest="kind", required=True)
    sub.add_parser("job", help="a PySpark job: module in jobs/etl, CLI step, test").add_argument("name")
    dag = sub.add_parser("dag", help="a DAG running one job, with its test")
    dag.add_argument("name")
    dag.add_argument("--job", help="the jobs/etl step it runs (default: NAME)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.kind == "job":
            print(new_job(root, args.name))
        else:
            print(new_dag(root, args.name, args.job or args.name, date.today()))
    except ScaffoldError as error:
        print(f"error: {error}; nothing was written", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
