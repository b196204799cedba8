import os

import jax
import pytest
from hypothesis import HealthCheck, settings

# Tests never depend on a GPU; keep JAX on the CPU even where one is visible.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

settings.register_profile(
    "limitlab",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("limitlab")


@pytest.fixture
def key():
    return jax.random.key(5678)
