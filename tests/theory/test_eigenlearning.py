import contextlib
import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from limitlab.theory import (
    KERNEL_VARIABLE,
    EigenlearningResult,
    KernelSpectrum,
    eigenlearning,
    harmonic_degeneracy,
    kernel_spectrum,
    krr_boundary_expression,
    krr_boundary_risk,
    krr_risk_curve,
)
from limitlab.theory._eigenlearning import _solve_levels

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

z = KERNEL_VARIABLE
PSIS = [0.05, 0.3, 0.7, 0.95, 1.0, 1.05, 1.5, 3.0, 20.0]


def _one_level(p, mu, kappa):
    """Level 0 empty, level 1: p modes of eigenvalue mu/p; the tail kappa beyond (its next
    eigenvalues are those of the zero kernel, 0, so it acts as a pure ridge)."""
    return KernelSpectrum(
        kernel=sp.Integer(0), d=3, degrees=(0, 1), degeneracies=(1, p), eigenvalues=(0.0, mu / p),
        trace=mu + kappa, tails=(mu + kappa, kappa),
    )


@pytest.mark.parametrize("zeta", [1e-3, 0.1, 1.0])
@pytest.mark.parametrize("ridge_share", [0.0, 0.5])
def test_explicit_formula_is_the_eigenlearning_solution(zeta, ridge_share):
    # zeta mu = ridge + kappa_{>l}: split it between an explicit ridge and the kernel tail.
    p, mu, noise = 500, 1.3, 0.25
    ridge = ridge_share * zeta * mu
    spectrum = _one_level(p, mu, zeta * mu - ridge)
    for psi in PSIS:
        result = eigenlearning(spectrum, {1: 1.0}, noise, psi * p, ridge=ridge)
        expected = krr_boundary_risk(psi, zeta, 1.0, 0.0, noise)
        assert result.test == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("zeta", [1e-3, 0.1, 1.0])
def test_explicit_formula_with_a_finite_tail_level(zeta):
    # The tail as a real level (eigenvalue 1e-10 of the level's, huge multiplicity): the
    # agreement is then O(lambda_tail / kappa) [reference §9 derivation].
    p, mu, noise = 500, 1.0, 0.25
    tail = 1e-10 * mu / p
    for psi in PSIS:
        _, _, _, test, _ = _solve_levels(
            np.array([mu / p, tail]), np.array([mu, zeta * mu]), np.array([1.0, 0.0]),
            noise, psi * p, 0.0,
        )
        expected = float(krr_boundary_risk(psi, zeta, 1.0, 0.0, noise))
        assert test == pytest.approx(expected, rel=1e-5)


def test_explicit_formula_limits():
    # zeta -> 0, psi < 1: L = psi, E0 = 1/(1 - psi)
    for psi in (0.1, 0.5, 0.9):
        risk = krr_boundary_risk(psi, 0.0, 1.0, 0.5, 0.0)
        assert float(risk) == pytest.approx((1 - psi) + 0.5 / (1 - psi), rel=1e-12)
        assert float(krr_boundary_risk(psi, 1e-12, 1.0, 0.5, 0.0)) == pytest.approx(
            float(risk), rel=1e-9
        )
    # the peak at psi = 1 without ridge; finite with any ridge
    assert math.isinf(krr_boundary_risk(1.0, 0.0, 1.0, 0.0, 0.25))
    assert krr_boundary_risk(1.0, 0.0, 0.0, 0.0, 0.0) == 0.0
    # psi -> infinity: R -> sigma^2 + ||P_{>l} f||^2 (MMM)
    for zeta in (0.0, 0.1, 2.0):
        assert float(krr_boundary_risk(1e9, zeta, 1.0, 0.7, 0.25)) == pytest.approx(
            0.95, rel=1e-6
        )
    # zeta = 0, psi > 1: L = 1, E0 = psi / (psi - 1)
    assert float(krr_boundary_risk(3.0, 0.0, 1.0, 0.5, 0.25)) == pytest.approx(1.5 * 0.75)


def test_explicit_formula_broadcasts_and_validates():
    risk = krr_boundary_risk(np.array([[0.5], [2.0]]), np.array([0.1, 1.0]), 1.0, 0.5, 0.1)
    assert risk.shape == (2, 2)
    for args, name in [((0.0, 0.1, 1, 1, 1), "psi"), ((1.0, -0.1, 1, 1, 1), "zeta"),
                       ((1.0, 0.1, -1, 1, 1), "F_level"), ((1.0, 0.1, 1, np.nan, 1), "F_higher"),
                       ((1.0, 0.1, 1, 1, -1), "noise")]:
        with pytest.raises(ValueError, match=name):
            krr_boundary_risk(*args)


def test_expression_matches_the_numbers():
    expression = krr_boundary_expression()
    symbols = {s.name: s for s in expression.free_symbols}
    assert set(symbols) == {"psi", "zeta", "F_l", "F_high", "sigma2"}
    f = sp.lambdify(
        [symbols[name] for name in ("psi", "zeta", "F_l", "F_high", "sigma2")], expression
    )
    for psi in (0.3, 1.0, 2.5):
        for zeta in (0.01, 0.5):
            assert f(psi, zeta, 1.2, 0.4, 0.3) == pytest.approx(
                float(krr_boundary_risk(psi, zeta, 1.2, 0.4, 0.3)), rel=1e-12
            )


