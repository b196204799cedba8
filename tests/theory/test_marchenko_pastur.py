import contextlib
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from limitlab.theory import (
    BoundaryRegime,
    KernelSpectrum,
    boundary_level,
    boundary_regime,
    boundary_regime_risk,
    empirical_risk_asymptotic,
    harmonic_degeneracy,
    kernel_spectrum,
    krr_boundary_risk,
    marchenko_pastur_atom,
    marchenko_pastur_density,
)
from limitlab.theory._marchenko_pastur import _continuous_integral

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


def _synthetic(p, mu, kappa, level=1):
    """Levels below `level`: 1 mode of eigenvalue 1; `level`: p modes of mu/p; tail kappa."""
    degrees = tuple(range(level + 1))
    degeneracies = tuple([1] * level + [p])
    eigenvalues = tuple([1.0] * level + [mu / p])
    tails = tuple(kappa + mu + (level - 1 - k) for k in range(level)) + (kappa,)
    return KernelSpectrum(
        kernel=sp.Integer(0), d=3, degrees=degrees, degeneracies=degeneracies,
        eigenvalues=eigenvalues, trace=level + mu + kappa, tails=tails,
    )


def _mp_density(w, psi):
    lower, upper = (1 - mpmath.sqrt(psi)) ** 2, (1 + mpmath.sqrt(psi)) ** 2
    return mpmath.sqrt(max((upper - w) * (w - lower), 0)) / (2 * mpmath.pi * psi * w)


def _mp_integral(f, psi):
    """Independent: mpmath tanh-sinh in omega itself, split near the lower edge."""
    psi = mpmath.mpf(psi)
    lower, upper = (1 - mpmath.sqrt(psi)) ** 2, (1 + mpmath.sqrt(psi)) ** 2
    points = [lower, lower + mpmath.mpf(10) ** -6, lower + mpmath.mpf(10) ** -2, upper]
    return mpmath.quad(lambda w: f(w) * _mp_density(w, psi), points)


@pytest.mark.parametrize("psi", [0.25, 0.5, 1.0, 1.0001, 2.0, 4.0])
def test_density_mass_and_mean(psi):
    with mpmath.workdps(30):
        mass = _mp_integral(lambda w: 1, psi)
        mean = _mp_integral(lambda w: w, psi)
    assert float(mass) == pytest.approx(min(1.0, 1.0 / psi), rel=1e-12)
    assert float(mean) == pytest.approx(1.0, rel=1e-12)  # the atom sits at 0: mean 1 with it
    assert marchenko_pastur_atom(psi) + float(mass) == pytest.approx(1.0, rel=1e-12)
    # the same through the implementation's quadrature
    assert _continuous_integral(lambda w: 1.0, psi, [], "mass") == pytest.approx(
        min(1.0, 1.0 / psi), rel=1e-12
    )
    assert _continuous_integral(lambda w: w, psi, [], "mean") == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("psi", [0.5, 1.0, 3.0])
def test_quadrature_against_mpmath(psi):
    functions = [
        (lambda w: 1 / (w + 0.3), lambda w: 1 / (w + mpmath.mpf("0.3"))),
        (lambda w: math.exp(-40 * w), lambda w: mpmath.exp(-40 * w)),
        (lambda w: w / (w + 1e-3) ** 2, lambda w: w / (w + mpmath.mpf("1e-3")) ** 2),
    ]
    with mpmath.workdps(30):
        for f, f_mp in functions:
            expected = float(_mp_integral(f_mp, psi))
            assert _continuous_integral(f, psi, [1e-3, 1 / 40], "f") == pytest.approx(
                expected, rel=1e-10
            )


def test_density_values():
    omega = np.array([-1.0, 0.0, 0.01, 1.0, 3.9, 4.0, 5.0])
    value = marchenko_pastur_density(omega, 1.0)
    assert value[0] == value[1] == value[-1] == value[-2] == 0.0
    # at psi = 1: sqrt((4 - w) w) / (2 pi w)
    np.testing.assert_allclose(value[2:5], np.sqrt((4 - omega[2:5]) / omega[2:5]) / (2 * np.pi))
    assert marchenko_pastur_density(2.0, 0.5).shape == ()
    assert marchenko_pastur_atom(0.5) == 0.0 and marchenko_pastur_atom(4.0) == 0.75
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="psi"):
            marchenko_pastur_density(1.0, bad)
        with pytest.raises(ValueError, match="psi"):
            marchenko_pastur_atom(bad)


