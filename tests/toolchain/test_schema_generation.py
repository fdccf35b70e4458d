"""The schema generator: CRD conversion rules, self-contained K8s files, the index, bad input."""

from __future__ import annotations

import json

import pytest
from toolchain_support import SCHEMAS_DIR, VERSIONS_FILE

from tools.schemas import crds, kubernetes
from tools.schemas.__main__ import main
from tools.schemas.refs import iter_refs
from tools.schemas.sources import CRD_SOURCES
from tools.versions import VersionsError, read_versions


def test_properties_close_the_object_unless_it_preserves_unknown_fields():
    converted = crds.strict_schema({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"b": {}}},
            "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"c": {}}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"d": {}}}},
        },
    })
    props = converted["properties"]
    assert converted["additionalProperties"] is False
    assert props["spec"]["additionalProperties"] is False
    assert "additionalProperties" not in props["free"]
    assert props["labels"]["additionalProperties"]["additionalProperties"] is False
    assert props["list"]["items"]["additionalProperties"] is False


def test_value_only_branches_stay_open():
    # In a structural schema, anyOf branches only restrict fields declared by their parent.
    converted = crds.strict_schema({
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "anyOf": [{"properties": {"a": {"minLength": 1}}, "required": ["a"]}, {"required": ["b"]}],
    })
    assert converted["additionalProperties"] is False
    assert "additionalProperties" not in converted["anyOf"][0]


def test_int_or_string_and_nullable_become_json_schema_types():
    assert crds.strict_schema({"x-kubernetes-int-or-string": True}) == {
        "x-kubernetes-int-or-string": True, "oneOf": [{"type": "integer"}, {"type": "string"}],
    }
    generated = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert crds.strict_schema(generated) == generated
    assert crds.strict_schema({"type": "string", "nullable": True, "enum": ["a"]})["type"] == ["string", "null"]
    assert crds.strict_schema({"type": "string", "nullable": True, "enum": ["a"]})["enum"] == ["a", None]


def test_openapi_boolean_exclusive_bounds_become_numbers():
    assert crds.strict_schema({"type": "integer", "minimum": 0, "exclusiveMinimum": True}) == {
        "type": "integer", "exclusiveMinimum": 0,
    }
    assert crds.strict_schema({"type": "integer", "maximum": 9, "exclusiveMaximum": False}) == {
        "type": "integer", "maximum": 9,
    }


def test_crd_version_schema_pins_api_version_kind_and_metadata():
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.shop.example.com"},
        "spec": {
            "group": "shop.example.com",
            "names": {"kind": "Widget"},
            "versions": [
                {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}}},
                {"name": "v0", "served": False},
            ],
        },
    }
    (only,) = crds.version_schemas(crd, "example.com/mod@v1.0.0", {"meta": {}})
    assert only.file_name == "widget-shop-v1.json"
    props = only.schema["properties"]
    assert props["apiVersion"]["enum"] == ["shop.example.com/v1"]
    assert props["kind"]["enum"] == ["Widget"]
    assert props["metadata"] == {"$ref": f"#/$defs/{crds.OBJECT_META}"}
    assert only.schema["additionalProperties"] is False
    assert "example.com/mod@v1.0.0" in only.schema["description"]


def test_crd_without_group_is_reported_with_its_name():
    crd = {"metadata": {"name": "broken.example.com"}, "spec": {"names": {"kind": "Broken"}, "versions": []}}
    with pytest.raises(crds.CrdError, match="CustomResourceDefinition broken.example.com: spec.group"):
        crds.version_schemas(crd, "m@v", {})


def test_unparsable_crd_file_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: CustomResourceDefinition\nspec: [unclosed\n")
    with pytest.raises(crds.CrdError, match=f"{bad}: not valid YAML"):
        crds.load_crds(bad)


def test_versions_file_with_quotes_is_refused_with_line(tmp_path):
    versions = tmp_path / "versions.env"
    versions.write_text('# pins\nGOOD=v1\nBAD="v2"\n')
    with pytest.raises(VersionsError, match=rf"{versions}:3: expected NAME=value"):
        read_versions(versions)


def test_missing_module_pin_fails_the_generator_with_the_variable_name(tmp_path, capsys):
    versions = tmp_path / "versions.env"
    versions.write_text("K8S_TARGET_VERSION=1.34.0\nK8S_NEXT_VERSION=1.35.0\n")
    assert main(["--versions", str(versions), "--schemas-dir", str(tmp_path / "s"), "--crds-dir", str(tmp_path / "c")]) == 1
    assert f"{versions}: {CRD_SOURCES[0].version_variable} is not set" in capsys.readouterr().err
    assert not (tmp_path / "s").exists(), "a failed run must not leave a schema dir behind"


def test_unknown_kubernetes_version_names_what_the_package_has():
    expected = r"no strict schemas for Kubernetes 1\.99\.0 \(it has: .*v1\.34\.0-local-strict"
    with pytest.raises(kubernetes.KubernetesSchemaError, match=expected):
        kubernetes.source_dir("1.99.0")


def _index() -> dict:
    return json.loads((SCHEMAS_DIR / "index.json").read_text())


def test_generated_kubernetes_files_are_self_contained():
    versions = read_versions(VERSIONS_FILE)
    index = _index()
    assert [entry["version"] for entry in index["kubernetes"]] == [versions["K8S_TARGET_VERSION"], versions["K8S_NEXT_VERSION"]]
    for entry in index["kubernetes"]:
        folder = SCHEMAS_DIR / entry["dir"]
        files = sorted(folder.glob("*.json"))
        assert len(files) == entry["files"] > 700
        for path in files:
            schema = json.loads(path.read_text())
            assert "$id" not in schema, path
            defs = schema.get("$defs", {})
            for ref in iter_refs(schema):
                assert ref.startswith("#/$defs/") and ref[len("#/$defs/"):] in defs, f"{path}: dangling {ref}"


def test_index_lists_the_platform_kinds_with_their_pinned_modules():
    versions = read_versions(VERSIONS_FILE)
    entries = {(e["kind"], e["group"], e["version"]): e for e in _index()["crds"]}
    for source in CRD_SOURCES:
        origin = f"{source.module}@{versions[source.version_variable]}"
        for kind in source.required_kinds:
            matching = [e for (k, _, _), e in entries.items() if k == kind]
            assert matching and all(e["source"] == origin for e in matching), kind
    spark = entries[("SparkApplication", "sparkoperator.k8s.io", "v1beta2")]
    assert spark["schema"] == "crds/sparkapplication-sparkoperator-v1beta2.json"
    assert (SCHEMAS_DIR / spark["schema"]).is_file()
    assert (SCHEMAS_DIR / "crds" / "externalsecret-external-secrets-v1.json").is_file()
    assert (SCHEMAS_DIR / "crds" / "servicemonitor-monitoring-v1.json").is_file()
    assert (SCHEMAS_DIR / "crds" / "application-argoproj-v1alpha1.json").is_file()


def test_crd_yaml_is_copied_for_the_control_plane():
    crd_dir = SCHEMAS_DIR.parent / "crds"
    names = set()
    for path in crd_dir.glob("*.yaml"):
        names |= {doc["spec"]["names"]["kind"] for doc in crds.load_crds(path)}
    for source in CRD_SOURCES:
        assert set(source.required_kinds) <= names
