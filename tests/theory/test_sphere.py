import functools
import itertools
import math

import mpmath
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from limitlab.theory._sphere import (
    KERNEL_VARIABLE,
    _kernel,
    _krawtchouk_level_sums,
    _singular_on_interval,
    check_positive_definite,
    eigenvalue_asymptotic,
    funk_hecke_eigenvalue,
    gegenbauer_normalised,
    harmonic_degeneracy,
    hypercube_degeneracy,
    hypercube_eigenvalue,
    kappa_tail,
    kappa_tail_limit,
    mu_coefficient,
)

z = KERNEL_VARIABLE
d_ = sp.Symbol("d", positive=True)
# A polynomial of degree 14 with coefficients of both signs: its eigenvalues come out of
# cancelling terms, the hard case for quadrature.
MIXED_POLY = 1 - 2 * z + 3 * z**2 + z**5 / 2 - z**7 + z**12 + 2 * z**14


def _mp(value):
    """A sympy number as an mpf at the current precision (exact rationals stay exact enough)."""
    return mpmath.mpmathify(sp.N(value, mpmath.mp.dps + 10))


def _relative_error(approx, exact, dps=60):
    with mpmath.workdps(dps):
        return float(abs(_mp(approx) / _mp(exact) - 1))


nonneg_poly = st.lists(
    st.fractions(min_value=0, max_value=3, max_denominator=7), min_size=1, max_size=8
).map(lambda cs: sum(sp.Rational(c.numerator, c.denominator) * z**j for j, c in enumerate(cs)))
nonneg_poly = nonneg_poly.filter(lambda h: h != 0)


# ------------------------------------------------------------------------------ degeneracies


def test_degeneracy_values():
    assert harmonic_degeneracy(100, 2) == 5049
    assert isinstance(harmonic_degeneracy(100, 2), int)
    assert [harmonic_degeneracy(3, k) for k in range(6)] == [1, 3, 5, 7, 9, 11]  # 2k + 1
    assert harmonic_degeneracy(sp.Integer(10), sp.Integer(3)) == harmonic_degeneracy(10, 3)


@given(st.integers(3, 10**6))
def test_degeneracy_low_degrees(d):
    assert harmonic_degeneracy(d, 0) == 1
    assert harmonic_degeneracy(d, 1) == d


@given(st.integers(3, 300), st.integers(0, 20))
def test_degeneracy_difference_of_binomials(d, k):
    # N(d,k) = C(d+k-1, k) - C(d+k-3, k-2): homogeneous polynomials of degree k minus those
    # divisible by |x|^2.
    expected = math.comb(d + k - 1, k) - (math.comb(d + k - 3, k - 2) if k >= 2 else 0)
    assert harmonic_degeneracy(d, k) == expected


def test_degeneracy_symbolic():
    assert harmonic_degeneracy(d_, 0) == 1
    assert harmonic_degeneracy(d_, 1) == d_
    assert sp.expand(harmonic_degeneracy(d_, 2) - (d_ - 1) * (d_ + 2) / 2) == 0
    assert sp.expand(harmonic_degeneracy(d_, 3) - d_ * (d_ - 1) * (d_ + 4) / 6) == 0
    for k in range(7):
        poly = sp.Poly(harmonic_degeneracy(d_, k), d_)
        assert poly.degree() == k and poly.LC() == sp.Rational(1, math.factorial(k))
        for d in (3, 4, 17, 100):
            assert harmonic_degeneracy(d_, k).subs(d_, d) == harmonic_degeneracy(d, k)


def test_hypercube_degeneracy():
    assert hypercube_degeneracy(10, 3) == 120
    assert sp.expand(hypercube_degeneracy(d_, 2) - d_ * (d_ - 1) / 2) == 0
    with pytest.raises(ValueError, match="0 <= k <= d"):
        hypercube_degeneracy(3, 4)


# ------------------------------------------------------------------------------ Gegenbauer


def test_gegenbauer_low_degrees():
    assert gegenbauer_normalised(0, d_, z) == 1
    assert gegenbauer_normalised(1, d_, z) == z
    assert sp.cancel(gegenbauer_normalised(2, d_, z) - (d_ * z**2 - 1) / (d_ - 1)) == 0
    assert gegenbauer_normalised(2, 100, sp.Rational(1, 2)) == sp.Rational(8, 33)
    assert isinstance(gegenbauer_normalised(7, 50, sp.Rational(1, 3)), sp.Rational)


