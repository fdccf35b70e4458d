"""The part of Go's text/template that this repository's ApplicationSets use, in Python.

Argo CD renders ApplicationSet templates with Go templates (`goTemplate: true`); the static gate and
the tests render the same templates here to see the Applications Argo CD will create. Supported:
`{{ .a.b }}`, `{{ $.a }}`, `{{ . }}`, `{{- ... -}}` whitespace trimming, `if`/`else`/`end`,
`with`/`end`, `range`/`end`, parenthesized pipelines and the functions `toJson`, `not`, `index`,
`base` (sprig's: the last element of a slash-separated path), `eq`, `ne` (two arguments), `and`,
`or` (the last two stop at the first argument that decides, as Go does since 1.18). Anything else is an error, so a
template that uses more fails here loudly instead of being rendered differently.

Go's default `missingkey` behaviour is kept: a missing map key is nil, prints as `<no value>` and
is false in `if`; a field of nil is an error.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
NO_VALUE = "<no value>"


class TemplateError(ValueError):
    pass


@dataclass
class _Node:
    kind: str  # text, action, if, with, range
    value: str = ""
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(text):
        chunk = text[pos:match.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if match.group(1):
            chunk = chunk.rstrip()
        out.append(("text", chunk))
        out.append(("action", match.group(2).strip()))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = text[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def _parse(tokens: list[tuple[str, str]]) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for kind, value in tokens:
        target = stack[-1][1]
        if kind == "text":
            if value:
                target.append(_Node("text", value))
            continue
        word, _, rest = value.partition(" ")
        if word in ("if", "with", "range"):
            node = _Node(word, rest.strip())
            target.append(node)
            stack.append((node, node.body))
        elif word == "else":
            node = stack[-1][0]
            if node is None or node.kind == "range" or rest:
                raise TemplateError(f"unsupported else: {{{{{value}}}}}")
            stack[-1] = (node, node.orelse)
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("{{end}} without a block")
            stack.pop()
        elif value.startswith("/*"):
            continue  # comment
        else:
            target.append(_Node("action", value))
    if len(stack) != 1:
        raise TemplateError(f"unclosed {{{{{stack[-1][0].kind}}}}}")
    return root


def _lookup(expr: str, dot, root):
    if expr == ".":
        return dot
    if expr == "$":
        return root
    if expr.startswith("$."):
        value, names = root, expr[2:].split(".")
    elif expr.startswith("."):
        value, names = dot, expr[1:].split(".")
    elif expr.startswith('"') and expr.endswith('"'):
        return json.loads(expr)
    else:
        raise TemplateError(f"unsupported term {expr!r}")
    for name in names:
        if value is None:
            raise TemplateError(f"nil pointer evaluating .{name} in {expr}")
        if not isinstance(value, dict):
            raise TemplateError(f"can't evaluate field {name} of {type(value).__name__} in {expr}")
        value = value.get(name)
    return value


def truthy(value) -> bool:
    """Go's notion of true: not nil, false, 0, or an empty string, list or map."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def _to_json(value) -> str:
    # Go's json.Marshal sorts map keys and prints no spaces.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _index(collection, key):
    if collection is None:
        raise TemplateError("index of untyped nil")
    if isinstance(collection, dict):
        return collection.get(key)  # a missing key is the zero value, as in Go
    return collection[int(key)]


# `and` and `or` take unevaluated arguments: Go (1.18+) stops at the first that decides the result.
def _base(path) -> str:
    if not isinstance(path, str):
        raise TemplateError(f"base of non-string {path!r}")
    stripped = path.rstrip("/")  # Go's path.Base: trailing slashes removed, "" -> ".", "/" -> "/"
    if not path:
        return "."
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


FUNCTIONS = {"toJson": _to_json, "not": lambda v: not truthy(v), "index": _index, "base": _base,
             "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}
LAZY = {"and": lambda values: _first(values, lambda v: not truthy(v)),
        "or": lambda values: _first(values, truthy)}


def _first(thunks, decides):
    value = None
    for thunk in thunks:
        value = thunk()
        if decides(value):
            return value
    return value


_WORD = re.compile(r'\s*(\(|\)|\||"(?:[^"\\]|\\.)*"|[^\s()|]+)')


def _split(expr: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(expr):
        match = _WORD.match(expr, pos)
        if not match:
            if expr[pos:].strip():
                raise TemplateError(f"cannot read {expr!r}")
            break
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _evaluate(expr: str, dot, root):
    tokens = _split(expr)
    value, rest = _pipeline(tokens, dot, root)
    if rest:
        raise TemplateError(f"unexpected {rest[0]!r} in {expr!r}")
    return value


def _pipeline(tokens, dot, root, piped=False):
    """pipeline := command ('|' command)*; returns (value, unread tokens)."""
    value, tokens = _command(tokens, dot, root, [])
    while tokens and tokens[0] == "|":
        value, tokens = _command(tokens[1:], dot, root, [lambda v=value: v])
    return value, tokens


def _command(tokens, dot, root, piped):
    if not tokens:
        raise TemplateError("empty command")
    head, tokens = tokens[0], tokens[1:]
    args = []
    while tokens and tokens[0] not in ("|", ")"):
        if tokens[0] == "(":
            inner, tokens = _parenthesized(tokens[1:], dot, root)
            args.append(inner)
        else:
            term = tokens[0]
            args.append(lambda t=term: _lookup(t, dot, root))
            tokens = tokens[1:]
    args += piped
    if head == "(":
        if args:
            raise TemplateError("arguments after a parenthesized pipeline")
        raise TemplateError("a command may not start with (")
    if head in LAZY:
        return LAZY[head](args), tokens
    if head in FUNCTIONS:
        values = [a() for a in args]
        wanted = 2 if head in ("index", "eq", "ne") else 1
        if len(values) != wanted:
            raise TemplateError(f"{head} takes {wanted} argument(s), got {len(values)}")
        return FUNCTIONS[head](*values), tokens
    if args:
        raise TemplateError(f"{head!r} is not a function this template engine knows")
    return _lookup(head, dot, root), tokens


def _parenthesized(tokens, dot, root):
    """Reads `pipeline )` and returns it as an unevaluated argument (so `and`/`or` stay lazy)."""
    depth, end = 1, 0
    while end < len(tokens):
        depth += {"(": 1, ")": -1}.get(tokens[end], 0)
        if depth == 0:
            break
        end += 1
    if depth:
        raise TemplateError("unclosed (")
    inner = tokens[:end]

    def thunk():
        value, rest = _pipeline(inner, dot, root)
        if rest:
            raise TemplateError(f"unexpected {rest[0]!r}")
        return value
    return thunk, tokens[end + 1:]


def _print(value) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        raise TemplateError("printing a map or list: pipe it through toJson")
    return str(value)


def _run(nodes: list[_Node], dot, root, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.value)
        elif node.kind == "action":
            out.append(_print(_evaluate(node.value, dot, root)))
        elif node.kind == "if":
            _run(node.body if truthy(_evaluate(node.value, dot, root)) else node.orelse, dot, root, out)
        elif node.kind == "with":
            value = _evaluate(node.value, dot, root)
            if truthy(value):
                _run(node.body, value, root, out)
            else:
                _run(node.orelse, dot, root, out)
        elif node.kind == "range":
            value = _evaluate(node.value, dot, root)
            items = [value[k] for k in sorted(value)] if isinstance(value, dict) else (value or [])  # Go ranges maps in key order
            for item in items:
                _run(node.body, item, root, out)


def render(text: str, data: dict) -> str:
    out: list[str] = []
    _run(_parse(_tokens(text)), data, data, out)
    return "".join(out)