def _bordelon_canatar_pehlevan(eigenvalues, multiplicities, energies, noise, p, ridge):
    """Independent implementation of BCP (reference §10): z = ridge + z sum N eta/(p eta + z),
    gamma = p sum N eta^2/(p eta + z)^2, E_rho = z^2/(1 - gamma)/(p eta_rho + z)^2; total test
    MSE = sum_rho E_rho F_rho + noise gamma/(1 - gamma) + noise."""
    eta, counts = np.asarray(eigenvalues), np.asarray(multiplicities)

    def equation(log_z):
        value = math.exp(log_z)
        return ridge + value * np.sum(counts * eta / (p * eta + value)) - value

    log_z = optimize.brentq(equation, -60, 10, xtol=1e-15)
    value = math.exp(log_z)
    gamma = p * np.sum(counts * eta**2 / (p * eta + value) ** 2)
    mode_error = value**2 / (1 - gamma) / (p * eta + value) ** 2
    return value, gamma, np.sum(mode_error * energies) + noise * gamma / (1 - gamma) + noise


@pytest.mark.parametrize("ridge", [1e-5, 1e-2, 1.0])
@pytest.mark.parametrize("n", [10, 300, 3000])
def test_agrees_with_bordelon_canatar_pehlevan(ridge, n):
    s = kernel_spectrum("exp(z)", 30, 6)
    energies = {0: 0.3, 1: 1.0, 2: 0.5, 3: 0.2}
    result = eigenlearning(s, energies, 0.1, n, ridge=ridge, tail=False)
    value, gamma, test = _bordelon_canatar_pehlevan(
        s.eigenvalues, s.degeneracies, [energies.get(k, 0.0) for k in s.degrees], 0.1, n, ridge
    )
    assert result.kappa == pytest.approx(value / n, rel=1e-10)
    assert result.overfitting == pytest.approx(1 / (1 - gamma), rel=1e-10)
    assert result.test == pytest.approx(test, rel=1e-10)


def _krr_expected_risks(rng, eigenvalues, power, noise, n, ridge):
    """Kernel ridge regression on Gaussian features phi ~ N(0, I_M), K = Phi diag(lam) Phi^T;
    test and train MSE averaged exactly over target (E beta_j^2 = power_j) and noise given Phi.
    beta_hat = Lam Phi^T A y with A = (K + ridge I)^{-1}."""
    features = rng.standard_normal((n, eigenvalues.size))
    kernel = (features * eigenvalues) @ features.T
    inverse = np.linalg.inv(kernel + ridge * np.eye(n))
    signal = (features * power) @ features.T
    cross = (features * (power * eigenvalues)) @ features.T
    square = (features * eigenvalues**2) @ features.T
    test = (
        power.sum() - 2 * np.sum(inverse * cross) + np.sum((inverse @ signal @ inverse) * square)
        + noise * np.sum((inverse @ inverse) * square) + noise
    )
    residual = ridge * inverse  # I - K A
    train = np.trace(residual @ (signal + noise * np.eye(n)) @ residual) / n
    return test, train


@pytest.mark.parametrize(("n", "ridge"), [(50, 1e-4), (50, 1e-2), (200, 1e-4), (200, 1e-2)])
def test_against_kernel_ridge_regression_with_gaussian_features(n, ridge):
    # M = 2000 modes, power-law eigenvalues and target.  Criterion: |mean - theory| within
    # 4 standard errors + 1 % (eigenlearning's finite-n error, measured ~0.4 % at n = 50).
    m = 2000
    eigenvalues = np.arange(1, m + 1) ** -1.5
    eigenvalues /= eigenvalues.sum()
    power = np.arange(1, m + 1) ** -1.2
    power /= power.sum()
    noise = 0.1
    rng = np.random.default_rng(3)
    limit = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
    with limit:
        runs = np.array(
            [_krr_expected_risks(rng, eigenvalues, power, noise, n, ridge) for _ in range(5)]
        )
    mean, error = runs.mean(axis=0), runs.std(axis=0, ddof=1) / math.sqrt(len(runs))
    _, _, _, test, train = _solve_levels(eigenvalues, eigenvalues, power, noise, n, ridge)
    assert abs(mean[0] - test) < 4 * error[0] + 0.01 * test
    assert abs(mean[1] - train) < 4 * error[1] + 0.01 * train


