import jax
import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from limitlab.numerics import SUPPORTED_FUNCTIONS, UnsupportedExpressionError, float64, lambdify

x, y, n = sp.symbols("x y n", real=True)

# (sympy expression in x, mpmath reference, domain of x); every whitelisted function appears.
CASES = {
    "exp": (sp.exp(x), mpmath.exp, (-5, 5)),
    "log": (sp.log(x), mpmath.log, (0.01, 50)),
    "sin": (sp.sin(x), mpmath.sin, (-6, 6)),
    "cos": (sp.cos(x), mpmath.cos, (-6, 6)),
    "tan": (sp.tan(x), mpmath.tan, (-1.2, 1.2)),
    "asin": (sp.asin(x), mpmath.asin, (-0.99, 0.99)),
    "acos": (sp.acos(x), mpmath.acos, (-0.99, 0.99)),
    "atan": (sp.atan(x), mpmath.atan, (-10, 10)),
    "atan2": (sp.atan2(x, 2), lambda t: mpmath.atan2(t, 2), (-5, 5)),
    "sinh": (sp.sinh(x), mpmath.sinh, (-4, 4)),
    "cosh": (sp.cosh(x), mpmath.cosh, (-4, 4)),
    "tanh": (sp.tanh(x), mpmath.tanh, (-4, 4)),
    "asinh": (sp.asinh(x), mpmath.asinh, (-5, 5)),
    "acosh": (sp.acosh(x), mpmath.acosh, (1.01, 9)),
    "atanh": (sp.atanh(x), mpmath.atanh, (-0.95, 0.95)),
    "Abs": (sp.Abs(x), abs, (-5, 5)),
    "sign": (sp.sign(x), mpmath.sign, (-5, 5)),
    "floor": (sp.floor(x), mpmath.floor, (-5, 5)),
    "ceiling": (sp.ceiling(x), mpmath.ceil, (-5, 5)),
    "Heaviside": (sp.Heaviside(x), lambda t: 1 if t > 0 else (0 if t < 0 else 0.5), (-5, 5)),
    "erf": (sp.erf(x), mpmath.erf, (-4, 4)),
    "erfc": (sp.erfc(x), mpmath.erfc, (-4, 4)),
    "erfinv": (sp.erfinv(x), mpmath.erfinv, (-0.99, 0.99)),
    "gamma": (sp.gamma(x), mpmath.gamma, (0.1, 12)),
    "loggamma": (sp.loggamma(x), mpmath.loggamma, (0.1, 50)),
    "digamma": (sp.digamma(x), mpmath.digamma, (0.1, 30)),
    "polygamma": (sp.polygamma(1, x), lambda t: mpmath.polygamma(1, t), (0.2, 30)),
    "beta": (sp.beta(x, 2), lambda t: mpmath.beta(t, 2), (0.2, 10)),
    "zeta": (sp.zeta(x), mpmath.zeta, (1.2, 10)),
    "factorial": (sp.factorial(x), mpmath.factorial, (0, 10)),
    "binomial": (sp.binomial(x, 2), lambda t: mpmath.binomial(t, 2), (2, 30)),
    "RisingFactorial": (sp.RisingFactorial(x, 3), lambda t: mpmath.rf(t, 3), (0.1, 10)),
    "besseli": (sp.besseli(1, x), lambda t: mpmath.besseli(1, t), (-5, 5)),
    "gegenbauer": (sp.gegenbauer(n, sp.Rational(3, 2), x), None, (-1, 1)),
    "legendre": (sp.legendre(n, x), None, (-1, 1)),
    "hermite": (sp.hermite(n, x), None, (-1, 1)),
    "chebyshevt": (sp.chebyshevt(n, x), None, (-1, 1)),
    "chebyshevu": (sp.chebyshevu(n, x), None, (-1, 1)),
    "laguerre": (sp.laguerre(n, x), None, (-1, 1)),
}
# Orthogonal polynomials: exact sympy values at exact rationals (mpmath's hypergeometric
# evaluation fails to converge where the value is exactly zero).
POLY_REFERENCE = {
    name: (lambda k, t, e=expr: e.subs({n: k, x: sp.Rational(t)}).doit().evalf(40))
    for name, (expr, ref, _) in CASES.items()
    if ref is None
}


