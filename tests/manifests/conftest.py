import platform_render
import pytest


@pytest.fixture(params=platform_render.CLUSTERS)
def env(request) -> str:
    """Each manifest test runs once per cluster."""
    return request.param
