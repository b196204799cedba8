import contextlib
import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from limitlab.theory import (
    KERNEL_VARIABLE,
    KernelSpectrum,
    RiskCurves,
    empirical_risk_asymptotic,
    empirical_risk_expression,
    kernel_spectrum,
    oracle_risk,
    oracle_risk_expression,
    polynomial_level,
    risk_curves,
    stage_windows,
)

try:  # OpenBLAS's threaded eigh is pathologically slow on some 2-core machines
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl ships with scipy's usual installs
    threadpool_limits = None

z = KERNEL_VARIABLE
CASE_A = {1: 1.0, 2: 1.0, 3: 1.0}  # reference §16, case A


@pytest.fixture(scope="module")
def exp100():
    return kernel_spectrum("exp(z)", 100, 5)


def test_oracle_against_an_ode_solve(exp100):
    # Independent: integrate the gradient flow of every degree, u_k' = lambda_k (1 - u_k)
    # (f_t = sum_k u_k P_k f_d), and form sigma^2 + sum_k (1 - u_k)^2 F_k.
    times = np.array([0.0, 3.0, 50.0, 400.0, 3e3, 2e4])
    lam = np.array([exp100.eigenvalue(k) for k in (1, 2, 3)])
    solution = integrate.solve_ivp(
        lambda t, u: lam * (1 - u), (0, times[-1]), np.zeros(3), t_eval=times,
        rtol=1e-11, atol=1e-13, method="DOP853",
    )
    expected = 0.25 + np.sum((1 - solution.y) ** 2, axis=0)
    np.testing.assert_allclose(oracle_risk(times, exp100, CASE_A, 0.25), expected, rtol=1e-8)


def test_oracle_limits_and_shape(exp100):
    times = np.array([[0.0, 1e12], [1.0, 2.0]])
    risk = oracle_risk(times, exp100, CASE_A, noise=0.25)
    assert risk.shape == (2, 2)
    assert risk[0, 0] == pytest.approx(3.25) and risk[0, 1] == pytest.approx(0.25)
    assert oracle_risk(0.0, exp100, {}, 0.1).shape == ()


def test_empirical_asymptotic_formula(exp100):
    n = 1000
    times = np.logspace(0, 7, 29)
    train, test = empirical_risk_asymptotic(times, exp100, CASE_A, 0.25, n)
    lam1, kappa = exp100.eigenvalue(1), exp100.tail(1)
    np.testing.assert_allclose(test, 0.25 + np.exp(-2 * lam1 * times) + 2.0, rtol=1e-14)
    expected_train = np.exp(-2 * lam1 * times) + np.exp(-2 * kappa * times / n) * 2.25
    np.testing.assert_allclose(train, expected_train, rtol=1e-14)
    # t = 0: both equal the initial risk; t -> infinity: train -> 0, test -> plateau.
    train0, test0 = empirical_risk_asymptotic(0.0, exp100, CASE_A, 0.25, n)
    assert train0 == pytest.approx(3.25) and test0 == pytest.approx(3.25)
    train_inf, test_inf = empirical_risk_asymptotic(1e12, exp100, CASE_A, 0.25, n)
    assert train_inf == 0.0 and test_inf == pytest.approx(2.25)
    # explicit level
    train2, test2 = empirical_risk_asymptotic(times, exp100, CASE_A, 0.25, n, level=2)
    np.testing.assert_allclose(test2[-1], 0.25 + 1.0, rtol=1e-12)