def test_gegenbauer_at_endpoints_symbolic():
    for k in range(9):
        p = gegenbauer_normalised(k, d_, z)
        assert sp.cancel(p.subs(z, 1)) == 1
        assert sp.cancel(p.subs(z, -1)) == (-1) ** k


@given(st.integers(3, 10**5), st.integers(0, 40))
def test_gegenbauer_is_one_at_one(d, k):
    assert gegenbauer_normalised(k, d, 1) == 1


def test_gegenbauer_d3_is_legendre():
    for k in range(11):
        assert sp.expand(gegenbauer_normalised(k, 3, z) - sp.legendre(k, z)) == 0


@given(st.integers(3, 60), st.integers(0, 12), st.floats(-1, 1))
def test_gegenbauer_matches_scipy(d, k, x):
    alpha = d / 2 - 1
    expected = scipy.special.eval_gegenbauer(k, alpha, x) / scipy.special.eval_gegenbauer(
        k, alpha, 1.0
    )
    value = float(gegenbauer_normalised(k, d, sp.Rational(x)))
    assert abs(value - expected) <= 1e-11


def test_gegenbauer_large_d_matches_mpmath():
    # mpmath's C_k^(alpha) at 80 digits; the ratio is what must never be formed in float64.
    for d, k, x in [(10**4, 20, sp.Rational(1, 50)), (10**6, 8, sp.Rational(-3, 1000))]:
        exact = gegenbauer_normalised(k, d, x)
        with mpmath.workdps(80):
            alpha = mpmath.mpf(d) / 2 - 1
            ratio = mpmath.gegenbauer(k, alpha, _mp(x)) / mpmath.gegenbauer(k, alpha, 1)
            assert abs(ratio - _mp(exact)) <= mpmath.mpf(10) ** -60 * abs(_mp(exact))


def test_rodrigues_form():
    # Reference §3.2: P_k (1-z^2)^b = (-1)^k / (2^k (b+1)_k) d^k/dz^k (1-z^2)^(k+b), b=(d-3)/2,
    # compared at 50 digits at a few points (sympy's simplify is slow on the half-integer powers).
    for d in range(3, 8):
        beta = sp.Rational(d - 3, 2)
        for k in range(5):
            rhs = (-1) ** k / (2**k * sp.rf(beta + 1, k)) * sp.diff((1 - z**2) ** (k + beta), z, k)
            lhs = gegenbauer_normalised(k, d, z) * (1 - z**2) ** beta
            for point in (sp.Rational(1, 3), sp.Rational(-5, 7), sp.Rational(9, 10)):
                difference = sp.N((lhs - rhs).subs(z, point), 50)
                assert abs(difference) < 1e-40


# ------------------------------------------------------------------ the moment formula (§3.5)