def test_every_whitelisted_function_is_tested():
    assert {f.__name__ for f in SUPPORTED_FUNCTIONS} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_agrees_with_mpmath_at_random_points(name, data):
    expr, reference, (lo, hi) = CASES[name]
    t = data.draw(st.floats(lo, hi, allow_nan=False, allow_subnormal=False))
    with float64():
        if reference is None:
            degree = data.draw(st.integers(0, 15))
            value = jax.jit(lambdify([n, x], expr))(degree, t)
            exact = POLY_REFERENCE[name](degree, t)
        else:
            value = jax.jit(lambdify([x], expr))(t)
            exact = reference(t)
    assert np.asarray(value).dtype == np.float64
    if name in ("floor", "ceiling", "sign", "Heaviside") and float(t) == int(float(t)):
        return  # discontinuities: both sides are conventions at integer points
    assert abs(float(value) - float(exact)) <= 1e-10 * max(1.0, abs(float(exact)))


@given(st.floats(-3, 3), st.floats(0.1, 3))
def test_composite_expression(a, b):
    expr = sp.exp(-(x**2) / 2) * sp.erf(y) + sp.sqrt(y) / (1 + x**2) - y ** sp.Rational(-1, 2)
    with float64():
        value = jax.jit(lambdify([x, y], expr))(a, b)
    exact = mpmath.exp(-(a**2) / 2) * mpmath.erf(b) + mpmath.sqrt(b) / (1 + a**2) - b**-0.5
    assert abs(float(value) - float(exact)) < 1e-12


def test_hypergeometric_and_piecewise():
    with float64():
        f = lambdify([x], sp.hyper([sp.Rational(1, 2), 1], [2], x))
        assert float(f(0.3)) == pytest.approx(float(mpmath.hyp2f1(0.5, 1, 2, 0.3)), rel=1e-12)
        g = lambdify([x], sp.hyper([1], [2], x))
        assert float(g(0.7)) == pytest.approx(float(mpmath.hyp1f1(1, 2, 0.7)), rel=1e-12)
        h = lambdify([x], sp.Piecewise((x**2, x < 0), (sp.sqrt(x), True)))
        np.testing.assert_allclose(h(np.array([-2.0, 4.0])), [4.0, 2.0])
        partial = lambdify([x], sp.Piecewise((x, x > 0)))
        assert np.isnan(float(partial(-1.0)))


def test_gradients_and_vmap():
    with float64():
        f = lambdify([x], sp.loggamma(x) * x**2)
        grad = jax.grad(f)(2.5)
        exact = mpmath.diff(lambda t: mpmath.loggamma(t) * t**2, 2.5)
        assert float(grad) == pytest.approx(float(exact), rel=1e-10)
        batch = jax.vmap(f)(np.linspace(1, 3, 4))
        assert batch.shape == (4,)


def test_multiple_outputs_and_names():
    f = lambdify(["x", "y"], [x + y, x * y])
    s, p = f(2.0, 3.0)
    assert float(s) == 5.0 and float(p) == 6.0


@pytest.mark.parametrize(
    "expr, fragment",
    [
        (sp.besselj(2, x), "besselj"),
        (sp.hyper([1, 2, 3], [4], x), "2F1 and 1F1"),
        (sp.besseli(3, x), "only orders 0 and 1"),
        (sp.Function("g")(x), "'g'"),
        (x + sp.I, "imaginary unit"),
    ],
)
def test_unsupported_is_named(expr, fragment):
    with pytest.raises(UnsupportedExpressionError, match=fragment):
        lambdify([x], expr)


def test_free_symbols_must_be_arguments():
    with pytest.raises(ValueError, match="free symbol 'y'"):
        lambdify([x], x + y)


def test_wrong_argument_count():
    with pytest.raises(TypeError, match="expected 1 argument"):
        lambdify([x], x)(1.0, 2.0)