def test_insensitive_to_kmax():
    energies = {1: 1.0, 2: 1.0}
    reference = kernel_spectrum("exp(z)", 50, 9)
    for n in (100, 1000, 2000, 20_000):
        expected = eigenlearning(reference, energies, 0.1, n).test
        for kmax in (4, 6):
            s = kernel_spectrum("exp(z)", 50, kmax)
            assert eigenlearning(s, energies, 0.1, n).test == pytest.approx(expected, rel=1e-6)
        if n <= 2000:  # N(50, 5) = 2.6e6 >> n
            s = kernel_spectrum("exp(z)", 50, 3)
            assert eigenlearning(s, energies, 0.1, n).test == pytest.approx(expected, rel=1e-6)
    # an even kernel (odd degrees vanish): the tail's first level is kmax + 2
    even = kernel_spectrum("cosh(z)", 50, 8)
    for kmax in (2, 3):
        s = kernel_spectrum("cosh(z)", 50, kmax)
        assert eigenlearning(s, {2: 1.0}, 0.1, 3000).test == pytest.approx(
            eigenlearning(even, {2: 1.0}, 0.1, 3000).test, rel=1e-6
        )


def test_result_fields_and_learnabilities():
    s = kernel_spectrum("exp(z)", 50, 4)
    r = eigenlearning(s, {1: 1.0, 2: 1.0}, 0.1, 2000, ridge=1e-3)
    assert isinstance(r, EigenlearningResult)
    assert len(r.learnabilities) == 5 and r.n == 2000 and r.ridge == 1e-3 and r.noise == 0.1
    for k, value in enumerate(r.learnabilities):
        assert value == pytest.approx(s.eigenvalue(k) / (s.eigenvalue(k) + r.kappa), rel=1e-14)
    assert 0 < r.tail_learnability < r.learnabilities[4]
    assert r.tail_learnability == pytest.approx(s.eigenvalue(5) / (s.eigenvalue(5) + r.kappa))
    # the kappa equation holds: degree 5 exactly, the mass beyond it as a ridge
    total = sum(s.mu(k) / (s.eigenvalue(k) + r.kappa) for k in range(6))
    total += s.tail(5) / r.kappa + 1e-3 / r.kappa
    assert total == pytest.approx(2000, rel=1e-12)
    assert r.train == pytest.approx((1e-3 / (2000 * r.kappa)) ** 2 * r.test, rel=1e-14)
    json.dumps(r.to_dict(), allow_nan=False)


def test_ridgeless_with_more_samples_than_modes():
    s = kernel_spectrum(1 + z, 10, 2)  # 1 + 10 modes, no tail
    modes = 11
    r = eigenlearning(s, {1: 1.0}, 0.5, 20)
    assert r.kappa == 0.0 and r.learnabilities == (1.0, 1.0, 0.0)
    assert r.overfitting == pytest.approx(20 / (20 - modes))
    assert r.test == pytest.approx(0.5 * 20 / 9)
    assert r.train == pytest.approx(0.5 * 9 / 20)  # OLS: sigma^2 (n - M)/n
    peak = eigenlearning(s, {1: 1.0}, 0.5, modes)
    assert math.isinf(peak.test) and peak.to_dict()["test"] is None
    assert eigenlearning(s, {1: 1.0}, 0.0, modes).test == 0.0
    # just below the number of modes the solve still works and is large
    below = eigenlearning(s, {1: 1.0}, 0.5, modes - 1e-6)
    assert below.kappa > 0 and below.test > 1e4


def test_multiple_descent_peak():
    d = 100
    s = kernel_spectrum(1 + z + z**2 / 1000, d, 2)  # zeta = kappa_{>1}/mu_1 ~ 1e-3
    ns = np.array([25.0, harmonic_degeneracy(d, 1) + 1, 400.0])
    risk = krr_risk_curve(ns, s, {1: 1.0}, 0.5)
    assert risk.shape == (3,)
    assert risk[1] > 5 * risk[0] and risk[1] > 5 * risk[2]
    # a ridge removes the peak
    smooth = krr_risk_curve(ns, s, {1: 1.0}, 0.5, ridge=1.0)
    assert smooth[1] < risk[1] / 5


def test_validation():
    s = kernel_spectrum("exp(z)", 30, 3)
    with pytest.raises(ValueError, match="n must"):
        eigenlearning(s, {1: 1.0}, 0.1, 0)
    with pytest.raises(ValueError, match="ridge"):
        eigenlearning(s, {1: 1.0}, 0.1, 10, ridge=-1.0)
    with pytest.raises(ValueError, match="noise"):
        eigenlearning(s, {1: 1.0}, -0.1, 10)
    with pytest.raises(ValueError, match="energies.*5"):
        eigenlearning(s, {5: 1.0}, 0.1, 10)
    with pytest.raises(ValueError, match="ns"):
        krr_risk_curve([0.0, 10.0], s, {1: 1.0}, 0.1)
    with pytest.raises(ValueError, match="ns"):
        krr_risk_curve([-1.0], s, {1: 1.0}, 0.1)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from([100, 1000]), st.floats(1, 1e6), st.floats(0, 10),
    st.floats(0, 1), st.sampled_from(["exp(z)", "relu-ntk"]),
)
def test_invariants(d, n, ridge, noise, kernel):
    s = kernel_spectrum(kernel, d, 4)
    r = eigenlearning(s, {1: 1.0, 2: 0.5}, noise, n, ridge=ridge)
    assert r.kappa > 0
    assert all(0 <= value <= 1 for value in r.learnabilities)
    assert r.overfitting >= 1
    assert r.test >= noise and 0 <= r.train <= r.test
