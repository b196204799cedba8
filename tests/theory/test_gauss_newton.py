import fractions

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

from limitlab.theory import (
    GramSpectrum,
    effective_damping,
    effective_damping_expression,
    gauss_newton_step,
    gram_spectrum,
    k_step_filter,
    k_step_filter_expression,
    k_step_update,
    kernel_regression_prediction,
    levenberg_marquardt_step,
    lm_analogy_error,
    lm_analogy_error_expression,
    lm_analogy_error_from_spectrum,
)

LAM = sp.Symbol("lam", positive=True)
ETA = sp.Symbol("eta", positive=True)
K = sp.Symbol("K", positive=True, integer=True)

KINDS = ["wide", "tall", "rank_deficient_wide", "rank_deficient_tall"]


def _system(kind, seed=0):
    """(J, r) with the largest eigenvalue of J J^T equal to 1 and, for the full-rank kinds, a
    smallest non-zero eigenvalue not too small (so that K = 10^4 steps with eta = 1 converge)."""
    rng = np.random.default_rng(seed)
    shapes = {
        "wide": (5, 9, None),
        "tall": (9, 5, None),
        "rank_deficient_wide": (6, 10, 3),
        "rank_deficient_tall": (10, 6, 3),
    }
    n, p, rank = shapes[kind]
    if rank is None:
        J = rng.normal(size=(n, p))
    else:
        J = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, p))
    U, s, Vt = np.linalg.svd(J, full_matrices=False)
    s = np.where(s > 1e-8 * s[0], np.linspace(1.0, 0.3, s.size), 0.0)
    J = U @ np.diag(s) @ Vt
    return J, rng.normal(size=n)


def _gradient_descent(J, r, eta, steps):
    delta = np.zeros(J.shape[1])
    for _ in range(steps):
        delta = delta - eta * J.T @ (J @ delta - r)
    return delta


def _mp_analogy_error(eigenvalues, coefficients, eta, steps):
    """The relative error from its definition, with enough digits for the cancellation in
    g_K - 1/(lam + 1/(eta K)) (about eta lam K relative) at the smallest eta lam."""
    xs = [mpmath.mpf(eta) * mpmath.mpf(lam) for lam in eigenvalues if lam > 0]
    digits = 60 + 2 * max(0, -int(mpmath.floor(mpmath.log10(min(xs)))))
    with mpmath.workdps(digits):
        num = den = mpmath.mpf(0)
        for lam, c in zip(eigenvalues, coefficients, strict=True):
            if lam == 0:
                continue
            lam = mpmath.mpf(lam)
            g = _mp_filter(lam, eta, steps)
            num += lam * c * (g - 1 / (lam + 1 / (mpmath.mpf(eta) * steps))) ** 2
            den += lam * c * g**2
        return mpmath.sqrt(num / den)


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _mp_filter(lam, eta, steps):
    """(1 - (1 - eta lam)^K)/lam, directly, with enough digits that 1 - eta lam does not round
    and that g_K keeps ~60 digits beyond its O(eta lam) relative correction."""
    lam, eta = mpmath.mpf(lam), mpmath.mpf(eta)
    if lam == 0:
        return eta * steps
    digits = 60 + 2 * max(0, -int(mpmath.floor(mpmath.log10(eta * lam))))
    with mpmath.workdps(digits):
        return (1 - (1 - eta * lam) ** steps) / lam


# --------------------------------------------------------------------------------------------
# the closed form against explicit gradient descent


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("eta", [0.3, 1.7])
@pytest.mark.parametrize("steps", [1, 2, 7, 60])
def test_update_equals_explicit_gradient_descent(kind, eta, steps):
    J, r = _system(kind)
    expected = _gradient_descent(J, r, eta, steps)
    assert _relative(k_step_update(J, r, eta, steps), expected) < 1e-10