@functools.cache
def _sphere_moment(d, j):
    """E_z[z^j] under p_d by direct sympy integration (trigonometric substitution for even d)."""
    if j % 2:
        return sp.S.Zero
    if d % 2:
        weight = (1 - z**2) ** ((d - 3) // 2)  # a polynomial for odd d
        return sp.integrate(z**j * weight, (z, -1, 1)) / sp.integrate(weight, (z, -1, 1))
    t = sp.Symbol("t", real=True)  # z = sin t, dz (1-z^2)^((d-3)/2) = cos(t)^(d-2) dt
    numerator = sp.integrate(sp.sin(t) ** j * sp.cos(t) ** (d - 2), (t, -sp.pi / 2, sp.pi / 2))
    denominator = sp.integrate(sp.cos(t) ** (d - 2), (t, -sp.pi / 2, sp.pi / 2))
    return sp.simplify(numerator / denominator)


def _direct_expectation(poly, d):
    poly = sp.Poly(sp.expand(poly), z)
    return sum(c * _sphere_moment(d, j) for (j,), c in poly.terms())


def _moment_formula(d, k, m):
    return sp.factorial(k + 2 * m) / (2 ** (k + 2 * m) * sp.factorial(m)) * (
        sp.gamma(sp.Rational(d, 2)) / sp.gamma(sp.Rational(d, 2) + k + m)
    )


@pytest.mark.parametrize("d", [3, 4, 5])
def test_moment_formula_against_direct_integration(d):
    for k in range(4):
        p_k = gegenbauer_normalised(k, d, z)
        for j in range(k + 6):
            direct = _direct_expectation(z**j * p_k, d)
            expected = _moment_formula(d, k, (j - k) // 2) if j >= k and (j - k) % 2 == 0 else 0
            assert sp.simplify(direct - expected) == 0, (d, k, j)
            assert funk_hecke_eigenvalue(z**j, d, k) == expected


def test_orthogonality_by_direct_integration():
    # E[P_j P_k] = delta_jk / N(d,k): addition theorem, reference §3.3.
    for d in (3, 4, 5):
        for j, k in itertools.combinations_with_replacement(range(4), 2):
            value = _direct_expectation(
                gegenbauer_normalised(j, d, z) * gegenbauer_normalised(k, d, z), d
            )
            expected = sp.Rational(1, harmonic_degeneracy(d, k)) if j == k else 0
            assert sp.simplify(value - expected) == 0


@pytest.mark.parametrize("d", [7, 20, 50])
def test_moment_formula_against_mpmath_quadrature(d):
    # Independent of the module: mpmath's own Gegenbauer function and the Beta-form density.
    with mpmath.workdps(35):
        alpha = mpmath.mpf(d) / 2 - 1
        norm = 1 / mpmath.beta(mpmath.mpf(1) / 2, mpmath.mpf(d - 1) / 2)
        for k, m in [(0, 2), (1, 1), (3, 0), (6, 1)]:
            c1 = mpmath.gegenbauer(k, alpha, 1)
            value = norm * mpmath.quad(
                lambda t, k=k, m=m, c1=c1: t ** (k + 2 * m)
                * mpmath.gegenbauer(k, alpha, t)
                / c1
                * (1 - t * t) ** (mpmath.mpf(d - 3) / 2),
                [-1, 0, 1],
            )
            exact = _mp(_moment_formula(d, k, m))
            assert abs(value / exact - 1) < mpmath.mpf(10) ** -28


def test_moment_formula_symbolic_d():
    for k, m in itertools.product(range(4), range(3)):
        exact = funk_hecke_eigenvalue(z ** (k + 2 * m), d_, k)
        formula = (
            sp.factorial(k + 2 * m)
            / (2 ** (k + 2 * m) * sp.factorial(m))
            * sp.gamma(d_ / 2)
            / sp.gamma(d_ / 2 + k + m)
        )
        assert sp.simplify(sp.gammasimp(exact - formula)) == 0
    assert funk_hecke_eigenvalue("z**2", d_, 2) == 2 / (d_ * (d_ + 2))
    assert funk_hecke_eigenvalue("z**2", d_, 0) == 1 / d_


# ------------------------------------------------------------------------------ trace identity


@given(nonneg_poly, st.integers(3, 500))
def test_trace_identity_polynomial_exact(h, d):
    degree = sp.degree(h, z)
    eigenvalues = [funk_hecke_eigenvalue(h, d, k) for k in range(degree + 3)]
    assert all(isinstance(v, sp.Rational) and v >= 0 for v in eigenvalues)
    assert all(v == 0 for v in eigenvalues[degree + 1 :])
    total = sum(harmonic_degeneracy(d, k) * v for k, v in enumerate(eigenvalues))
    assert total == h.subs(z, 1)


@settings(max_examples=5)
@given(nonneg_poly)
def test_trace_identity_polynomial_symbolic_d(h):
    degree = sp.degree(h, z)
    total = sum(
        harmonic_degeneracy(d_, k) * funk_hecke_eigenvalue(h, d_, k) for k in range(degree + 1)
    )
    numerator, _ = sp.together(total - h.subs(z, 1)).as_numer_denom()
    assert sp.expand(numerator) == 0


@settings(max_examples=6)
@given(st.fractions(min_value="1/10", max_value=2, max_denominator=10), st.integers(3, 3000))
def test_trace_identity_exp(c, d):
    c = sp.Rational(c.numerator, c.denominator)
    h = sp.exp(c * z)
    # N(d,k) lambda_{d,k} <~ c^k/k! for every d: 31 degrees leave a tail below 2^31/31! ~ 3e-25.
    eigenvalues = [funk_hecke_eigenvalue(h, d, k) for k in range(31)]
    assert all(isinstance(v, sp.Float) and v > 0 for v in eigenvalues)
    with mpmath.workdps(40):
        total = mpmath.fsum(harmonic_degeneracy(d, k) * _mp(v) for k, v in enumerate(eigenvalues))
        assert abs(total / _mp(sp.exp(c)) - 1) < mpmath.mpf(10) ** -22


# ------------------------------------------------------------ methods agree with one another


@settings(max_examples=6)
@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=9),
    st.integers(3, 200),
    st.integers(0, 8),
)
def test_exact_polynomial_matches_quadrature(coeffs, d, k):
    h = sum(c * z**j for j, c in enumerate(coeffs))
    exact = funk_hecke_eigenvalue(h, d, k, method="exact")
    assume(exact != 0)
    assert isinstance(exact, sp.Rational)
    quad = funk_hecke_eigenvalue(h, d, k, method="quadrature")
    assert _relative_error(quad, exact) < 1e-18


