import os

# Tests never depend on a GPU; keep JAX on the CPU even where one is visible.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# pytest-xdist runs one worker per core: a multi-threaded BLAS in each worker oversubscribes
# the cores, and OpenBLAS then slows down by orders of magnitude (eigh of 400 x 400: 2 s
# instead of 0.03 s).  Must be set before numpy (or scipy, or jax) loads its BLAS.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

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
