import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from limitlab.theory import (
    KERNEL_VARIABLE,
    kernel_spectrum,
    online_sgd_mean_learned_fraction,
    online_sgd_risk,
    online_sgd_stability,
    oracle_risk,
)

z = KERNEL_VARIABLE
SMALL = 1 + z + z**2 + z**3  # d = 3: 1 + 3 + 5 + 7 = 16 modes, no tail


def _order(etas, errors):
    """Measured convergence order: slope of log(error) against log(eta)."""
    return np.polyfit(np.log(etas), np.log(errors), 1)[0]


def test_small_step_limit_is_the_oracle_with_order_one():
    s = kernel_spectrum("exp(z)", 30, 5)
    energies = {1: 1.0, 2: 0.5}
    times = np.array([5.0, 50.0, 500.0])
    oracle_excess = oracle_risk(times, s, energies, 0.25) - 0.25
    etas = np.array([0.04, 0.02, 0.01, 0.005])
    errors = []
    for eta in etas:
        risk = online_sgd_risk(np.round(times / eta).astype(int), s, energies, 0.25, eta=eta)
        errors.append(np.max(np.abs(risk - oracle_excess) / oracle_excess))
    assert errors[-1] < 0.02
    assert _order(etas, errors) == pytest.approx(1.0, abs=0.1)


def _full_covariance(steps, eigenvalues, target, noise, eta, batch):
    """Independent: the exact second-moment recursion of the error r = u - u* in the
    orthonormal eigenbasis for Gaussian features y ~ N(0, I), the full matrix S = E r r^T:
    S <- S - eta(Lam S + S Lam) + eta^2 Lam (S + (S + tr S I)/b) Lam + eta^2/b noise Lam^2,
    from S_0 = u* u*^T (f_0 = 0).  Returns tr S after each requested step count."""
    lam = np.diag(eigenvalues)
    s = np.outer(target, target)
    out, done = {}, 0
    for count in sorted(set(steps)):
        for _ in range(count - done):
            fourth = s + (s + np.trace(s) * np.eye(len(target))) / batch
            s = s - eta * (lam @ s + s @ lam) + eta**2 * lam @ fourth @ lam
            s = s + eta**2 / batch * noise * lam @ lam
        done = count
        out[count] = np.trace(s)
    return np.array([out[c] for c in steps])


@pytest.mark.parametrize("batch", [1, 3])
def test_diagonal_closure_equals_the_full_covariance_recursion(batch):
    s = kernel_spectrum(SMALL, 3, 3)
    rng = np.random.default_rng(0)
    eigenvalues = np.concatenate(
        [np.full(n, lam) for n, lam in zip(s.degeneracies, s.eigenvalues, strict=True)]
    )
    target = rng.standard_normal(eigenvalues.size)  # not isotropic within a degree
    energies, start = {}, 0
    for k, n in enumerate(s.degeneracies):
        energies[k] = float(np.sum(target[start : start + n] ** 2))
        start += n
    steps = [0, 1, 7, 50, 400]
    expected = _full_covariance(steps, eigenvalues, target, 0.3, 0.4, batch)
    got = online_sgd_risk(steps, s, energies, 0.3, eta=0.4, batch=batch, closure="gaussian")
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_against_a_monte_carlo_of_sgd_with_gaussian_features():
    # 4000 independent runs of online SGD on Gaussian features, batch 2, step 0.3.
    # Criterion: within 4 standard errors of the mean (the closure is exact for Gaussians).
    s = kernel_spectrum(SMALL, 3, 3)
    eigenvalues = np.concatenate(
        [np.full(n, lam) for n, lam in zip(s.degeneracies, s.eigenvalues, strict=True)]
    )
    m, runs, eta, batch, noise = eigenvalues.size, 4000, 0.3, 2, 0.5
    target = np.zeros(m)
    target[1:4] = [1.0, 0.0, 0.0]  # degree 1
    target[4:9] = [0.0, 0.0, 0.8, 0.0, 0.0]  # degree 2
    energies = {1: 1.0, 2: 0.64}
    rng = np.random.default_rng(1)
    u = np.zeros((runs, m))
    checkpoints = [5, 20, 80]
    errors, means = [], []
    for step in range(1, checkpoints[-1] + 1):
        y = rng.standard_normal((runs, batch, m))
        labels = y @ target + math.sqrt(noise) * rng.standard_normal((runs, batch))
        residual = np.einsum("rbm,rm->rb", y, u) - labels
        u = u - eta / batch * eigenvalues * np.einsum("rb,rbm->rm", residual, y)
        if step in checkpoints:
            errors.append(np.sum((u - target) ** 2, axis=1))
            means.append(u.mean(axis=0))
    errors = np.array(errors)
    predicted = online_sgd_risk(
        checkpoints, s, energies, noise, eta=eta, batch=batch, closure="gaussian"
    )
    standard_error = errors.std(axis=1, ddof=1) / math.sqrt(runs)
    np.testing.assert_array_less(np.abs(errors.mean(axis=1) - predicted), 4 * standard_error)
    # the mean iterate: exact learned fraction, any distribution
    for k, coordinate in ((1, 1), (2, 6)):
        fraction = online_sgd_mean_learned_fraction(checkpoints, s, k, eta=eta)
        observed = np.array([mean[coordinate] for mean in means]) / target[coordinate]
        assert np.all(np.abs(observed - fraction) < 0.05)