@settings(max_examples=10)
@given(nonneg_poly, st.integers(3, 10**4), st.integers(0, 9))
def test_series_matches_exact_for_nonnegative_polynomials(h, d, k):
    exact = funk_hecke_eigenvalue(h, d, k, method="exact")
    series = funk_hecke_eigenvalue(h, d, k, method="series")
    if exact == 0:
        assert series == 0
    else:
        assert _relative_error(series, exact) < 1e-28


def test_series_matches_quadrature_reference_cases():
    # The reference's own check (§3.5): exp at d = 5, 20, 100 and k up to 4.
    for d, k in itertools.product((5, 20, 100), (0, 1, 4)):
        series = funk_hecke_eigenvalue("exp(z)", d, k, method="series")
        quad = funk_hecke_eigenvalue("exp(z)", d, k, method="quadrature")
        assert _relative_error(quad, series) < 1e-18


@pytest.mark.parametrize("d", [3, 10, 100, 1000, 10000])
@pytest.mark.parametrize("k", [0, 1, 2, 5, 12])
def test_quadrature_accuracy_exp_large_d(d, k):
    reference = funk_hecke_eigenvalue("exp(z)", d, k, method="series", dps=40)
    quad = funk_hecke_eigenvalue("exp(z)", d, k, method="quadrature")
    assert _relative_error(quad, reference) < 1e-10


@pytest.mark.parametrize(
    ("d", "k"), [(3, 12), (10, 5), (100, 2), (1000, 1), (10000, 0), (10000, 12)]
)
def test_quadrature_accuracy_polynomial_large_d(d, k):
    exact = funk_hecke_eigenvalue(MIXED_POLY, d, k)
    quad = funk_hecke_eigenvalue(MIXED_POLY, d, k, method="quadrature")
    assert _relative_error(quad, exact) < 1e-10


def test_float64_would_fail_where_quadrature_succeeds():
    # Why the precision is raised (reference §3.7): a float64 grid quadrature (with the stable
    # recurrence) at d = 1000, k = 10 sums O(d^-(k/2)) terms to an O(d^-k) result and loses
    # every digit; mpmath at raised precision does not.
    d, k = 1000, 10
    x = np.linspace(-1, 1, 400001)[1:-1]
    log_w = (d - 3) / 2 * np.log1p(-x * x)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    previous, p = np.ones_like(x), x.copy()
    for j in range(1, k):
        previous, p = p, ((2 * j + d - 2) * x * p - j * previous) / (j + d - 2)
    naive = float(np.sum(np.exp(x) * p * w))
    exact = funk_hecke_eigenvalue("exp(z)", d, k)
    assert abs(naive / float(exact) - 1) > 0.1
    quad = funk_hecke_eigenvalue("exp(z)", d, k, method="quadrature")
    assert _relative_error(quad, exact) < 1e-18


# ------------------------------------------------------------------- other kernels and routes


def test_auto_method_types():
    assert isinstance(funk_hecke_eigenvalue("1 + z + z**3", 7, 1), sp.Rational)
    assert isinstance(funk_hecke_eigenvalue("exp(z)", 7, 1), sp.Float)
    # lambda_{3,1} = (1/2) int z e^z dz = 1/e.
    assert _relative_error(funk_hecke_eigenvalue("exp(z)", 3, 1, dps=15), 1 / sp.E) < 1e-14