@pytest.mark.parametrize("psi", [0.5, 1.0, 2.0])
def test_infinite_time_is_ridgeless_krr(psi):
    # The §8 test formula at tau -> infinity against the §9 explicit formula with ridge 0,
    # zeta = kappa/mu: two different derivations, which must agree.
    p, mu, kappa = 400, 1.3, 0.2
    spectrum = _synthetic(p, mu, kappa)
    energies = {1: 1.0}
    noise = 0.25
    train, test = boundary_regime_risk([1e6], spectrum, energies, noise, psi * p, level=1)
    expected = krr_boundary_risk(psi, kappa / mu, 1.0, 0.0, noise)
    assert test[0] == pytest.approx(float(expected), rel=1e-9)
    assert train[0] == 0.0


def test_infinite_time_with_higher_degrees_on_a_real_kernel():
    s = kernel_spectrum("exp(z)", 300, 3)
    energies = {1: 1.0, 2: 1.0}
    for n in (150, 600):
        regime = boundary_regime(s, energies, 0.25, n)
        _, test = boundary_regime_risk([1e7], s, energies, 0.25, n)
        expected = krr_boundary_risk(regime.psi, regime.kappa / regime.mu, 1.0, 1.0, 0.25)
        assert test[0] == pytest.approx(float(expected), rel=1e-9)


def test_time_zero_and_lower_degrees():
    s = kernel_spectrum("exp(z)", 300, 3)
    energies = {0: 0.5, 1: 1.0, 2: 1.0, 3: 0.3}
    train, test = boundary_regime_risk([0.0], s, energies, 0.25, 300)
    assert train[0] == pytest.approx(0.25 + 2.8, rel=1e-12)
    assert test[0] == pytest.approx(0.25 + 2.8, rel=1e-12)


def test_boundary_regime_parameters():
    s = kernel_spectrum("exp(z)", 300, 3)
    regime = boundary_regime(s, {1: 1.0, 2: 1.0}, 0.25, 600)
    assert isinstance(regime, BoundaryRegime)
    assert regime.level == 1 and regime.p == 300 and regime.psi == 2.0
    assert regime.mu == pytest.approx(s.mu(1)) and regime.kappa == s.tail(1)
    assert regime.effective_noise == pytest.approx(1.25) and regime.higher == 1.0


@pytest.mark.parametrize(
    ("d", "n", "level"),
    [(300, 150, 1), (300, 600, 1), (300, 40_000, 2), (300, 1e5, 2), (300, 2e6, 3), (300, 1, 0),
     (300, 17, 0), (300, 18, 1), (10, 0.5, 0)],
)
def test_boundary_level(d, n, level):
    assert boundary_level(d, n) == level
    if n >= 1:
        distances = [abs(math.log(harmonic_degeneracy(d, k)) - math.log(n)) for k in range(6)]
        assert distances[level] == min(distances)


def _gaussian_equivalent(rng, p, psi, mu, kappa, energy, noise, taus):
    """One draw of Z in the Gaussian-equivalent model (reference §8), risks averaged exactly
    over the isotropic target beta (E beta beta^T = F/p I) and the noise (variance `noise`):
    y = Z beta + eps, K = mu Z Z^T/p + kappa I, GF on (1/2n)|y - f|^2 for t = tau n, so
    beta_hat = (mu/p) Z^T A y with A = K^{-1}(I - e^{-tau K}) and
      train = (1/n) sum_i e^{-2 tau s_i} (F/p |Z^T u_i|^2 + noise),
      test excess = F/p |(mu/p) Z^T A Z - I|_F^2 + noise |(mu/p) Z^T A|_F^2,
    from the raw matrices (no Marchenko-Pastur law, no bias/variance formula of §8)."""
    n = int(round(psi * p))
    z = rng.standard_normal((n, p))
    s, u = np.linalg.eigh(mu * z @ z.T / p + kappa * np.eye(n))
    w = z.T @ u  # Z^T u_i as columns
    column_norms = np.sum(w * w, axis=0)
    out = []
    for tau in taus:
        a = -np.expm1(-tau * s) / s
        m = mu / p * (w * a) @ w.T
        bias = energy / p * np.sum((m - np.eye(p)) ** 2)
        variance = noise * (mu / p) ** 2 * np.sum(a * a * column_norms)
        train = np.mean(np.exp(-2 * tau * s) * (energy / p * column_norms + noise))
        out.append((train, bias + variance))
    return np.array(out)


