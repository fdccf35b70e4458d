"""The platform images of tools/platform/images that this branch adds: each is found in the
"platform" group, takes its binary from .tools/bin under the name the Go tool list builds, and gets
its local base through a build argument its Dockerfile actually declares."""
import re

import pytest
from toolchain_support import listed_tools

from tools.images.build import Builder, discover
from tools.k8s import layout as L

# image -> (binary from .tools/bin, build argument, local base of tools/images/bases.py)
EXPECTED = {
    "spark-operator": ("spark-operator", "SPARK_IMAGE", "spark"),
    "versitygw": ("versitygw", "SHELL_BASE_IMAGE", "shell"),
    "external-secrets": ("external-secrets", "STATIC_BASE_IMAGE", "shell"),
}
LISTED = {line.split()[0] for line in (L.ROOT / "tools" / "platform" / "go-tools.txt").read_text().splitlines()
          if line.strip() and not line.startswith("#")}


@pytest.fixture(scope="module")
def images():
    return {image.name: image for image in discover() if image.group == "platform"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_platform_image_binary_base_and_build_arg(images, name):
    binary, arg, base = EXPECTED[name]
    image = images[name]
    assert [b.name for b in image.binaries] == [binary]
    assert image.binaries[0] == L.TOOLS_DIR / "bin" / binary
    assert binary in LISTED, f"tools/platform/go-tools.txt does not build {binary}"
    assert Builder.bases_of(image) == {arg: base}
    declared = re.findall(r"^ARG\s+(\w+)=", image.dockerfile.read_text(), re.M)
    assert arg in declared, f"{image.dockerfile} declares no ARG {arg} (has {declared})"
    assert re.search(rf"^FROM\s+\$\{{{arg}\}}\s*$", image.dockerfile.read_text(), re.M)


def test_spark_operator_ships_upstreams_entrypoint_from_its_folder(images):
    image = images["spark-operator"]
    entrypoint = image.dockerfile.parent / "entrypoint.sh"
    assert entrypoint.is_file() and entrypoint.stat().st_mode & 0o111, "entrypoint.sh must be executable"
    assert "exec /usr/bin/tini -s -- /usr/bin/spark-operator" in entrypoint.read_text()


def test_make_images_builds_every_binary_an_image_copies():
    """`make images` on a fresh clone builds each Go tool an image copies before copying it (the
    Argo CD image copies kustomize, which only the toolchain list builds; platform-up once failed
    there). Read from make's own plan (`make -n -B images`), not from the Makefile's text."""
    import subprocess

    plan = subprocess.run(["make", "--no-print-directory", "-n", "-B", "images"], cwd=L.ROOT,
                          capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0, plan.stderr
    built = set()
    for line in plan.stdout.splitlines():
        match = re.search(r"build-go-tools\.sh(?:\s+(\S+go-tools\.txt))?", line)
        if match:
            built.add(match.group(1) or str(L.ROOT / "tools" / "toolchain" / "go-tools.txt"))
    listed = listed_tools()
    missing = []
    for image in discover():
        for binary in image.binaries:
            if binary.parent != L.TOOLS_DIR / "bin":
                continue  # a source file of the repo (pause.c), not a built tool
            owners = [str(tool.list_file) for tool in listed if tool.name == binary.name]
            assert owners, f"{image.dockerfile}: {binary.name} is in no go-tools.txt"
            if not set(owners) & built:
                missing.append(f"{image.name}: {binary.name} ({', '.join(owners)})")
    assert not missing, "`make images` does not build: " + "; ".join(missing)