@pytest.mark.parametrize("kind", KINDS)
def test_one_step_is_the_gradient_step(kind):
    J, r = _system(kind, seed=3)
    np.testing.assert_allclose(k_step_update(J, r, 0.05, 1), 0.05 * J.T @ r, rtol=1e-13, atol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("eta", [0.5, 1.0, 1.9])
def test_many_steps_converge_to_the_pseudo_inverse(kind, eta):
    J, r = _system(kind, seed=1)
    expected = np.linalg.pinv(J) @ r
    assert _relative(k_step_update(J, r, eta, None), expected) < 1e-12
    assert _relative(gauss_newton_step(J, r), expected) < 1e-12
    assert _relative(k_step_update(J, r, eta, 10_000), expected) < 1e-10
    # the limit is undamped: 100 steps are not yet there
    assert _relative(k_step_update(J, r, 0.01, 100), expected) > 0.1


def test_pseudo_inverse_formulas_for_full_rank():
    J, r = _system("wide", seed=2)
    np.testing.assert_allclose(gauss_newton_step(J, r), J.T @ np.linalg.solve(J @ J.T, r))
    J, r = _system("tall", seed=2)
    np.testing.assert_allclose(gauss_newton_step(J, r), np.linalg.solve(J.T @ J, J.T @ r))


def test_rank_cut_off_is_applied():
    J = np.diag([1.0, 1e-9])
    r = np.array([1.0, 1.0])
    np.testing.assert_allclose(gauss_newton_step(J, r), [1.0, 1e9])
    np.testing.assert_allclose(gauss_newton_step(J, r, rtol=1e-6), [1.0, 0.0])
    np.testing.assert_allclose(k_step_update(J, r, 1.0, None, rtol=1e-6), [1.0, 0.0])


@pytest.mark.parametrize("eta", [2.0, 2.5])
def test_infinite_steps_diverge_for_large_learning_rate(eta):
    J, r = _system("wide")  # lambda_max = 1
    with pytest.raises(ValueError, match=r"learning_rate.*diverges.*lambda_max = 2\.") as info:
        k_step_update(J, r, eta, None)
    assert repr(eta) in str(info.value)
    with pytest.raises(ValueError, match="diverges"):
        k_step_filter([0.0, 1.0], eta, None)
    with pytest.raises(ValueError, match="diverges"):
        effective_damping([1.0], eta, None)
    with pytest.raises(ValueError, match="diverges"):
        lm_analogy_error(J, r, eta, None)
    # finite K stays exact (and equals explicit GD) while it fits in float64 ...
    assert _relative(k_step_update(J, r, eta, 9), _gradient_descent(J, r, eta, 9)) < 1e-10
    # ... and overflow is an error, not a silent inf/NaN
    with pytest.raises(FloatingPointError, match="diverges"):
        k_step_update(J, r, 3.0, 10**4)
    with pytest.raises(FloatingPointError):
        k_step_filter([1.0], 3.0, 10**4)


# --------------------------------------------------------------------------------------------
# the filter g_K


def test_filter_at_zero_is_eta_k():
    steps = np.array([1, 2, 10, 10**9])
    np.testing.assert_array_equal(k_step_filter(0.0, 0.25, steps), 0.25 * steps)
    np.testing.assert_array_equal(k_step_filter([0.0, 0.0], 0.5, 3), [1.5, 1.5])
    # round-off below zero is clipped, so it also gives eta K
    assert k_step_filter([-1e-17, 1.0], 1.0, 3)[0] == 3.0
    # and K -> infinity gives the pseudo-inverse convention 0 there
    np.testing.assert_array_equal(k_step_filter([0.0, 4.0], 0.25, None), [0.0, 0.25])


def test_filter_broadcasts_over_a_grid_of_steps():
    eigenvalues = np.array([0.0, 0.2, 1.0, 1.5])
    steps = np.array([1, 2, 5, 40])
    grid = k_step_filter(eigenvalues, 1.0, steps[:, None])
    assert grid.shape == (4, 4)
    for row, k in zip(grid, steps, strict=True):
        np.testing.assert_array_equal(row, k_step_filter(eigenvalues, 1.0, int(k)))
    # integral floats are accepted as steps
    np.testing.assert_array_equal(k_step_filter(0.5, 1.0, np.array([2.0, 3.0])),
                                  k_step_filter(0.5, 1.0, np.array([2, 3])))


@given(x=st.floats(1e-6, 1.0), lam=st.floats(1e-3, 1e3), k=st.integers(1, 500))
def test_filter_increases_to_inverse_for_small_steps(x, lam, k):
    eta = x / lam
    g = k_step_filter(lam, eta, np.array([k, k + 1, k + 10]))
    assert g[0] <= g[1] <= g[2] <= 1 / lam * (1 + 1e-15)
    # lam (g_{K+10} - g_K) = (1 - x)^K (1 - (1 - x)^10): strictly positive, visible in float64
    if (1 - x) ** k * (1 - (1 - x) ** 10) > 1e-12:
        assert g[0] < g[2]
    if x == 1:
        np.testing.assert_allclose(g, 1 / lam, rtol=1e-15)
    assert k_step_filter(lam, eta, 10**9) == pytest.approx(1 / lam, rel=1e-12)


@given(x=st.floats(1.001, 1.999), lam=st.floats(1e-3, 1e3), k=st.integers(1, 300))
def test_filter_oscillates_around_inverse_for_large_steps(x, lam, k):
    eta = x / lam
    assume((x - 1) ** (k + 2) > 1e-10)  # the oscillation is visible in float64
    odd, even = (k, k + 1) if k % 2 else (k + 1, k)
    g_odd, g_even = k_step_filter(lam, eta, odd), k_step_filter(lam, eta, even)
    assert g_odd > 1 / lam > g_even  # overshoot for odd K
    deviations = np.abs(k_step_filter(lam, eta, np.array([k, k + 1, k + 2])) - 1 / lam)
    assert deviations[0] >= deviations[1] >= deviations[2]
    expected = (1 - float(_mp_filter(lam, eta, k)) * lam)
    assert 1 - k_step_filter(lam, eta, k) * lam == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("lam, eta", [(1e-14, 1.0), (1.0, 1e-14), (1e-7, 1e-7), (3e-20, 2e5)])
@pytest.mark.parametrize("steps", [1, 3, 1000, 10**6, 10**12])
def test_filter_is_stable_for_tiny_steps(lam, eta, steps):
    expected = _mp_filter(lam, eta, steps)
    assert k_step_filter(lam, eta, steps) == pytest.approx(float(expected), rel=1e-13)


def test_naive_filter_would_fail_for_tiny_steps():
    # the reason for expm1/log1p: in float64 1 - 1e-14 rounds
    lam, eta, steps = 1.0, 1e-14, 3
    naive = (1 - (1 - eta * lam) ** steps) / lam
    assert abs(naive / float(_mp_filter(lam, eta, steps)) - 1) > 1e-4
    assert k_step_filter(lam, eta, steps) == pytest.approx(3e-14, rel=1e-13)


@given(lam=st.floats(0.0, 1.0), k=st.integers(1, 10**7))
def test_filter_matches_mpmath(lam, k):
    # eta = 1 keeps x = eta * lam exact, so any difference is the implementation's
    assert k_step_filter(lam, 1.0, k) == pytest.approx(float(_mp_filter(lam, 1.0, k)), rel=1e-12)


@given(lam=st.floats(1.0, 1.9999), k=st.integers(1, 10**4))
def test_filter_matches_mpmath_beyond_one(lam, k):
    assert k_step_filter(lam, 1.0, k) == pytest.approx(float(_mp_filter(lam, 1.0, k)), rel=1e-12)


def test_filter_matches_its_expression():
    expression = k_step_filter_expression()
    assert expression.free_symbols == {LAM, ETA, K}
    f = sp.lambdify((LAM, ETA, K), expression, "mpmath")
    for lam, eta, k in [(0.3, 0.7, 5), (2.0, 0.9, 4), (1e-3, 0.1, 20)]:
        assert k_step_filter(lam, eta, k) == pytest.approx(float(f(lam, eta, k)), rel=1e-13)
    assert sp.limit(expression, LAM, 0) == ETA * K
    # an explicit K expands to the finite geometric sum eta * sum_j (1 - eta lam)^j
    three = k_step_filter_expression(steps=3)
    geometric = ETA * sum((1 - ETA * LAM) ** j for j in range(3))
    assert sp.simplify(three - geometric) == 0


# --------------------------------------------------------------------------------------------
# the effective damping


def test_filter_is_lm_with_eigenvalue_dependent_damping_symbolically():
    g = k_step_filter_expression()
    damping = effective_damping_expression()
    assert sp.simplify(g - 1 / (LAM + damping)) == 0
    assert sp.limit(damping, LAM, 0) == 1 / (ETA * K)
    slope = sp.series(damping, LAM, 0, 2).removeO().coeff(LAM, 1)
    assert sp.simplify(slope + (K + 1) / (2 * K)) == 0


@given(lam=st.floats(0.0, 1.99), k=st.integers(1, 10**5))
def test_filter_is_lm_with_eigenvalue_dependent_damping_numerically(lam, k):
    eta = 1.0
    if lam > 1 and k % 2 == 0 and abs(lam - 2) < 1e-9:
        return  # g_K ~ 0: 1/(lam + lam_d) is ill-conditioned there
    g = k_step_filter(lam, eta, k)
    damping = effective_damping(lam, eta, k)
    assert g == pytest.approx(1 / (lam + damping), rel=1e-10)


def test_effective_damping_values():
    eta, steps = 0.1, 25
    assert effective_damping(0.0, eta, steps) == 1 / (eta * steps)
    small = 1e-6
    expected = 1 / (eta * steps) - (steps + 1) / (2 * steps) * small
    assert effective_damping(small, eta, steps) == pytest.approx(expected, rel=1e-10)
    assert effective_damping(1 / eta, eta, steps) == 0.0
    assert effective_damping(1.5 / eta, eta, 3) < 0 < effective_damping(1.5 / eta, eta, 4)
    # eta lam K >> 1 with eta lam << 1: lambda e^{-eta lambda K}
    assert effective_damping(1.0, 1e-4, 10**5) == pytest.approx(np.exp(-10.0), rel=1e-3)
    np.testing.assert_array_equal(effective_damping([0.0, 1.0], 0.5, None), [0.0, 0.0])
    with pytest.raises(ValueError, match=r"eigenvalues.*K even"):
        effective_damping([2.0], 1.0, 4)


# --------------------------------------------------------------------------------------------
# the Levenberg–Marquardt analogy


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("steps", [1, 4, 30, 300])
def test_analogy_error_from_spectrum_equals_direct(kind, steps):
    J, r = _system(kind, seed=4)
    eta = 0.1
    delta = k_step_update(J, r, eta, steps)
    lm = levenberg_marquardt_step(J, r, 1 / (eta * steps))
    direct = np.linalg.norm(delta - lm) / np.linalg.norm(delta)
    assert float(lm_analogy_error(J, r, eta, steps)) == pytest.approx(direct, rel=1e-9)
    spectrum = gram_spectrum(J, r)
    assert isinstance(spectrum, GramSpectrum)
    from_spectrum = lm_analogy_error_from_spectrum(
        spectrum.eigenvalues, spectrum.coefficients, eta, steps
    )
    assert float(from_spectrum) == pytest.approx(direct, rel=1e-9)
    assert 0 < direct < 1


def test_analogy_error_over_a_grid_of_steps():
    J, r = _system("wide", seed=5)
    steps = np.array([[1, 10], [100, 1000]])
    grid = lm_analogy_error(J, r, 0.05, steps)
    assert grid.shape == (2, 2)
    for k, value in zip(steps.ravel(), grid.ravel(), strict=True):
        assert value == float(lm_analogy_error(J, r, 0.05, int(k)))
    assert lm_analogy_error(J, r, 0.05, None) == 0.0


def test_analogy_error_keeps_accuracy_when_tiny():
    # one eigenvalue, eta lam K = 3e-10: error ~ eta lam (K + 1) / 2, computed without
    # the cancellation of g_K - 1/(lam + 1/(eta K))
    lam, eta, steps = 1e-10, 1.0, 3
    expected = float(_mp_analogy_error([lam], [1.0], eta, steps))
    value = float(lm_analogy_error_from_spectrum([lam], [1.0], eta, steps))
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(eta * lam * (steps + 1) / 2, rel=1e-6)


@pytest.mark.parametrize(
    "eigenvalues", [[1e-105], [1e-300, 1e-200], [5e-324, 1.0], [1.99, 1e-12], [1e-160, 1.0]]
)
@pytest.mark.parametrize("steps", [1, 7, 10**6])
def test_analogy_error_at_extreme_eigenvalues(eigenvalues, steps):
    coefficients = [1.0] * len(eigenvalues)
    expected = float(_mp_analogy_error(eigenvalues, coefficients, 1.0, steps))
    value = float(lm_analogy_error_from_spectrum(eigenvalues, coefficients, 1.0, steps))
    assert value == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize("scale", [1e-150, 1e-3, 1e150])
def test_analogy_error_depends_on_eta_lambda_only(scale):
    # (lam, eta) -> (lam s, eta / s) leaves eta lam and the relative error unchanged, and the
    # coefficients enter only through their ratios
    eigenvalues, coefficients = np.array([1.5, 0.3, 1e-4, 0.0]), np.array([0.2, 1.0, 3.0, 9.0])
    steps = np.array([1, 3, 100, 10**5])
    reference = lm_analogy_error_from_spectrum(eigenvalues, coefficients, 0.5, steps)
    scaled = lm_analogy_error_from_spectrum(
        eigenvalues * scale, coefficients / scale, 0.5 / scale, steps
    )
    np.testing.assert_allclose(scaled, reference, rtol=1e-13)


@given(
    eigenvalues=st.lists(st.floats(0.0, 1.9), min_size=1, max_size=6),
    coefficients=st.lists(st.floats(0.01, 10.0), min_size=6, max_size=6),
    k=st.integers(1, 10**6),
)
def test_analogy_error_matches_mpmath(eigenvalues, coefficients, k):
    coefficients = coefficients[: len(eigenvalues)]
    if max(eigenvalues) == 0:
        return
    expected = float(_mp_analogy_error(eigenvalues, coefficients, 1.0, k))
    value = float(lm_analogy_error_from_spectrum(eigenvalues, coefficients, 1.0, k))
    assert value == pytest.approx(expected, rel=1e-10)


def test_symbolic_analogy_error_matches_numeric():
    expression = lm_analogy_error_expression(3)
    lams = sp.symbols("lam_1:4", positive=True)
    cs = sp.symbols("c_1:4", nonnegative=True)
    assert expression.free_symbols == set(lams) | set(cs) | {ETA, K}
    eigenvalues, coefficients, eta, steps = [1.3, 0.2, 0.01], [0.5, 2.0, 1.0], 0.4, 7
    substituted = expression.subs(
        dict(zip(lams, eigenvalues, strict=True))
        | dict(zip(cs, coefficients, strict=True))
        | {ETA: eta, K: steps}
    )
    numeric = float(lm_analogy_error_from_spectrum(eigenvalues, coefficients, eta, steps))
    assert float(substituted.evalf(30)) == pytest.approx(numeric, rel=1e-12)
    # with exact numbers (a zero eigenvalue is dropped) the expression is an exact number
    exact = lm_analogy_error_expression(
        [sp.Rational(13, 10), fractions.Fraction(1, 5), 0], [sp.Rational(1, 2), 2, 5],
        learning_rate=sp.Rational(2, 5), steps=7,
    )
    assert exact.is_number and not exact.has(sp.Float)
    numeric = float(lm_analogy_error_from_spectrum([1.3, 0.2, 0.0], [0.5, 2.0, 5.0], 0.4, 7))
    assert float(exact.evalf(30)) == pytest.approx(numeric, rel=1e-12)


def test_gram_spectrum():
    for kind in KINDS:
        J, r = _system(kind, seed=6)
        spectrum = gram_spectrum(J, r)
        n, p = J.shape
        assert spectrum.eigenvalues.shape == (min(n, p),)
        np.testing.assert_allclose(
            spectrum.eigenvalues, np.linalg.eigvalsh(J @ J.T)[::-1][: min(n, p)], atol=1e-12
        )
        norm = np.sum(spectrum.coefficients)
        if n <= p:
            assert norm == pytest.approx(r @ r, rel=1e-12)
        else:
            assert norm < r @ r  # the residual outside range(J) has eigenvalue 0


# --------------------------------------------------------------------------------------------
# the kernel-regression limit


@pytest.mark.parametrize("outputs", [None, 3])
def test_kernel_regression_is_converged_linearised_gradient_descent(outputs):
    rng = np.random.default_rng(7)
    n, p, m = 6, 20, 4
    features = rng.normal(size=(n, p)) / np.sqrt(p)
    features_test = rng.normal(size=(m, p)) / np.sqrt(p)
    shape = (n,) if outputs is None else (n, outputs)
    y = rng.normal(size=shape)
    f0_train = rng.normal(size=shape)
    f0_test = rng.normal(size=(m,) + shape[1:])
    prediction = kernel_regression_prediction(
        features_test @ features.T, features @ features.T, f0_test, f0_train, y
    )
    assert prediction.shape == f0_test.shape
    eta = 1.0 / np.linalg.eigvalsh(features @ features.T)[-1]
    columns = [slice(None)] if outputs is None else [np.s_[:, c] for c in range(outputs)]
    for column in columns:
        residual = y[column] - f0_train[column]
        converged = f0_test[column] + features_test @ k_step_update(features, residual, eta, None)
        np.testing.assert_allclose(prediction[column], converged, rtol=1e-10, atol=1e-12)
        finite = f0_test[column] + features_test @ _gradient_descent(
            features, residual, eta, 3000
        )
        np.testing.assert_allclose(prediction[column], finite, rtol=1e-8, atol=1e-10)
    # interpolation of the training set
    train = kernel_regression_prediction(
        features @ features.T, features @ features.T, f0_train, f0_train, y
    )
    np.testing.assert_allclose(train, y, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# bad inputs

J0, R0 = _system("wide")
THETA = np.eye(3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: k_step_filter([-1.0, 1.0], 0.1, 3), r"eigenvalues must be >= 0.*-1\.0"),
        (lambda: k_step_filter([np.nan], 0.1, 3), r"eigenvalues.*nan"),
        (lambda: k_step_filter("a", 0.1, 3), "eigenvalues"),
        (lambda: k_step_filter([1.0], 0.0, 3), r"learning_rate must be .*> 0.*got 0\.0"),
        (lambda: k_step_filter([1.0], -1, 3), r"learning_rate.*got -1"),
        (lambda: k_step_filter([1.0], float("inf"), 3), "learning_rate"),
        (lambda: k_step_filter([1.0], 0.1, 0), r"steps must be an integer >= 1.*got the value 0"),
        (lambda: k_step_filter([1.0], 0.1, 2.5), r"steps.*2\.5"),
        (lambda: k_step_filter([1.0], 0.1, True), r"steps.*True"),
        (lambda: k_step_filter([1.0], 0.1, "3"), "steps"),
        (lambda: k_step_filter([1.0], 0.1, [1, -2]), r"steps.*-2"),
        (lambda: k_step_filter([1.0], 0.1, 2**60), r"steps must be at most 2\*\*53"),
        (lambda: effective_damping([1.0], 0.1, 0), "steps"),
        (lambda: k_step_update(J0, R0, 0.1, [1, 2]), "steps must be an integer >= 1 or None"),
        (lambda: k_step_update(J0[0], R0, 0.1, 3), r"jacobian must be a 2-D.*\(9,\)"),
        (lambda: k_step_update(J0 * np.nan, R0, 0.1, 3), "jacobian"),
        (lambda: k_step_update(J0, R0[:-1], 0.1, 3), r"residual must be .* length N = 5.*\(4,\)"),
        (lambda: k_step_update(J0, R0, 0.1, None, rtol=-1), r"rtol.*-1"),
        (lambda: gauss_newton_step(J0, R0[:, None]), "residual"),
        (lambda: levenberg_marquardt_step(J0, R0, 0.0), r"damping must be .*> 0.*got 0\.0"),
        (lambda: lm_analogy_error_from_spectrum([1.0], [-1.0], 0.1, 3), r"coefficients.*-1\.0"),
        (lambda: lm_analogy_error_from_spectrum([1.0], [1.0, 2.0], 0.1, 3), "coefficients"),
        (lambda: lm_analogy_error_from_spectrum([[1.0]], [[1.0]], 0.1, 3), "eigenvalues"),
        (lambda: lm_analogy_error_from_spectrum([0.0, 1.0], [1.0, 0.0], 0.1, 3),
         r"coefficients: the relative error is undefined"),
        (lambda: lm_analogy_error(np.ones((2, 2)), np.array([1.0, -1.0]), 0.1, 3),
         r"residual: the relative error is undefined"),
        (lambda: lm_analogy_error_expression(0), r"eigenvalues.*got 0"),
        (lambda: lm_analogy_error_expression("x"), "eigenvalues"),
        (lambda: lm_analogy_error_expression(2, [1]), r"coefficients.*length 1"),
        (lambda: lm_analogy_error_expression([0, 0]), "eigenvalues: all are zero"),
        (lambda: k_step_filter_expression(steps=object()), "steps"),
        (lambda: kernel_regression_prediction(np.ones((2, 3)), np.ones((3, 3)), np.zeros(2),
                                              np.zeros(3), np.ones(3)),
         r"ntk_train_train must be positive definite"),
        (lambda: kernel_regression_prediction(np.ones((2, 3)), np.triu(np.ones((3, 3))),
                                              np.zeros(2), np.zeros(3), np.ones(3)),
         r"ntk_train_train must be symmetric"),
        (lambda: kernel_regression_prediction(np.ones((2, 3)), np.ones((3, 2)), np.zeros(2),
                                              np.zeros(3), np.ones(3)),
         r"ntk_train_train must be a square.*\(3, 2\)"),
        (lambda: kernel_regression_prediction(np.ones((2, 3)), THETA, np.zeros(2),
                                              np.zeros(3), np.ones(4)),
         r"y_train must have shape \(3,\).*\(4,\)"),
        (lambda: kernel_regression_prediction(np.ones((2, 3)), THETA, np.zeros(2),
                                              np.zeros((3, 2)), np.ones((3, 2))),
         r"f0_test must have shape \(2, 2\)"),
        (lambda: kernel_regression_prediction(np.ones((2, 3)), THETA, np.zeros(2),
                                              np.zeros(4), np.ones(3)),
         r"f0_train must have the shape of y_train"),
        (lambda: kernel_regression_prediction(np.ones((2, 4)), THETA, np.zeros(2),
                                              np.zeros(3), np.ones(3)),
         r"ntk_test_train must have shape \(M, 3\)"),
        (lambda: kernel_regression_prediction(np.ones((2, 3)), THETA, np.zeros(2),
                                              np.zeros(3), [1.0, np.inf, 0.0]),
         r"y_train.*inf"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