def test_string_and_plain_symbol_kernels_agree():
    plain = sp.Symbol("z")
    a = funk_hecke_eigenvalue(sp.exp(plain) / (2 - plain), 12, 3)
    b = funk_hecke_eigenvalue("exp(z)/(2 - z)", 12, 3)
    assert a == b


def test_geometric_and_hyperbolic_kernels():
    # 1/(1 - z/2): geometric coefficients; cosh: zero odd eigenvalues by parity.
    for d, k in [(3, 0), (3, 3), (50, 2)]:
        series = funk_hecke_eigenvalue("1/(1 - z/2)", d, k)
        quad = funk_hecke_eigenvalue("1/(1 - z/2)", d, k, method="quadrature")
        assert _relative_error(quad, series) < 1e-18
    assert funk_hecke_eigenvalue("cosh(z)", 9, 3) == 0
    assert funk_hecke_eigenvalue("sinh(z)", 9, 2, method="quadrature") == 0
    cosh = funk_hecke_eigenvalue("cosh(z)", 9, 2)
    exp = funk_hecke_eigenvalue("exp(z)", 9, 2)
    assert _relative_error(cosh, exp) < 1e-28  # exp's odd part does not reach even degrees


def test_negative_coefficients_fall_back_to_quadrature():
    # exp(-z): needed Taylor coefficients are negative for odd k; lambda_k = (-1)^k lambda_k[exp].
    for d, k in [(3, 1), (40, 3), (1000, 5), (40, 4)]:
        minus = funk_hecke_eigenvalue("exp(-z)", d, k, method="series")
        plus = funk_hecke_eigenvalue("exp(z)", d, k)
        assert _relative_error((-1) ** k * minus, plus) < 1e-18


def test_arcsine_kernel_series_too_slow_at_small_d():
    # arcsin's coefficients decay like j^(-3/2): at d = 3 the series cannot reach 1e-30, ...
    with pytest.raises(ValueError, match="converges too slowly"):
        funk_hecke_eigenvalue("asin(z)", 3, 1, method="series")
    # ... auto falls back to quadrature: lambda_{3,1} = (1/2) int z asin(z) dz = pi/8, ...
    assert _relative_error(funk_hecke_eigenvalue("asin(z)", 3, 1), sp.pi / 8) < 1e-19
    # ... while at large d the moment weights decay fast enough for the series.
    series = funk_hecke_eigenvalue("asin(z)", 2000, 3, method="series")
    quad = funk_hecke_eigenvalue("asin(z)", 2000, 3, method="quadrature")
    assert _relative_error(quad, series) < 1e-18


def test_relu_kernel_uses_quadrature():
    # max(z, 0) has a kink at 0: E[max(z,0)] = 1/4 and E[z max(z,0)] = 1/6 at d = 3.
    assert _relative_error(funk_hecke_eigenvalue("relu(z)", 3, 0), sp.Rational(1, 4)) < 1e-19
    assert _relative_error(funk_hecke_eigenvalue("relu(z)", 3, 1), sp.Rational(1, 6)) < 1e-19
    with pytest.raises(ValueError, match="no usable Taylor series"):
        funk_hecke_eigenvalue("relu(z)", 3, 1, method="series")


@pytest.mark.parametrize(("kernel", "singular"), [
    ("exp(z)", False), ("1/(2 - z)", False), ("sqrt(4 - z)", False), ("cos(z) + z**3", False),
    ("sqrt(1 - z**2)", True), ("(1 + z)**(3/2)", True), ("asin(z)", True), ("relu(z)", True),
    ("relu-ntk:depth=2", True), ("relu-nngp:depth=1", True),
])
def test_auto_sends_kernels_singular_on_the_interval_to_quadrature(kernel, singular):
    assert _singular_on_interval(_kernel(kernel)) is singular


