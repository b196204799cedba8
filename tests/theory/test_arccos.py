import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from limitlab.theory import arccos_j, relu_feature_kernel, relu_feature_product_variance


def _pdf(t):
    return math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)


def _gaussian_pair_moment(rho, p):
    """E[relu(u)^p relu(v)^p] for unit Gaussians with correlation rho, by nested quadrature
    (an independent numerical route: scipy's QUADPACK, not the closed form)."""
    c = math.sqrt(1 - rho**2)

    def inner(a):
        # v = rho*a + c*b > 0  <=>  b > -rho*a/c
        value, _ = integrate.quad(
            lambda b: (rho * a + c * b) ** p * _pdf(b), -rho * a / c, np.inf,
            epsabs=1e-14, epsrel=1e-12,
        )
        return value * a**p * _pdf(a)

    value, _ = integrate.quad(inner, 0, np.inf, epsabs=1e-14, epsrel=1e-12)
    return value


@pytest.mark.parametrize("rho", [-0.8, -0.3, 0.0, 0.5, 0.9])
@pytest.mark.parametrize("p", [0, 1, 2])
def test_arccos_kernels_match_quadrature(rho, p):
    theta = math.acos(rho)
    closed = float(arccos_j(p, theta)) / (2 * math.pi)
    assert closed == pytest.approx(_gaussian_pair_moment(rho, p), rel=1e-9, abs=1e-12)


@given(st.floats(-1, 1))
def test_kernel_and_variance_are_consistent(rho):
    k = float(relu_feature_kernel(sp.Float(rho)))
    var = float(relu_feature_product_variance(sp.Float(rho)))
    assert -1e-15 <= k <= 0.5 + 1e-15  # floating-point sympy evaluation at the endpoints
    assert var >= -1e-14
    # Cauchy-Schwarz: k(x, y)^2 <= k(x, x) k(y, y) = 1/4.
    assert k**2 <= 0.25 + 1e-15


def test_endpoints():
    assert relu_feature_kernel(1) == sp.Rational(1, 2)
    assert relu_feature_kernel(-1) == 0
    assert sp.simplify(relu_feature_product_variance(1) - (sp.Rational(3, 2) - sp.Rational(1, 4))) == 0


def test_bad_input():
    with pytest.raises(ValueError, match="order must be 0, 1 or 2"):
        arccos_j(3)
    with pytest.raises(ValueError, match=r"rho .* must lie in \[-1, 1\]"):
        relu_feature_kernel(1.5)