def _gaussian_equivalent_flow(rng, lam, power, noise, n, times):
    """Exact empirical gradient flow for Gaussian features with a diagonal spectrum.

    f(x) = sum_j beta_j phi_j(x) with E phi phi^T = I and K(x, x') = sum_j lam_j phi_j phi_j';
    the target has independent isotropic coefficients, E beta_j^2 = power_j.  Returns the train
    risk and the test excess risk at `times`, averaged exactly over the target coefficients and
    the label noise given one draw of the n x M feature matrix Phi (so only Phi fluctuates):
    with K = U diag(s) U^T and A_t = U diag((1 - e^{-ts/n})/s) U^T,
      train = tr(e^{-2tK/n} (Phi B Phi^T + noise I)) / n,
      test  = tr B - 2 tr(A Phi B Lam Phi^T) + tr(A Phi B Phi^T A Phi Lam^2 Phi^T)
              + noise tr(A^2 Phi Lam^2 Phi^T).
    """
    features = rng.standard_normal((n, lam.size))
    limit = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
    with limit:
        return _flow(features, lam, power, noise, n, times)


def _flow(features, lam, power, noise, n, times):
    kernel = (features * lam) @ features.T
    signal = (features * power) @ features.T
    cross = (features * (power * lam)) @ features.T
    square = (features * lam**2) @ features.T
    s, u = np.linalg.eigh(kernel)
    s = np.clip(s, 0, None)
    rotate = lambda m: u.T @ m @ u  # noqa: E731
    signal_u, cross_u, square_u = rotate(signal), rotate(cross), rotate(square)
    train, test = [], []
    for t in times:
        decay = np.exp(-2 * t * s / n)
        train.append((np.sum(decay * np.diag(signal_u)) + noise * np.sum(decay)) / n)
        filt = np.where(s > 0, -np.expm1(-t * s / n) / np.where(s > 0, s, 1), t / n)
        a_signal = filt[:, None] * signal_u * filt[None, :]
        test.append(
            np.sum(power)
            - 2 * np.sum(filt * np.diag(cross_u))
            + np.sum(a_signal * square_u)
            + noise * np.sum(filt**2 * np.diag(square_u))
        )
    return np.array(train), np.array(test)


def test_empirical_asymptotic_against_a_gaussian_equivalent_simulation():
    # Independent check of the shape of §5 [reconstructed] on a Gaussian-feature model with a
    # clear separation N_1 = 10 << n = 400 << N_2 = 8000: level 0 (1 mode, lambda 1), level 1
    # (10 modes, lambda 0.1), level 2 (8000 modes, total mass kappa = 0.6), F_1 = F_2 = 1.
    # Averaged exactly over target and noise, so the residual is the finite-size correction,
    # O(N_1/n + sqrt(n/N_2)) ~ 0.03-0.2 relative in the worst place (train at t ~ n/kappa).
    rng = np.random.default_rng(7)
    counts = (1, 10, 8000)
    lams = (1.0, 0.1, 0.6 / 8000)
    lam = np.concatenate([np.full(c, v) for c, v in zip(counts, lams, strict=True)])
    power = np.concatenate([[0.0], np.full(10, 1 / 10), np.full(8000, 1 / 8000)])
    energies = {1: 1.0, 2: 1.0}
    spectrum = KernelSpectrum(
        kernel=sp.Integer(0), d=10, degrees=(0, 1, 2), degeneracies=counts, eigenvalues=lams,
        trace=1.0 + 1.0 + 0.6, tails=(1.6, 0.6, 0.0),
    )
    n, noise = 400, 0.25
    times = np.array([0.0, 1.0, 10.0, 100.0, 1000.0, 1e4])
    runs = [_gaussian_equivalent_flow(rng, lam, power, noise, n, times)]
    train = np.mean([r[0] for r in runs], axis=0)
    test = noise + np.mean([r[1] for r in runs], axis=0)
    predicted_train, predicted_test = empirical_risk_asymptotic(
        times, spectrum, energies, noise, n, level=1
    )
    np.testing.assert_allclose(test, predicted_test, rtol=0.05)
    np.testing.assert_allclose(train, predicted_train, rtol=0.08, atol=1e-3)