def test_two_layer_relu_ntk_at_moderate_dimension_by_quadrature():
    # The series route needed minutes here (coefficients ~ j^-3/2); auto now integrates.  The
    # values: the degree-0 eigenvalue is E[h(z)], checked by an independent scipy quadrature,
    # and sum_k N(d,k) lambda_k must stay below h(1).
    d = 30
    h = _kernel("relu-ntk:depth=2")
    values = [funk_hecke_eigenvalue(h, d, k) for k in range(4)]
    assert values == [funk_hecke_eigenvalue(h, d, k, method="quadrature") for k in range(4)]
    f = sp.lambdify(z, h, modules="numpy")
    def density(t):
        return (1 - t * t) ** ((d - 3) / 2)

    quad = scipy.integrate.quad
    mean = quad(lambda t: f(t) * density(t), -1, 1, epsabs=0, epsrel=1e-13, limit=200)[0]
    mean /= quad(density, -1, 1, epsabs=0, epsrel=1e-13)[0]
    assert abs(float(values[0]) - mean) < 1e-11 * mean
    assert all(float(v) > 0 for v in values)
    mass = sum(harmonic_degeneracy(d, k) * float(v) for k, v in enumerate(values))
    assert mass < float(h.subs(z, 1))


def test_zero_eigenvalues_of_the_one_layer_relu_ntk_are_exact_zeros():
    # h = z kappa_0 + kappa_1 has odd part exactly z, so lambda_k = 0 for odd k >= 3; quadrature
    # rounds them to +-1e-39, which must not read as a negative eigenvalue.
    for d in (5, 30):
        for k in (3, 5):
            assert funk_hecke_eigenvalue("relu-ntk:depth=1", d, k) == 0
        assert funk_hecke_eigenvalue("relu-ntk:depth=1", d, 4) > 0


def test_series_detects_divergence_inside_the_interval():
    # 1/(1-2z) has non-negative coefficients but a pole at z = 1/2.
    with pytest.raises(ValueError, match="does not converge"):
        funk_hecke_eigenvalue("1/(1 - 2*z)", 5, 0, method="series")


# ------------------------------------------------------------------------------ asymptotics


@pytest.mark.parametrize("k", [0, 1, 2, 5, 12])
def test_relative_gap_is_order_one_over_d(k):
    # From §3.5: lambda/(h^(k)(0)/d^k) - 1 = (h^(k+2)(0)/(2 h^(k)(0)) - k(k-1))/d + O(d^-2),
    # i.e. 1/2 - k(k-1) for exp [derived]; d * gap must stay bounded and converge to it.
    limit = 0.5 - k * (k - 1)
    scaled = []
    for d in (10**2, 10**3, 10**4, 10**5, 10**6):
        lam = funk_hecke_eigenvalue("exp(z)", d, k)
        asym = eigenvalue_asymptotic("exp(z)", d, k)
        assert asym == sp.Rational(1, d**k)
        scaled.append(d * float(lam / asym - 1))
    errors = [abs(s - limit) for s in scaled]
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False))
    assert max(abs(s) for s in scaled) <= 2 * abs(limit)
    assert errors[-1] < 1e-3 * abs(limit)


def test_asymptotic_and_mu_symbolic():
    assert eigenvalue_asymptotic("exp(z)", d_, 3) == d_**-3
    assert eigenvalue_asymptotic("asin(z)", d_, 3) == 1 / d_**3  # asin'''(0) = 1
    assert mu_coefficient("exp(z)", 4) == sp.Rational(1, 24)
    assert mu_coefficient("1/(1 - z/2)", 3) == sp.Rational(1, 8)
    # N(d,k) lambda_{d,k} -> mu_k as d -> oo, exactly for a polynomial ...
    for k in range(6):
        weight = harmonic_degeneracy(d_, k) * funk_hecke_eigenvalue(MIXED_POLY, d_, k)
        assert sp.limit(weight, d_, sp.oo) == mu_coefficient(MIXED_POLY, k)
    # ... and with relative error O(1/d) for exp.
    for k in range(6):
        weight = harmonic_degeneracy(10**6, k) * funk_hecke_eigenvalue("exp(z)", 10**6, k)
        assert abs(float(weight) * math.factorial(k) - 1) < 20 / 10**6


def test_kappa_limits_for_exp():
    values = [kappa_tail_limit("exp(z)", l) for l in (1, 2, 3)]
    assert values == [sp.E - 2, sp.E - sp.Rational(5, 2), sp.E - sp.Rational(8, 3)]
    # The reference's numbers (§3.6).
    assert [round(float(v), 5) for v in values] == [0.71828, 0.21828, 0.05162]


