"""The text-level edit of `images:` entries keeps everything else byte-for-byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ci_tools.errors import BadInput
from ci_tools.imageref import ImageBump, parse_reference
from ci_tools.overlay_images import apply_bump

NAME = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/spark-etl"
DIGEST = "sha256:" + "c" * 64
TEXT = f"""# header comment
images:
  # spark job image
  - name: {NAME}  # trailing comment
    newTag: 'old-tag'   # quoted, with a comment
  - name: other/image
    newTag: v1
resources: [../../base]
"""


def test_only_the_value_changes():
    new = apply_bump(TEXT, ImageBump(NAME, tag="new-tag"), Path("k.yaml"))
    assert new == TEXT.replace("'old-tag'", "new-tag")


def test_digest_is_inserted_under_the_entry_with_its_indentation():
    new = apply_bump(TEXT, ImageBump(NAME, tag="t2", digest=DIGEST), Path("k.yaml"))
    assert f"    newTag: t2   # quoted, with a comment\n    digest: {DIGEST}\n  - name: other/image" in new
    assert yaml.safe_load(new)["images"][1] == {"name": "other/image", "newTag": "v1"}


def test_entry_without_the_image_returns_none():
    assert apply_bump(TEXT, ImageBump("other/missing", tag="x"), Path("k.yaml")) is None


def test_flow_style_list_is_refused_with_the_file_name():
    with pytest.raises(BadInput, match=r"k.yaml: `images` must be a block-style list"):
        apply_bump(f"images: [{{name: {NAME}, newTag: a}}]\n", ImageBump(NAME, tag="b"), Path("k.yaml"))


@pytest.mark.parametrize(("text", "expected"), [
    (f"{NAME}:abc", ImageBump(NAME, tag="abc")),
    (f"{NAME}@{DIGEST}", ImageBump(NAME, digest=DIGEST)),
    (f"localhost:5000/x/y:1.0@{DIGEST}", ImageBump("localhost:5000/x/y", tag="1.0", digest=DIGEST)),
])
def test_parse_reference(text, expected):
    assert parse_reference(text) == expected