def test_risk_curves_bundle(exp100):
    times = np.logspace(0, 6, 7)
    curves = risk_curves(times, exp100, CASE_A, 0.25, 1000)
    assert isinstance(curves, RiskCurves)
    assert curves.level == 1 and curves.n == 1000 and curves.noise == 0.25
    np.testing.assert_array_equal(curves.oracle, oracle_risk(times, exp100, CASE_A, 0.25))
    train, test = empirical_risk_asymptotic(times, exp100, CASE_A, 0.25, 1000)
    np.testing.assert_array_equal(curves.train, train)
    np.testing.assert_array_equal(curves.test, test)
    json.dumps(curves.to_dict(), allow_nan=False)


def test_stage_windows_case_a(exp100):
    w = stage_windows(exp100, CASE_A, 0.25, 1000)
    assert w.level == 1 and w.alpha == pytest.approx(1.5)
    assert w.stage12_exponent == pytest.approx(1.5) and w.stage23_exponent == 2
    assert w.stage12_time == pytest.approx(1000 / exp100.tail(1))
    assert w.stage23_time == pytest.approx(1 / exp100.eigenvalue(2))
    assert w.stage2_decades == pytest.approx(1.0)
    assert w.initial_risk == pytest.approx(3.25)
    assert w.plateau_risk == pytest.approx(2.25)
    assert w.oracle_final_risk == pytest.approx(0.25) and w.rkhs_approximation_error == 0.0
    assert set(w.learning_times) == {1, 2, 3}
    data = json.loads(json.dumps(w.to_dict(), allow_nan=False))
    assert data["learning_times"]["2"] == pytest.approx(w.stage23_time)


def test_stage_windows_polynomial_kernel_has_infinite_times():
    s = kernel_spectrum(z + z**2, 10, 3)
    w = stage_windows(s, {1: 1.0}, 0.0, 50, level=2)
    assert w.kappa == 0.0 and math.isinf(w.stage12_time) and math.isinf(w.stage23_time)
    assert w.to_dict()["stage12_time"] is None


@pytest.mark.parametrize(
    ("d", "n", "level"),
    [(100, 1000, 1), (100, 10_000, 2), (100, 9_999, 1), (10, 10**6, 6), (10, 10**6 - 1, 5),
     (3, 1, 0), (3, 2.999, 0), (7, 7.0, 1)],
)
def test_polynomial_level(d, n, level):
    assert polynomial_level(d, n) == level


@given(st.integers(2, 1000), st.integers(1, 10**12))
def test_polynomial_level_brackets_n(d, n):
    level = polynomial_level(d, n)
    assert d**level <= n < d ** (level + 1)


def test_polynomial_level_bad():
    for d, n in [(1, 10), (10, 0.5), (10, math.inf), (2.5, 10)]:
        with pytest.raises(ValueError):
            polynomial_level(d, n)


def test_expressions_match_the_numbers(exp100):
    t = sp.Symbol("t", nonnegative=True)
    times = np.logspace(-1, 7, 17)
    expr = oracle_risk_expression(exp100, CASE_A, 0.25)
    values = sp.lambdify(t, expr, "numpy")(times)
    np.testing.assert_allclose(values, oracle_risk(times, exp100, CASE_A, 0.25), rtol=1e-13)
    train_expr, test_expr = empirical_risk_expression(exp100, CASE_A, 0.25, 1000)
    train, test = empirical_risk_asymptotic(times, exp100, CASE_A, 0.25, 1000)
    np.testing.assert_allclose(sp.lambdify(t, train_expr)(times), train, rtol=1e-13)
    np.testing.assert_allclose(sp.lambdify(t, test_expr)(times) + 0 * times, test, rtol=1e-13)