def test_mean_learned_fraction():
    s = kernel_spectrum("exp(z)", 30, 3)
    steps = np.array([0, 1, 10, 1000, 10**9])
    eta = 0.3
    fraction = online_sgd_mean_learned_fraction(steps, s, 2, eta=eta)
    expected = 1 - (1 - eta * s.eigenvalue(2)) ** steps.astype(float)
    np.testing.assert_allclose(fraction, expected, rtol=1e-12)
    assert fraction[0] == 0.0 and fraction[-1] == pytest.approx(1.0)
    # eta -> 0 at t = eta s fixed: 1 - e^{-lambda t}
    t = 200.0
    small = online_sgd_mean_learned_fraction([round(t / 1e-4)], s, 1, eta=1e-4)[0]
    assert small == pytest.approx(-math.expm1(-s.eigenvalue(1) * t), rel=1e-4)
    # degree beyond kmax is computed on demand
    assert online_sgd_mean_learned_fraction([10], s, 5, eta=1.0)[0] > 0


@pytest.mark.parametrize("closure, sign", [("sphere", -1), ("gaussian", 1)])
def test_huge_step_counts_are_cheap_and_accurate(closure, sign):
    # lambda_3 ~ 1e-9 at d = 1000: eta*lambda ~ 1e-12, where 1 - eta*lambda in float64 keeps
    # only 4 digits.  Independent reference: the same affine recursion built and powered in
    # 60-digit mpmath arithmetic.
    import mpmath

    from limitlab.theory._online_sgd import _levels

    s = kernel_spectrum("exp(z)", 1000, 3)
    energies, noise, eta, batch = {1: 0.5, 3: 1.0}, 0.2, 1e-3, 2
    steps = [10**6, 10**8, 10**10, 10**12]
    risk = online_sgd_risk(steps, s, energies, noise, eta=eta, batch=batch, closure=closure)
    lam, mass = _levels(s)
    with mpmath.workdps(60):
        size = lam.size
        a = mpmath.zeros(size + 1, size + 1)
        e, g = mpmath.mpf(eta), mpmath.mpf(eta) ** 2 / batch
        for k in range(size):
            lk, mk = mpmath.mpf(lam[k]), mpmath.mpf(mass[k])
            for j in range(size):
                a[k, j] = g * mk * lk
            a[k, k] += (1 - e * lk) ** 2 + sign * g * lk**2
            a[k, size] = g * mk * lk * mpmath.mpf(noise)
        a[size, size] = 1
        state = mpmath.matrix([energies.get(k, 0.0) for k in range(size)] + [1])
        for count, value in zip(steps, risk, strict=True):
            final = (a**count) * state
            expected = mpmath.fsum(final[k] for k in range(size))
            assert value == pytest.approx(float(expected), rel=1e-9)
    # and close to the oracle, up to the O(eta) SGD fluctuations ~ rho (E + sigma^2) with
    # rho ~ eta h(1)/(2b)
    oracle = oracle_risk(np.array(steps) * eta, s, energies)
    rho = online_sgd_stability(s, eta=eta, batch=batch, closure=closure)
    np.testing.assert_allclose(risk, oracle, atol=2 * rho * (1.5 + noise))
    assert np.all(risk >= oracle)


def test_stability():
    s = kernel_spectrum("exp(z)", 30, 4)
    rho = online_sgd_stability(s, eta=0.1)
    # rho ~ eta h(1) / (2b) for small eta
    assert rho == pytest.approx(0.1 * math.e / 2, rel=0.05)
    assert online_sgd_stability(s, eta=0.1, batch=4) < rho
    assert math.isinf(online_sgd_stability(s, eta=10.0))
    # stable: the long-time excess approaches the noise floor rho sigma^2 / (1 - rho)
    eta, noise = 0.2, 0.5
    rho = online_sgd_stability(s, eta=eta)
    floor = online_sgd_risk([10**15], s, {1: 1.0}, noise, eta=eta)[0]
    assert floor == pytest.approx(rho * noise / (1 - rho), rel=1e-6)
    # unstable: it overflows eventually
    with pytest.raises(FloatingPointError):
        online_sgd_risk([10**6], s, {1: 1.0}, noise, eta=1.0)


