"""Pod templates embedded in ConfigMaps (Airflow's KubernetesExecutor pod_template_file) are checked
like any other pod: schema and policies. They are added to the object list as extra objects."""
from __future__ import annotations

import yaml

from .render import Rendered


def embedded_pods(item: Rendered) -> list[Rendered]:
    obj = item.obj
    if obj.get("kind") != "ConfigMap":
        return []
    meta = obj.get("metadata") or {}
    found = []
    for key, value in sorted((obj.get("data") or {}).items()):
        if not key.endswith((".yaml", ".yml")) or not isinstance(value, str):
            continue
        try:
            doc = yaml.safe_load(value)
        except yaml.YAMLError:
            continue  # not ours to judge: an arbitrary YAML payload
        if isinstance(doc, dict) and doc.get("kind") == "Pod" and doc.get("apiVersion") == "v1":
            doc.setdefault("metadata", {}).setdefault("namespace", meta.get("namespace"))
            where = f"{item.source} (ConfigMap {meta.get('namespace', '')}/{meta.get('name')} key {key})"
            found.append(Rendered(doc, where))
    return found
