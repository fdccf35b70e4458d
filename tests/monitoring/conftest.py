from __future__ import annotations

import functools

import pytest
from monitoring_support import ROOT

from tools.gate.render import render
from tools.gate.units import app_unit


@functools.cache
def _render(cluster: str) -> tuple[dict, ...]:
    return tuple(render(app_unit(cluster, "monitoring", ROOT)))


@pytest.fixture
def render_overlay():
    """Objects the cluster's monitoring Application renders, with the pinned kustomize (cached)."""
    return lambda cluster: list(_render(cluster))
