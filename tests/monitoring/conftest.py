from __future__ import annotations

import functools

import pytest
from monitoring_support import MONITORING

from tools.gate.render import render


@functools.cache
def _render(cluster: str) -> tuple[dict, ...]:
    return tuple(render(MONITORING / "overlays" / cluster))


@pytest.fixture
def render_overlay():
    """Objects of `kustomize build apps/monitoring/overlays/<cluster>` with the pinned kustomize (cached)."""
    return lambda cluster: list(_render(cluster))
