from __future__ import annotations

import pytest
from toolchain_support import VERSIONS_FILE

from tools.versions import read_versions


@pytest.fixture(scope="session")
def versions() -> dict[str, str]:
    return read_versions(VERSIONS_FILE)