def test_expressions_exact_for_polynomial_kernels():
    s = kernel_spectrum(z + z**2 + z**3, 10, 3)
    t = sp.Symbol("t", nonnegative=True)
    expr = oracle_risk_expression(s, {1: 1, 2: sp.Rational(1, 2)}, sp.Rational(1, 4))
    assert not expr.atoms(sp.Float)
    # lambda_{10,1} = 1/10 + E[z^3 z] = 1/10 + 1/40 = 1/8 and lambda_{10,2} = 2/(d(d+2)) = 1/60
    expected = sp.Rational(1, 4) + sp.exp(-t / 4) + sp.exp(-t / 30) / 2
    assert sp.simplify(expr - expected) == 0
    train, test = empirical_risk_expression(s, {1: 1, 2: 1}, 0, 10, level=1)
    assert not train.atoms(sp.Float)
    times = np.array([0.0, 1.0, 10.0, 1e3])
    num_train, num_test = empirical_risk_asymptotic(times, s, {1: 1, 2: 1}, 0, 10, level=1)
    np.testing.assert_allclose(sp.lambdify(t, train)(times), num_train, rtol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"times": [-1.0]}, "times"),
        ({"times": [np.nan]}, "times"),
        ({"times": [np.inf]}, "times"),
        ({"times": "soon"}, "times"),
        ({"noise": -0.1}, "noise"),
        ({"noise": math.nan}, "noise"),
        ({"energies": {9: 1.0}}, "energies.*9"),
        ({"energies": {-1: 1.0}}, "energies"),
        ({"energies": {1: -1.0}}, "energies"),
        ({"energies": {True: 1.0}}, "energies"),
        ({"n": 0}, "n"),
        ({"n": -5}, "n"),
        ({"level": -1}, "level"),
    ],
)
def test_validation(exp100, kwargs, name):
    args = {"times": [1.0], "energies": CASE_A, "noise": 0.25, "n": 1000}
    level = kwargs.pop("level", None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        empirical_risk_asymptotic(
            args["times"], exp100, args["energies"], args["noise"], args["n"], level=level
        )
    if "n" not in kwargs and level is None:
        with pytest.raises(ValueError, match=name):
            oracle_risk(args["times"], exp100, args["energies"], args["noise"])


def test_energy_on_a_zero_eigenvalue_is_rejected():
    s = kernel_spectrum(sp.cosh(z), 20, 4)  # even kernel: lambda_1 = lambda_3 = 0
    with pytest.raises(ValueError, match="energies.*degree 3"):
        oracle_risk([1.0], s, {3: 1.0})
    oracle_risk([1.0], s, {3: 0.0, 2: 1.0})  # zero energy there is fine


def test_wrong_types(exp100):
    with pytest.raises(TypeError):
        oracle_risk([1.0], "exp(z)", CASE_A)
    with pytest.raises(TypeError):
        oracle_risk([1.0], exp100, [1.0, 2.0])


def test_non_finite_result_raises(exp100):
    with pytest.raises(FloatingPointError):
        oracle_risk([1.0], exp100, {1: 1e308, 2: 1e308}, noise=1e308)


spectra = st.builds(
    lambda c, a, d: kernel_spectrum(c * sp.exp(a * z) + z, d, 4),
    st.sampled_from([sp.Rational(1, 2), 1, 3]),
    st.sampled_from([sp.Rational(1, 2), 1, 2]),
    st.integers(3, 2000),
)
energies_strategy = st.dictionaries(
    st.integers(0, 4), st.floats(0, 10, allow_nan=False), max_size=5
)


@settings(max_examples=30, deadline=None)
@given(spectra, energies_strategy, st.floats(0, 2), st.floats(1, 1e7))
def test_risks_are_non_increasing(spectrum, energies, noise, n):
    times = np.concatenate([[0.0], np.logspace(-2, 12, 60)])
    oracle = oracle_risk(times, spectrum, energies, noise)
    train, test = empirical_risk_asymptotic(times, spectrum, energies, noise, n)
    for curve in (oracle, train, test):
        assert np.all(np.diff(curve) <= 1e-12 * (1 + abs(curve[0])))
    assert oracle[0] == pytest.approx(noise + sum(energies.values()))
    assert np.all(oracle >= noise - 1e-12) and np.all(test >= oracle - 1e-9)
