import mpmath
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from limitlab.theory import (
    gaussian_expectation,
    two_layer_excess_kurtosis,
    two_layer_fourth_cumulant,
)

u = sp.Symbol("u", real=True)
n = sp.Symbol("n", positive=True, integer=True)


def _quad(g, variance=1):
    s2 = mpmath.mpf(variance)
    with mpmath.workdps(30):
        return mpmath.quad(
            lambda x: g(x) * mpmath.exp(-x * x / (2 * s2)) / mpmath.sqrt(2 * mpmath.pi * s2),
            [-mpmath.inf, 0, mpmath.inf],
        )


@given(st.integers(0, 8), st.sampled_from([1, 2, sp.Rational(1, 3)]))
def test_relu_powers_match_quadrature(k, variance):
    exact = gaussian_expectation(sp.Max(u, 0) ** k, u, variance)
    assert exact.is_number and not isinstance(exact, sp.Float)
    numeric = _quad(lambda x: max(x, 0) ** k, float(variance))
    assert abs(float(exact) - float(numeric)) <= 1e-12 * max(1, abs(float(numeric)))


@given(st.lists(st.integers(-3, 3), min_size=1, max_size=5))
def test_polynomial_moments(coeffs):
    poly = sum(c * u**k for k, c in enumerate(coeffs))
    # E[u^k] = (k-1)!! for even k, 0 for odd k.
    expected = sum(c * (sp.factorial2(k - 1) if k % 2 == 0 else 0) for k, c in enumerate(coeffs))
    assert sp.simplify(gaussian_expectation(poly, u) - expected) == 0


def test_abs_and_symbolic_variance():
    s2 = sp.Symbol("s2", positive=True)
    assert sp.simplify(gaussian_expectation(sp.Abs(u), u, s2) - sp.sqrt(2 * s2 / sp.pi)) == 0


def test_numeric_branch_for_erf():
    value = gaussian_expectation(sp.erf(u) ** 2, u)
    assert isinstance(value, sp.Float)
    exact = 2 / sp.pi * sp.asin(sp.Rational(2, 3))  # E erf(u)^2 = (2/pi) arcsin(2/3)
    assert abs(float(value - exact)) < 1e-25


def test_bad_variance():
    with pytest.raises(ValueError, match="variance must be positive"):
        gaussian_expectation(u, u, -1)


def test_relu_network_cumulants():
    second, cumulant = two_layer_fourth_cumulant(sp.Max(u, 0), n)
    assert second == sp.Rational(1, 2)
    assert sp.simplify(cumulant - sp.Rational(15, 4) / n) == 0
    assert sp.simplify(two_layer_excess_kurtosis(sp.Max(u, 0), n) - 15 / n) == 0
    # A linear network: Z = a*u with E Z^4 = 9, so kurtosis 3*(3 - 1)/n = 6/n.
    assert two_layer_excess_kurtosis(u, 3) == 2


def test_width_must_be_positive_integer():
    with pytest.raises(ValueError, match="width must be a positive integer"):
        two_layer_fourth_cumulant(sp.Max(u, 0), 0)
