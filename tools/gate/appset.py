"""The Applications an ApplicationSet of this repository makes, computed the way Argo CD does.

Only what the repository's ApplicationSets use is implemented: git `files` generators reading this
checkout (the generator's repoURL is this repository), generator `values`, post selectors
(`matchLabels`, `matchExpressions`), Go templates (`goTemplate: true`, see gotemplate.py) in
`template` and `templatePatch`. Anything else raises, so a new feature cannot be silently ignored.

Semantics followed (Argo CD ApplicationSet docs): a files generator yields one parameter set per
matching file: the file's keys, plus `path` (`path`, `basename`, `filename`, `segments`, ...), plus
`values` rendered with those parameters. A post selector sees only the top-level string parameters
(nested ones are dropped, argoproj/argo-cd #12524). The template's strings are rendered with the
parameters, then `templatePatch` is rendered and merged in (maps merge, lists are replaced).
"""
from __future__ import annotations

import copy
import fnmatch
import re
from pathlib import Path

import yaml

from . import gotemplate

SUPPORTED_GENERATOR_KEYS = {"git", "selector"}
SUPPORTED_GIT_KEYS = {"repoURL", "revision", "files", "values"}


class AppSetError(ValueError):
    pass


def _normalized(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-]", "-", name).lower()


def _path_params(relpath: str) -> dict:
    file_path = Path(relpath)
    folder = file_path.parent
    return {
        "path": str(folder),
        "basename": folder.name,
        "filename": file_path.name,
        "basenameNormalized": _normalized(folder.name),
        "filenameNormalized": _normalized(file_path.name),
        "segments": list(folder.parts),
    }


def _matching_files(root: Path, pattern: str) -> list[str]:
    # `*` does not cross a folder boundary in the patterns used here; `**` is not supported.
    if "**" in pattern:
        raise AppSetError(f"files generator pattern {pattern!r}: ** is not supported here")
    parts = pattern.split("/")
    found = []
    for candidate in root.glob(pattern):
        rel = candidate.relative_to(root).as_posix()
        if candidate.is_file() and fnmatch.fnmatchcase(rel, pattern) and len(rel.split("/")) == len(parts):
            found.append(rel)
    return sorted(found)


def git_files_params(root: Path, git: dict) -> list[dict]:
    unknown = set(git) - SUPPORTED_GIT_KEYS
    if unknown:
        raise AppSetError(f"git generator fields not supported here: {sorted(unknown)}")
    included: list[str] = []
    excluded: set[str] = set()
    for entry in git.get("files") or []:
        matches = _matching_files(root, entry["path"])
        if entry.get("exclude"):
            excluded.update(matches)
        else:
            included += [m for m in matches if m not in included]
    params = []
    for rel in included:
        if rel in excluded:
            continue
        content = yaml.safe_load((root / rel).read_text()) or {}
        if not isinstance(content, dict):
            raise AppSetError(f"{rel}: a files generator file must hold a mapping")
        p = copy.deepcopy(content)
        p["path"] = _path_params(rel)
        p["values"] = {k: gotemplate.render(str(v), p) for k, v in (git.get("values") or {}).items()}
        params.append(p)
    return params


def _selector_matches(selector: dict, params: dict) -> bool:
    labels = {k: v for k, v in params.items() if isinstance(v, str)}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise AppSetError(f"selector operator {op!r} is not supported")
    return True


def _render_strings(node, params):
    if isinstance(node, str):
        return gotemplate.render(node, params)
    if isinstance(node, dict):
        return {_render_strings(k, params): _render_strings(v, params) for k, v in node.items()}
    if isinstance(node, list):
        return [_render_strings(v, params) for v in node]
    return node


def merge(base: dict, patch: dict) -> dict:
    """Maps merge key by key; a list or scalar in the patch replaces what was there (the
    Application type declares no merge keys, so its lists are replaced by a strategic merge)."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def generate(appset: dict, root: Path) -> list[dict]:
    """The Applications `appset` makes from the checkout at `root`, in generator order."""
    spec = appset["spec"]
    if not spec.get("goTemplate"):
        raise AppSetError(f"ApplicationSet {appset['metadata']['name']}: only goTemplate: true is supported")
    apps = []
    for generator in spec.get("generators") or []:
        unknown = set(generator) - SUPPORTED_GENERATOR_KEYS
        if unknown or "git" not in generator:
            raise AppSetError(f"generator kinds not supported here: {sorted(set(generator) - {'selector'})}")
        for params in git_files_params(root, generator["git"]):
            if generator.get("selector") and not _selector_matches(generator["selector"], params):
                continue
            app = _render_strings(copy.deepcopy(spec["template"]), params)
            if spec.get("templatePatch"):
                patch = yaml.safe_load(gotemplate.render(spec["templatePatch"], params)) or {}
                app = merge(app, patch)
            apps.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app})
    return apps


def generated_applications(objects: list[dict], root: Path) -> list[dict]:
    """Every Application the ApplicationSets among `objects` make."""
    return [app for obj in objects if obj.get("kind") == "ApplicationSet" for app in generate(obj, root)]