@pytest.mark.parametrize("psi", [0.5, 1.0, 2.0])
def test_against_the_gaussian_equivalent_model(psi):
    # p = 400 features, 2 draws of Z (everything else averaged exactly).  Z-fluctuations and
    # finite-p corrections are O(1/p): measured 0.03 % (test) and < 1 % (train, except where it
    # is exponentially small and set by the edge eigenvalue: 7e-18 at psi = 0.5, tau = 30).
    p, mu, kappa, energy, noise = 400, 1.0, 0.5, 1.0, 1.25
    taus = [0.3, 3.0, 30.0]
    spectrum = _synthetic(p, mu, kappa)
    limit = threadpool_limits(1) if threadpool_limits else contextlib.nullcontext()
    rng = np.random.default_rng(11)
    with limit:
        runs = [_gaussian_equivalent(rng, p, psi, mu, kappa, energy, noise, taus) for _ in range(2)]
    mean = np.mean(runs, axis=0)
    train, test = boundary_regime_risk(taus, spectrum, {1: energy}, noise, psi * p, level=1)
    np.testing.assert_allclose(mean[:, 0], train, rtol=0.02, atol=1e-6)
    np.testing.assert_allclose(mean[:, 1] + noise, test, rtol=0.005)


def test_large_psi_reduces_to_the_polynomial_regime():
    # n = psi N(d, l) with psi >> 1 is the polynomial regime above level l: §8 -> §5 with the
    # same level; measured relative deviation 1/psi = 3.3e-5.
    s = kernel_spectrum("exp(z)", 300, 3)
    energies = {1: 1.0, 2: 1.0}
    n = 3e4 * 300  # psi = 3e4
    taus = np.logspace(-6, 1, 15)  # t = tau n from 9 (before degree 1) to 9e7 (train fitted)
    train, test = boundary_regime_risk(taus, s, energies, 0.25, n, level=1)
    train5, test5 = empirical_risk_asymptotic(taus * n, s, energies, 0.25, n, level=1)
    np.testing.assert_allclose(test, test5, rtol=1e-3)
    np.testing.assert_allclose(train, train5, rtol=1e-3)


def test_validation():
    s = kernel_spectrum("exp(z)", 300, 2)
    with pytest.raises(ValueError, match="taus"):
        boundary_regime_risk([-1.0], s, {1: 1.0}, 0.25, 300)
    with pytest.raises(ValueError, match="taus"):
        boundary_regime_risk([math.nan], s, {1: 1.0}, 0.25, 300)
    with pytest.raises(ValueError, match="noise"):
        boundary_regime_risk([1.0], s, {1: 1.0}, -0.25, 300)
    with pytest.raises(ValueError, match="n must"):
        boundary_regime_risk([1.0], s, {1: 1.0}, 0.25, 0)
    with pytest.raises(ValueError, match="energies"):
        boundary_regime_risk([1.0], s, {4: 1.0}, 0.25, 300)
    with pytest.raises(ValueError, match="level"):
        boundary_regime_risk([1.0], kernel_spectrum("cosh(z)", 300, 2), {2: 1.0}, 0.25, 300,
                             level=1)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(0.1, 10), st.floats(0.05, 5), st.floats(0.0, 2), st.floats(0, 3), st.floats(0, 2),
    st.floats(0, 2),
)
def test_train_non_increasing_in_tau(psi, mu, kappa, energy, higher, noise):
    p = 100
    # a subnormal kappa gives kappa / 10**6 == 0: degree 2 is then not learnable
    higher_eigenvalue = kappa / 10**6
    spectrum = KernelSpectrum(
        kernel=sp.Integer(0), d=3, degrees=(0, 1, 2), degeneracies=(1, p, 10**6),
        eigenvalues=(1.0, mu / p, higher_eigenvalue),
        trace=1 + mu + kappa, tails=(mu + kappa, kappa, 0.0),
    )
    energies = {1: energy, 2: higher if higher_eigenvalue > 0 else 0.0}
    taus = np.concatenate([[0.0], np.logspace(-3, 4, 25)])
    train, test = boundary_regime_risk(taus, spectrum, energies, noise, psi * p, level=1)
    assert np.all(np.diff(train) <= 1e-12 * (1 + train[0]))
    assert np.all(train >= 0) and np.all(test >= noise)
    assert test[0] == pytest.approx(noise + sum(energies.values()), rel=1e-10)
