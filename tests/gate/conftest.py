import pytest

from tools.gate import paths


@pytest.fixture(scope="session", autouse=True)
def gate_tools_built():
    """The gate runs the pinned Go tools; `make test` builds them first (make go-tools schemas psa-oracle)."""
    for name in ("kustomize", "kubeconform", "opa", "psa-oracle"):
        paths.tool(name)  # raises ToolMissing with the make target to run
    assert (paths.SCHEMA_DIR / "crds").is_dir(), "run `make schemas`"
