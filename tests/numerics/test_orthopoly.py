import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from limitlab.numerics import (
    chebyshev_t,
    chebyshev_u,
    float64,
    gegenbauer,
    gegenbauer_normalised,
    hermite,
    laguerre,
    legendre,
)

xs = st.floats(-1, 1, allow_nan=False, allow_subnormal=False)


def _exact(family, *args):
    """Exact value with sympy on exact rationals (mpmath's hypergeometric route fails to
    converge where the exact value is 0)."""
    return family(*(sp.Rational(a) if isinstance(a, float) else a for a in args)).evalf(40)


def _rel(a, b):
    return abs(float(a) - float(b)) / max(1.0, abs(float(b)))


@given(st.integers(0, 25), st.floats(0.1, 40), xs)
def test_gegenbauer_matches_mpmath(n, a, x):
    with float64():
        value = gegenbauer(n, a, x)
    assert _rel(value, _exact(sp.gegenbauer, n, a, x)) < 1e-11


@given(st.integers(0, 30), xs)
def test_simple_families_match_mpmath(n, x):
    with float64():
        assert _rel(legendre(n, x), _exact(sp.legendre, n, x)) < 1e-12
        assert _rel(chebyshev_t(n, x), _exact(sp.chebyshevt, n, x)) < 1e-12
        assert _rel(chebyshev_u(n, x), _exact(sp.chebyshevu, n, x)) < 1e-12
        assert _rel(laguerre(n, x), _exact(sp.laguerre, n, x)) < 1e-11
        exact = _exact(sp.hermite, n, x)
        assert abs(float(hermite(n, x)) - float(exact)) <= 1e-12 * max(1.0, abs(float(exact))) * (n + 1)


@given(st.integers(0, 12), st.sampled_from([3, 4, 10, 100, 1000, 10000]), xs)
def test_normalised_gegenbauer_is_stable_at_large_d(k, d, z):
    with float64():
        value = gegenbauer_normalised(k, d, z)
    a = sp.Rational(d, 2) - 1
    exact = (sp.gegenbauer(k, a, sp.Rational(z)) / sp.gegenbauer(k, a, 1)).evalf(40)
    assert abs(float(value) - float(exact)) < 1e-12
    with float64():
        assert float(gegenbauer_normalised(k, d, 1.0)) == pytest.approx(1.0, abs=1e-13)


def test_traced_degree_and_arrays():
    degrees = jnp.array([0, 1, 2, 5, 7])
    with float64():
        x = jnp.linspace(-0.9, 0.9, 5)
        got = jax.jit(gegenbauer)(degrees, 1.5, x)
    expected = [float(_exact(sp.gegenbauer, int(n), 1.5, float(t))) for n, t in zip(degrees, x)]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12)


def test_gradient_with_static_degree():
    with float64():
        grad = jax.grad(lambda t: legendre(4, t))(0.3)
    assert float(grad) == pytest.approx(float(mpmath.diff(lambda t: mpmath.legendre(4, t), 0.3)))


def test_negative_degree_is_rejected():
    with pytest.raises(ValueError, match="degree must be a non-negative integer"):
        legendre(-1, 0.3)