def test_sphere_and_gaussian_closures_differ_by_the_sign_of_one_term():
    # On the sphere ||P_k K(., x)||^2 = lambda_k^2 N_k for every x, so the b = 1 recursion has
    # no (eta lambda)^2 E_k amplification; the Gaussian closure has 2 (eta lambda)^2 E_k more.
    s = kernel_spectrum("exp(z)", 50, 4)
    energies, noise, eta = {1: 1.0, 2: 1.0}, 0.25, 0.5
    sphere = online_sgd_risk([1], s, energies, noise, eta=eta)[0]
    gauss = online_sgd_risk([1], s, energies, noise, eta=eta, closure="gaussian")[0]
    lam = np.array(s.eigenvalues)
    # one step from E_k(0) = F_k: the two differ by 2 eta^2 sum_k lambda_k^2 F_k
    extra = 2 * eta**2 * sum(lam[k] ** 2 * f for k, f in energies.items())
    assert gauss - sphere == pytest.approx(extra, rel=1e-10)
    # and the constant mode makes the Gaussian closure blow up at b = 1 where the sphere
    # recursion is stable (lambda_0 ~ 1, eta = 0.6: a_0 = 0.16 + 0.36 vs 0.16 - 0.36)
    assert math.isfinite(online_sgd_stability(s, eta=0.6))
    assert online_sgd_stability(s, eta=0.6, closure="gaussian") > online_sgd_stability(s, eta=0.6)
    with pytest.raises(ValueError, match="closure"):
        online_sgd_risk([1], s, energies, noise, eta=eta, closure="normal")


def test_validation():
    s = kernel_spectrum("exp(z)", 30, 3)
    for steps in ([-1], [1.5], [np.nan], "x"):
        with pytest.raises(ValueError, match="steps"):
            online_sgd_risk(steps, s, {1: 1.0}, 0.1, eta=0.1)
    for eta in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="eta"):
            online_sgd_risk([1], s, {1: 1.0}, 0.1, eta=eta)
        with pytest.raises(ValueError, match="eta"):
            online_sgd_mean_learned_fraction([1], s, 1, eta=eta)
    for batch in (0, 1.5, True):
        with pytest.raises(ValueError, match="batch"):
            online_sgd_risk([1], s, {1: 1.0}, 0.1, eta=0.1, batch=batch)
    with pytest.raises(ValueError, match="noise"):
        online_sgd_risk([1], s, {1: 1.0}, -0.1, eta=0.1)
    with pytest.raises(ValueError, match="energies"):
        online_sgd_risk([1], s, {7: 1.0}, 0.1, eta=0.1)
    with pytest.raises(ValueError, match="k must"):
        online_sgd_mean_learned_fraction([1], s, -1, eta=0.1)


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["exp(z)", "1 + z + z**2", "relu-ntk"]), st.sampled_from([100, 300]),
    st.floats(1e-3, 0.5), st.floats(0, 1), st.integers(1, 8),
    st.dictionaries(st.integers(0, 3), st.floats(0.01, 5), min_size=1, max_size=4),
)
# a slow degree-3 target: the horizon overflowed int64 before it was capped
@example(kernel="exp(z)", d=300, scale=0.00390625, noise=0.0, batch=1, energies={3: 1.0})
def test_finite_and_non_increasing_for_small_steps(kernel, d, scale, noise, batch, energies):
    # "Small" is relative: SGD fluctuations excite the fast modes at rate
    # eta^2/b sum_j N_j lambda_j^2 (E + sigma^2) while the target decays at rate
    # 2 eta lambda_k F_k, so the excess risk is monotone only for
    # eta << lambda_min(target) / sum_j N_j lambda_j^2 (e.g. eta = 0.03, target on degree 2 at
    # d = 30 rises by 1.4 % before it decays).  eta is drawn as a fraction of that scale.
    s = kernel_spectrum(kernel, d, 3)
    energies = {k: v for k, v in energies.items() if s.eigenvalues[k] > 0}
    if not energies:
        return
    slowest = min(s.eigenvalues[k] for k in energies)
    weight = sum(s.mu(k) * s.eigenvalues[k] for k in s.degrees) + s.tail(3) * s.eigenvalue(4)
    eta = min(scale * slowest / weight, 0.1 / s.trace)
    # The horizon 30/(eta lambda) reaches ~1e20 for a degree-3 target at d = 300; step counts
    # are integers below 2**62 (online_sgd_risk rejects more), so stop at 1e15.
    horizon = min(30 / (eta * slowest), 1e15)
    steps = np.unique(np.logspace(0, math.log10(horizon), 40).astype(np.int64))
    risk = online_sgd_risk(steps, s, energies, noise, eta=eta, batch=batch)
    assert np.all(np.isfinite(risk)) and np.all(risk >= 0)
    # Without label noise the excess risk only decreases.  With noise it is not monotone: it
    # falls below the noise floor rho sigma^2/(1 - rho) once the fast modes are learned, and
    # climbs back to it as the noise accumulates in the slow modes; it stays below
    # E(0) + floor.
    clean = online_sgd_risk(steps, s, energies, 0.0, eta=eta, batch=batch)
    assert np.all(np.diff(clean) <= 1e-12 * clean[0] + 1e-300)
    rho = online_sgd_stability(s, eta=eta, batch=batch)
    floor = rho * noise / (1 - rho)
    assert np.all(risk <= (risk[0] + floor) * (1 + 1e-12))
