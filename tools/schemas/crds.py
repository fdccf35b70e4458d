"""CRD YAML -> strict JSON schemas in kubeconform's layout.

A CRD's ``openAPIV3Schema`` is OpenAPI, not JSON Schema, and it is lenient where the API server
is not (the server prunes or rejects unknown fields). The conversion makes kubeconform as strict
as the server: objects with declared ``properties`` reject other fields unless they say
``x-kubernetes-preserve-unknown-fields``; int-or-string and nullable become JSON Schema types;
apiVersion/kind are pinned to the CRD's own values and metadata uses the Kubernetes ObjectMeta.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .refs import Json

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that reads a bare ``=`` (YAML 1.1's "value" tag, e.g. an enum of match
    operators) as the string it is in YAML 1.2, which the API server uses."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


class CrdError(ValueError):
    pass


@dataclass(frozen=True)
class CrdVersionSchema:
    kind: str
    group: str
    version: str
    schema: Json

    @property
    def file_name(self) -> str:
        """kubeconform's ``{{.ResourceKind}}{{.KindSuffix}}.json``: kind-<first DNS label of group>-version."""
        return f"{self.kind.lower()}-{self.group.split('.')[0]}-{self.version}.json"


def load_crds(path: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinition documents of a YAML file (other documents are ignored)."""
    try:
        docs = list(yaml.load_all(path.read_text(), Loader=_CrdLoader))
    except yaml.YAMLError as err:
        raise CrdError(f"{path}: not valid YAML: {err}") from err
    return [
        doc for doc in docs
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
        and str(doc.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    ]


def strict_schema(node: Json, structural: bool = True) -> Json:
    """Convert one OpenAPI v3 (structural) schema node to strict JSON Schema 2020-12.

    ``structural`` is False inside allOf/anyOf/oneOf/not: those branches only add value checks to
    fields declared by the enclosing node, so closing them with additionalProperties would wrongly
    reject the enclosing node's other fields.
    """
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: strict_schema(sub, True) for name, sub in value.items()}
        elif key == "items":
            out[key] = strict_schema(value, True) if isinstance(value, dict) else [strict_schema(v, True) for v in value]
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = strict_schema(value, True)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [strict_schema(v, False) for v in value]
        elif key == "not":
            out[key] = strict_schema(value, False)
        else:
            out[key] = value

    # OpenAPI 3.0 booleans exclusiveMinimum/Maximum are numbers in JSON Schema 2020-12.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(exclusive), bool):
            if out.pop(exclusive) and bound in out:
                out[exclusive] = out.pop(bound)

    if out.get("x-kubernetes-int-or-string") and not ({"anyOf", "oneOf"} & out.keys()):
        out.pop("type", None)
        out["oneOf"] = [{"type": "integer"}, {"type": "string"}]

    if out.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        for combinator in ("oneOf", "anyOf"):
            if combinator in out:
                out[combinator] = [*out[combinator], {"type": "null"}]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]

    preserve = out.get("x-kubernetes-preserve-unknown-fields") is True
    if out.get("x-kubernetes-embedded-resource") and "properties" in out:
        # The API server accepts (and validates) these on embedded objects even when undeclared.
        for name, sub in (("apiVersion", {"type": "string"}), ("kind", {"type": "string"}), ("metadata", {"type": "object"})):
            out["properties"].setdefault(name, sub)
    if structural and "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def version_schemas(crd: dict[str, Any], source: str, object_meta_defs: dict[str, Json]) -> list[CrdVersionSchema]:
    """One strict, self-contained JSON schema per CRD version that declares a schema."""
    spec = crd.get("spec") or {}
    name = (crd.get("metadata") or {}).get("name", "?")
    group = spec.get("group")
    kind = (spec.get("names") or {}).get("kind")
    if not group or not kind:
        raise CrdError(f"CustomResourceDefinition {name}: spec.group and spec.names.kind are required")
    result = []
    for entry in spec.get("versions") or []:
        openapi = ((entry.get("schema") or {}).get("openAPIV3Schema"))
        if not openapi:
            continue
        version = entry["name"]
        schema = strict_schema(openapi, True)
        schema["type"] = "object"
        properties = schema.setdefault("properties", {})
        properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
        properties["kind"] = {"type": "string", "enum": [kind]}
        properties["metadata"] = {"$ref": f"#/$defs/{OBJECT_META}"}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
        document = {
            "$schema": SCHEMA_DIALECT,
            "title": f"{kind} {group}/{version}",
            "description": f"Strict schema for {kind} {group}/{version}, generated from CRD {name} in {source}.",
            **{key: value for key, value in schema.items() if key not in ("$schema", "title")},
            "$defs": object_meta_defs,
        }
        result.append(CrdVersionSchema(kind, group, version, document))
    return result
