"""Register a new step in jobs/etl/cli.py (its STEPS tuple and its run() dispatch).

Edits the source text at positions found with `ast`, so the rest of the file (owned by whoever
maintains the CLI) stays byte for byte as it was; the result is parsed again before it is used.
"""
import ast
import json


class CliLayoutError(ValueError):
    """cli.py no longer has the shape this tool edits (a literal STEPS tuple and a run())."""


def _module(source: str, path: str) -> ast.Module:
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as error:
        raise CliLayoutError(f"{path}: does not parse ({error.msg}, line {error.lineno})") from error


def _steps_node(tree: ast.Module, path: str) -> ast.Assign:
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["STEPS"]:
            if isinstance(node.value, ast.Tuple):
                return node
    raise CliLayoutError(f"{path}: no module-level `STEPS = (...)` tuple to add the step to")


def steps(source: str, path: str = "cli.py") -> tuple[str, ...]:
    return tuple(ast.literal_eval(_steps_node(_module(source, path), path).value))


def _run_function(tree: ast.Module, path: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "run":
            return node
    raise CliLayoutError(f"{path}: no `def run(args, spark)` to dispatch the step from")


def add_step(source: str, step: str, path: str = "cli.py") -> str:
    """cli.py's text with `step` appended to STEPS and dispatched to `etl.<step>.run`."""
    tree = _module(source, path)
    if step in steps(source, path):
        raise CliLayoutError(f"{path}: step {step!r} is already in STEPS")
    lines = source.splitlines(keepends=True)
    run = _run_function(tree, path)
    # Insert before run()'s last statement (its fallback), indented like the body.
    last = run.body[-1]
    indent = " " * last.col_offset
    dispatch = [
        f'{indent}if args.step == "{step}":\n',
        f"{indent}    from etl import {step}\n",
        "\n",
        f"{indent}    return {step}.run(spark, args.root, args.date)\n",
    ]
    assign = _steps_node(tree, path)
    names = [*ast.literal_eval(assign.value), step]
    steps_line = f"STEPS = ({', '.join(json.dumps(n) for n in names)})\n"
    if len(steps_line) > 110:
        steps_line = "STEPS = (\n" + "".join(f"    {json.dumps(n)},\n" for n in names) + ")\n"
    # Edit bottom-up so earlier line numbers stay valid.
    edits = sorted([(last.lineno - 1, last.lineno - 1, dispatch),
                    (assign.lineno - 1, assign.end_lineno, [steps_line])], reverse=True)
    for start, end, replacement in edits:
        lines[start:end] = replacement
    result = "".join(lines)
    if step not in steps(result, path):
        raise CliLayoutError(f"{path}: adding {step!r} did not produce a STEPS tuple containing it")
    return result