def test_kappa_tail_finite_d():
    for l in (1, 2, 3):
        limit = float(kappa_tail_limit("exp(z)", l))
        gaps = [abs(float(kappa_tail("exp(z)", d, l)) - limit) for d in (10**2, 10**3, 10**4)]
        assert gaps[0] > gaps[1] > gaps[2]
        assert all(g * d < 5 for g, d in zip(gaps, (10**2, 10**3, 10**4), strict=True))
    # Exact for a polynomial, at symbolic d too; a degree-L polynomial has kappa_{>L} = 0.
    h = 1 + z + z**2 / 2 + z**3
    assert kappa_tail(h, 17, 3) == 0
    tail = kappa_tail(h, d_, 1)
    direct = sum(
        harmonic_degeneracy(d_, k) * funk_hecke_eigenvalue(h, d_, k) for k in (2, 3)
    )
    assert sp.simplify(tail - direct) == 0
    assert sp.limit(tail, d_, sp.oo) == kappa_tail_limit(h, 1) == sp.Rational(3, 2)


# ------------------------------------------------------------------------- positive definiteness


def test_positive_definite_checks():
    values = check_positive_definite("exp(z)", 20, 6)
    assert len(values) == 7 and all(v > 0 for v in values)
    with pytest.raises(ValueError, match=r"k=0\)") as info:
        check_positive_definite("z**2 - 1/2", 5, 4)
    assert "-3/10" in str(info.value)  # lambda_0 = 1/d - 1/2
    # z^2 - 1/10: lambda_0 = 1/d - 1/10 changes sign at d = 10.
    assert check_positive_definite("z**2 - 1/10", 10, 4)[0] == 0
    with pytest.raises(ValueError, match=r"-1/110 < 0 \(degree k=0\)"):
        check_positive_definite("z**2 - 1/10", 11, 4)
    # 1 + z^2 - z^4: degrees 0..3 are fine, degree 4 is -24/(d(d+2)(d+4)(d+6)) = -8/315 at d=3.
    with pytest.raises(ValueError, match=r"-8/315 < 0 \(degree k=4\)"):
        check_positive_definite("1 + z**2 - z**4", 3, 6)
    # cos at d = 3: lambda_2 = -j_2(1) = -(2 sin 1 - 3 cos 1), through quadrature.
    with pytest.raises(ValueError, match=r"degree k=2") as info:
        check_positive_definite("cos(z)", 3, 4)
    value = sp.Float(str(info.value).split("= ")[1].split(" <")[0], 20)
    assert _relative_error(value, -(2 * sp.sin(1) - 3 * sp.cos(1))) < 1e-15


# ------------------------------------------------------------------------------ hypercube


def _brute_force_hypercube(h, d, k):
    """2^-d sum over u in {+-1}^d of h(sum(u)/d) u_1...u_k, exactly."""
    total = sp.S.Zero
    for u in itertools.product((1, -1), repeat=d):
        total += h.subs(z, sp.Rational(sum(u), d)) * math.prod(u[:k])
    return total / 2**d


def test_hypercube_brute_force_small_d():
    for d in range(1, 6):
        for k in range(d + 1):
            assert hypercube_eigenvalue(MIXED_POLY, d, k) == _brute_force_hypercube(
                MIXED_POLY, d, k
            )
            numeric = hypercube_eigenvalue("exp(z)", d, k)
            exact = _brute_force_hypercube(sp.exp(z), d, k)
            assert abs(float(numeric - sp.N(exact, 40))) <= 1e-25


def test_hypercube_kernel_matrix_spectrum():
    d = 6
    cube = np.array(list(itertools.product((1, -1), repeat=d)), dtype=float)
    gram = np.exp(cube @ cube.T / d) / 2**d
    spectrum = np.sort(np.linalg.eigvalsh(gram))
    predicted = np.sort(
        [
            float(hypercube_eigenvalue("exp(z)", d, k))
            for k in range(d + 1)
            for _ in range(math.comb(d, k))
        ]
    )
    np.testing.assert_allclose(spectrum, predicted, rtol=1e-12, atol=1e-14)


def test_krawtchouk_relation():
    # W_j (sum of chi_S over level j) = C(d,j) K_k(j; d) / C(d,k), K_k the Krawtchouk polynomial:
    # 2^-d sum_j C(d,j) h((d-2j)/d) K_k(j; d) is C(d,k) lambda_k, not lambda_k.
    for d in range(1, 13):
        for k in range(d + 1):
            kraw = [
                sum((-1) ** i * math.comb(j, i) * math.comb(d - j, k - i) for i in range(k + 1))
                for j in range(d + 1)
            ]
            expected = [
                sp.Rational(math.comb(d, j) * kraw[j], math.comb(d, k)) for j in range(d + 1)
            ]
            assert _krawtchouk_level_sums(d, k) == expected


@given(nonneg_poly | st.just(MIXED_POLY), st.integers(1, 40))
def test_hypercube_trace_identity_exact(h, d):
    eigenvalues = [hypercube_eigenvalue(h, d, k) for k in range(d + 1)]
    assert all(isinstance(v, sp.Rational) for v in eigenvalues)
    assert sum(math.comb(d, k) * v for k, v in enumerate(eigenvalues)) == h.subs(z, 1)


@settings(max_examples=6)
@given(st.integers(1, 60))
def test_hypercube_trace_identity_exp(d):
    eigenvalues = [hypercube_eigenvalue("exp(z)", d, k) for k in range(d + 1)]
    assert all(v > 0 for v in eigenvalues)
    with mpmath.workdps(40):
        total = mpmath.fsum(math.comb(d, k) * _mp(v) for k, v in enumerate(eigenvalues))
        assert abs(total - mpmath.e) < mpmath.mpf(10) ** -27


def test_hypercube_large_d_cancellation():
    # exp vs its degree-60 Taylor polynomial (exact rational arithmetic): equal to ~1/61!.
    d, k = 1000, 4
    taylor = sum(z**j / sp.factorial(j) for j in range(61))
    exact = hypercube_eigenvalue(taylor, d, k)
    numeric = hypercube_eigenvalue("exp(z)", d, k)
    assert _relative_error(numeric, exact) < 1e-28
    assert abs(float(exact) * d**k - 1) < 20 / d  # lambda_k ~ h^(k)(0)/d^k on the cube too


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: harmonic_degeneracy(2, 1), "d must be an integer >= 3, got 2"),
        (lambda: harmonic_degeneracy(3.5, 1), "d must be an integer >= 3, got 3.5"),
        (lambda: harmonic_degeneracy(True, 1), "d must be an integer >= 3, got True"),
        (lambda: harmonic_degeneracy(5, -1), "k must be an integer >= 0, got -1"),
        (lambda: gegenbauer_normalised(1.5, 5, z), "k must be an integer >= 0, got 1.5"),
        (lambda: funk_hecke_eigenvalue("exp(z)", 2, 0), "d must be an integer >= 3, got 2"),
        (lambda: funk_hecke_eigenvalue("exp(z)", 3.5, 0), "got 3.5"),
        (lambda: funk_hecke_eigenvalue("exp(z)", 5, -1), "k must be an integer >= 0, got -1"),
        (lambda: funk_hecke_eigenvalue("exp(y)", 5, 0), "unknown name 'y'"),
        (lambda: funk_hecke_eigenvalue("foo(z)", 5, 0), "unknown function 'foo'"),
        (lambda: funk_hecke_eigenvalue("z", 5, 0, method="magic"), "method must be one of"),
        (lambda: funk_hecke_eigenvalue("exp(z)", 5, 0, method="exact"), "needs a polynomial"),
        (lambda: funk_hecke_eigenvalue("exp(z)", d_, 0), "symbolic"),
        (lambda: funk_hecke_eigenvalue("z", 5, 0, dps=0), "dps must be an integer >= 5"),
        (lambda: funk_hecke_eigenvalue(sp.exp(sp.Symbol("a") * z), 5, 0), "free symbols"),
        (lambda: mu_coefficient("abs(z)", 1), "not 1 times differentiable"),
        (lambda: kappa_tail_limit("1/(1 - z)", 1), "not finite at z = 1"),
        (lambda: check_positive_definite("z", d_, 2), "numeric integer"),
        (lambda: hypercube_eigenvalue("z", 3, 4), "0 <= k <= d = 3"),
        (lambda: hypercube_eigenvalue("z", 0, 0), "d must be an integer >= 1, got 0"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_kernel_type_error():
    with pytest.raises(TypeError, match="kernel must be a sympy expression"):
        funk_hecke_eigenvalue([1, 2], 5, 0)


def test_symbolic_coefficients_stay_exact():
    a, b = sp.symbols("a b")
    value = funk_hecke_eigenvalue(a + b * z**2, d_, 0)
    assert sp.simplify(value - (a + b / d_)) == 0
