"""Mean-field two-layer networks (theory/_mean_field.py, theory/_mean_field_models.py).

Statistical tests use fixed seeds and tolerances of a few standard errors (computed from the
samples); deterministic checks compare with numerical quadrature, a direct ODE integration, the
Fréchet derivative of the matrix exponential, or exact sympy values.
"""

import math

import mpmath
import numpy as np
import pytest
import scipy.integrate as si
import scipy.linalg as sl
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from limitlab.theory import (
    GaussianUnitModel,
    MeanFieldObjective,
    RandomFeaturesSolution,
    ReducedReluState,
    clt_covariance,
    empirical_norm_squared,
    gaussian_unit_model,
    isotropic_mixture_interaction,
    isotropic_mixture_potential,
    mean_field_loss,
    mean_field_objective,
    mean_field_potential,
    mean_field_prediction,
    measure_two_norm_squared,
    ramp_gaussian_mean,
    random_features_dynamics,
    random_features_fluctuation,
    reduced_overlap_density,
    reduced_overlap_quadrature,
    reduced_relu_kernel,
    reduced_relu_teacher_student,
    relu_gaussian_kernel,
    relu_gaussian_kernel_gradient,
    resampling_bound,
    two_norm_bound,
    unit_function,
)


def _tanh_unit(x, z):
    return np.tanh(np.sum(x * z, axis=-1) + 0.3)


def _problem(seed=0, n=4, p=12, n_test=3, uniform=False):
    """A small random-features problem: 2-D inputs, tanh units, random weights."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, 2))
    centres = rng.normal(size=(p, 2))
    targets = rng.normal(size=n)
    nu = None if uniform else rng.uniform(0.5, 1.0, size=n)
    W = None if uniform else rng.uniform(0.5, 1.0, size=p)
    if not uniform:
        nu /= nu.sum()
        W /= W.sum()
    c = rng.normal(size=p) + 0.3
    objective = mean_field_objective(_tanh_unit, data, targets, centres, data_weights=nu)
    test = mean_field_objective(_tanh_unit, rng.normal(size=(n_test, 2)), np.zeros(n_test), centres)
    return objective, test, c, W


# --------------------------------------------------------------------------------------------
# the objective on finite data


def test_objective_terms_match_direct_sums_and_all_unit_forms_agree():
    rng = np.random.default_rng(1)
    x, z, y = rng.normal(size=5), rng.normal(size=7), rng.normal(size=5)
    nu = rng.uniform(size=5)
    nu /= nu.sum()
    from_callable = mean_field_objective(
        lambda x, z: np.exp(-((x - z) ** 2)) * (1 + x * z), x, y, z, data_weights=nu
    )
    xs, zs = sp.symbols("x z", real=True)
    from_sympy = mean_field_objective(
        sp.exp(-((xs - zs) ** 2)) * (1 + xs * zs), x, y, z, data_weights=nu
    )
    from_string = mean_field_objective("exp(-(x - z)**2) * (1 + x*z)", x, y, z, data_weights=nu)
    phi = np.exp(-((x[:, None] - z[None, :]) ** 2)) * (1 + np.outer(x, z))
    for objective in (from_callable, from_sympy, from_string):
        assert isinstance(objective, MeanFieldObjective)
        np.testing.assert_allclose(objective.features, phi, rtol=1e-14)
        np.testing.assert_allclose(objective.correlation, phi.T @ (nu * y), rtol=1e-13)
        np.testing.assert_allclose(objective.interaction, phi.T @ (nu[:, None] * phi), rtol=1e-13)
        assert objective.target_energy == pytest.approx(0.5 * np.sum(nu * y**2), rel=1e-14)


def test_vector_units_from_strings_use_indexed_names():
    rng = np.random.default_rng(2)
    x, z, y = rng.normal(size=(6, 3)), rng.normal(size=(4, 3)), rng.normal(size=6)
    objective = mean_field_objective("relu(x1*z1 + x2*z2 + x3*z3)", x, y, z)
    np.testing.assert_allclose(objective.features, np.maximum(x @ z.T, 0), rtol=1e-14)
    phi = unit_function("erf(x1*z) + gamma(2 + x2**2)", input_dim=2)
    assert float(phi(np.array([0.5, 1.0]), np.array(2.0))) == pytest.approx(
        math.erf(1.0) + math.gamma(3.0), rel=1e-14
    )


def test_loss_is_the_f_k_decomposition_and_the_potential_is_its_first_variation():
    objective, _, c, W = _problem(3)
    F, K = objective.correlation, objective.interaction
    wc = W * c
    loss = mean_field_loss(objective, c, W)
    assert loss == pytest.approx(objective.target_energy - wc @ F + 0.5 * wc @ K @ wc, rel=1e-12)
    f = mean_field_prediction(objective, c, W)
    assert loss == pytest.approx(
        0.5 * empirical_norm_squared(f - objective.targets, objective.data_weights), rel=1e-14
    )
    # V(theta_i; mu) = dL/dw_i (L is quadratic in w: central differences are exact)
    V = mean_field_potential(objective, c, W)

    def loss_of(w):
        r = objective.features @ (w * c) - objective.targets
        return 0.5 * np.sum(objective.data_weights * r**2)

    h = 1e-4
    for i in range(c.size):
        e = np.zeros(c.size)
        e[i] = h
        assert V[i] == pytest.approx((loss_of(W + e) - loss_of(W - e)) / (2 * h), rel=1e-7)
    # V = <c phi(., z), f - f*>_nu
    np.testing.assert_allclose(
        V, c * (objective.features.T @ (objective.data_weights * (f - objective.targets))),
        rtol=1e-12, atol=1e-15,
    )


def test_resampling_bound_is_the_trace_of_the_clt_covariance_and_below_the_two_norm_bound():
    objective, _, c, W = _problem(4)
    V = resampling_bound(objective, c, W)
    f = mean_field_prediction(objective, c, W)
    K = objective.interaction
    assert V == pytest.approx(
        np.sum(W * c**2 * np.diag(K)) - empirical_norm_squared(f, objective.data_weights),
        rel=1e-12,
    )
    C = clt_covariance(objective, c, W)
    assert np.trace(C * objective.data_weights[None, :]) == pytest.approx(V, rel=1e-12)
    assert np.min(np.linalg.eigvalsh(C)) > -1e-14
    bound = two_norm_bound(objective, c, W)
    assert bound == pytest.approx(np.max(np.diag(K)) * measure_two_norm_squared(c, W), rel=1e-14)
    assert V <= bound
    # |tanh| < 1: ||phi||_nu^2 <= 1 is a global constant
    assert two_norm_bound(objective, c, W, unit_norm_bound=1.0) >= bound
    with pytest.raises(ValueError, match="unit_norm_bound"):
        two_norm_bound(objective, c, W, unit_norm_bound=0.01)


def test_resampled_networks_have_mean_square_deviation_v_over_m_at_every_width():
    """m E||f^(m) - f_mu||^2 = V_mu exactly for i.i.d. atoms from mu, for every m (§4.3)."""
    objective, _, c, W = _problem(5)
    V = resampling_bound(objective, c, W)
    f = mean_field_prediction(objective, c, W)
    rng = np.random.default_rng(6)
    m, repeats = 7, 20000
    draws = rng.choice(c.size, size=(repeats, m), p=W)
    networks = objective.features[:, draws] * c[draws][None]  # (n, repeats, m)
    deviation = networks.mean(axis=2) - f[:, None]
    samples = m * (objective.data_weights @ deviation**2)
    error = samples.std(ddof=1) / np.sqrt(repeats)
    assert abs(samples.mean() - V) < 4 * error


@given(
    seed=st.integers(0, 10**6),
    p=st.integers(1, 8),
    n=st.integers(1, 6),
    scale=st.floats(1e-3, 1e3),
)
def test_resampling_bound_is_nonnegative_and_below_the_two_norm_bound(seed, p, n, scale):
    rng = np.random.default_rng(seed)
    data, centres = rng.normal(size=n), rng.normal(size=p)
    objective = mean_field_objective(
        lambda x, z: np.sin(3 * x * z) + z, data, rng.normal(size=n), centres
    )
    c = scale * rng.normal(size=p)
    w = rng.dirichlet(np.ones(p))
    V = resampling_bound(objective, c, w)
    bound = two_norm_bound(objective, c, w)
    assert V >= 0
    assert V <= bound * (1 + 1e-12) + 1e-300
    smallest = np.min(np.linalg.eigvalsh(clt_covariance(objective, c, w)))
    assert smallest >= -1e-12 * max(bound, 1e-300)


def test_objective_arguments_are_validated():
    x, y, z = np.zeros(3), np.zeros(3), np.zeros(2)
    with pytest.raises(ValueError, match="targets"):
        mean_field_objective(_tanh_unit, x, np.zeros(4), z)
    with pytest.raises(ValueError, match="data_weights"):
        mean_field_objective(_tanh_unit, x, y, z, data_weights=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="data_weights"):
        mean_field_objective(_tanh_unit, x, y, z, data_weights=[1.5, -0.5, 0.0])
    with pytest.raises(ValueError, match="data"):
        mean_field_objective(_tanh_unit, [[[1.0]]], y, z)
    with pytest.raises(ValueError, match="centres"):
        mean_field_objective(_tanh_unit, x, y, [np.nan, 1.0])
    with pytest.raises(ValueError, match="not finite"), np.errstate(divide="ignore"):
        mean_field_objective(lambda x, z: 1 / (x * 0 + z * 0), x, y, z)
    with pytest.raises(ValueError, match="unknown name"):
        mean_field_objective("exp(w)", x, y, z)
    with pytest.raises(ValueError, match="symbols"):
        mean_field_objective(sp.Symbol("w") * sp.Symbol("x"), x, y, z)
    with pytest.raises(ValueError, match="unit"):
        mean_field_objective(3.0, x, y, z)
    with pytest.raises(ValueError, match="input_dim"):
        unit_function("x", input_dim=-1)
    objective = mean_field_objective("x*z", x, y, z)
    with pytest.raises(ValueError, match="output_weights"):
        mean_field_loss(objective, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="weights"):
        resampling_bound(objective, [1.0, 2.0], [0.2, 0.2])
    with pytest.raises(ValueError, match="objective"):
        mean_field_potential("not an objective", [1.0, 2.0])


# --------------------------------------------------------------------------------------------
# random features


def _ode_reference(objective, test, c, W, times):
    """Integrate f_t and the per-atom tangents (weight perturbations e_k) with solve_ivp.

    d/de of the flow of mu_0 + e delta_k gives the influence h_t(theta_k), whose
    W-covariance is E||g_t||^2 (§6: exact covariance of the linear response)."""
    Phi = np.vstack([objective.features, test.features])
    n, N, p = objective.features.shape[0], Phi.shape[0], c.size
    D = np.concatenate([objective.data_weights, np.zeros(N - n)])
    targets = np.concatenate([objective.targets, np.zeros(N - n)])
    K = (Phi * W) @ Phi.T

    def rhs(_, state):
        state = state.reshape(p + 1, N)
        residual = (state[0] - targets) * D
        tangents = [-K @ (state[1 + k] * D) - Phi[:, k] * (Phi[:, k] @ residual) for k in range(p)]
        return np.concatenate([-K @ residual, *tangents])

    start = np.concatenate([Phi @ (W * c)] + [c[k] * Phi[:, k] for k in range(p)])
    sol = si.solve_ivp(
        rhs, (0, times[-1]), start, t_eval=times, rtol=1e-11, atol=1e-13, method="DOP853"
    )
    out = []
    for i in range(len(times)):
        state = sol.y[:, i].reshape(p + 1, N)
        H = state[1:].T
        centred = H - H @ W[:, None]
        train = np.sum((centred[:n] ** 2 * objective.data_weights[:, None]) @ W)
        test_value = np.sum((centred[n:] ** 2 * test.data_weights[:, None]) @ W)
        out.append((state[0][:n], state[0][n:], train, test_value))
    return out


def test_random_features_match_a_direct_ode_integration():
    objective, test, c, W = _problem(0)
    times = np.array([0.0, 0.3, 1.0, 4.0, 20.0])
    solution = random_features_dynamics(objective, c, times, weights=W, test=test)
    assert isinstance(solution, RandomFeaturesSolution)
    reference = _ode_reference(objective, test, c, W, times)
    for i, (f_train, f_test, train, test_value) in enumerate(reference):
        np.testing.assert_allclose(solution.prediction[i], f_train, atol=1e-10)
        np.testing.assert_allclose(solution.test_prediction[i], f_test, atol=1e-10)
        assert solution.fluctuation[i] == pytest.approx(train, rel=1e-8)
        assert solution.test_fluctuation[i] == pytest.approx(test_value, rel=1e-8)
    # c_t, V_t, the 2-norm and the losses are consistent with the general functions
    for i in range(times.size):
        c_t = solution.output_weights[i]
        f_t = mean_field_prediction(objective, c_t, W)
        np.testing.assert_allclose(f_t, solution.prediction[i], atol=1e-12)
        assert solution.loss[i] == pytest.approx(mean_field_loss(objective, c_t, W), rel=1e-10)
        assert solution.test_loss[i] == pytest.approx(mean_field_loss(test, c_t, W), rel=1e-10)
        assert solution.resampling_bound[i] == pytest.approx(
            resampling_bound(objective, c_t, W), rel=1e-10
        )
        assert solution.test_resampling_bound[i] == pytest.approx(
            resampling_bound(test, c_t, W), rel=1e-10
        )
        assert solution.two_norm_squared[i] == pytest.approx(measure_two_norm_squared(c_t, W))
    # at t = 0 the fluctuation is the initial CLT variance V_0 (§4.3)
    assert solution.fluctuation[0] == pytest.approx(resampling_bound(objective, c, W), rel=1e-12)
    assert solution.test_fluctuation[0] == pytest.approx(resampling_bound(test, c, W), rel=1e-12)
    np.testing.assert_allclose(
        random_features_fluctuation(objective, c, times, weights=W), solution.fluctuation
    )


def test_random_features_match_the_frechet_derivative_of_the_matrix_exponential():
    """g_t = e^{-At} g_0 + L_exp(-At, -dA t) r_0 with A = K D (reference §5)."""
    objective, _, c, W = _problem(7, n=5, p=9)
    Phi, nu = objective.features, objective.data_weights
    A = ((Phi * W) @ Phi.T) * nu[None, :]
    r0 = Phi @ (W * c) - objective.targets
    for t in (0.5, 3.0):
        decay = sl.expm(-A * t)
        H = np.empty(Phi.shape)
        for k in range(c.size):
            dA = np.outer(Phi[:, k], Phi[:, k]) * nu[None, :]
            _, derivative = sl.expm_frechet(-A * t, -dA * t)
            H[:, k] = decay @ (c[k] * Phi[:, k]) + derivative @ r0
        centred = H - H @ W[:, None]
        expected = np.sum((centred**2 * nu[:, None]) @ W)
        assert random_features_fluctuation(objective, c, [t], weights=W)[0] == pytest.approx(
            expected, rel=1e-10
        )


def test_random_features_fluctuation_matches_monte_carlo_over_feature_draws():
    """m E||f^(m)_t - f_t||^2 for m atoms drawn i.i.d. from mu_0, each trained exactly.

    Tolerance: 4 standard errors of the sample mean (1.7-2.3% of the value here).  The
    finite-width bias is O(1/m): measured with 10^5 draws at t = 8 it is 2.6%, 0.7% and
    (0.4 +- 0.3)% of the value at m = 25, 100 and 400, far below the tolerance at m = 400."""
    objective, _, c, W = _problem(8, n=3, p=10)
    times = np.array([0.5, 2.0, 8.0])
    solution = random_features_dynamics(objective, c, times, weights=W)
    Phi, nu, y = objective.features, objective.data_weights, objective.targets
    rng = np.random.default_rng(9)
    m, repeats = 400, 3000
    samples = np.empty((repeats, times.size))
    for r in range(repeats):
        atoms = rng.choice(c.size, size=m, p=W)
        features = Phi[:, atoms]
        A = (features @ features.T / m) * nu[None, :]
        residual = features @ c[atoms] / m - y
        lam, V = np.linalg.eig(A)
        coefficients = np.linalg.solve(V, residual)
        for i, t in enumerate(times):
            f_m = y + np.real(V @ (np.exp(-lam * t) * coefficients))
            samples[r, i] = m * np.sum(nu * (f_m - solution.prediction[i]) ** 2)
    mean = samples.mean(axis=0)
    error = samples.std(axis=0, ddof=1) / np.sqrt(repeats)
    assert np.all(np.abs(mean - solution.fluctuation) < 4 * error), (mean, error)


def test_one_training_point_closed_form_and_a_non_monotone_fluctuation():
    """n = 1: E g_t^2 = e^{-2 lam t}(V_0 - 2 t r_0 Cov(c phi, phi^2) + t^2 r_0^2 Var(phi^2))
    [derived from the §5 formula, E = t e^{-lam t} at equal eigenvalues].  With a small V_0
    the delta-K term makes the fluctuation grow before it decays: it is not monotone."""
    phi = np.array([[0.5, 1.0, 2.0]])
    c = np.array([0.01, -0.02, 0.015])
    W = np.array([0.2, 0.5, 0.3])
    y = np.array([3.0])
    objective = mean_field_objective(lambda x, z: z + 0 * x, [0.0], y, phi[0])
    lam = np.sum(W * phi[0] ** 2)
    r0 = np.sum(W * c * phi[0]) - y[0]
    a, q = c * phi[0], phi[0] ** 2
    mean_a, mean_q = W @ a, W @ q
    V0 = W @ (a - mean_a) ** 2
    cov = W @ ((a - mean_a) * (q - mean_q))
    var = W @ (q - mean_q) ** 2
    times = np.linspace(0, 3, 31)
    expected = np.exp(-2 * lam * times) * (V0 - 2 * times * r0 * cov + times**2 * r0**2 * var)
    fluctuation = random_features_fluctuation(objective, c, times, weights=W)
    np.testing.assert_allclose(fluctuation, expected, rtol=1e-12)
    assert np.max(fluctuation) > 100 * fluctuation[0]


@pytest.mark.parametrize("gap", [0.0, 1e-12, 1e-7, 1e-3, 0.3])
def test_equal_and_nearly_equal_kernel_eigenvalues(gap):
    """Atoms in +- pairs make the kernel diag(1, 1 + gap) while every atom has both
    components, so the divided differences E_kl, Q_kl with k != l enter; they must not cancel
    at (nearly) equal eigenvalues.  Compared with the Fréchet derivative of expm (train) and
    the ODE (test point)."""
    Phi = np.array([[1.0, 1.0, 0.5, 0.5], [1.0, -1.0, 2.0, -2.0]])
    Phi[1] *= np.sqrt((1 + gap) * 2 / (1 + 4.0))
    Phi[0] *= np.sqrt(2 / (1 + 0.25))
    c = np.array([0.3, -1.0, 0.7, 0.2])
    W = np.full(4, 0.25)
    nu = np.array([0.5, 0.5])
    y = np.array([1.0, -2.0])

    def unit(x, z):  # looks the features up: x indexes the data point, z the atom
        return Phi[x.astype(int), z.astype(int)]

    objective = mean_field_objective(unit, [0.0, 1.0], y, np.arange(4.0), data_weights=nu)
    test = mean_field_objective(lambda x, z: 0.7 * unit(x, z), [0.0], [0.0], np.arange(4.0))
    times = np.array([0.1, 1.0, 50.0])
    solution = random_features_dynamics(objective, c, times, weights=W, test=test)
    np.testing.assert_allclose(solution.kernel_eigenvalues, [0.5, 0.5 * (1 + gap)], rtol=1e-14)
    A = ((Phi * W) @ Phi.T) * nu[None, :]
    r0 = Phi @ (W * c) - y
    for i, t in enumerate(times):
        H = np.empty(Phi.shape)
        for k in range(4):
            dA = np.outer(Phi[:, k], Phi[:, k]) * nu[None, :]
            _, derivative = sl.expm_frechet(-A * t, -dA * t)
            H[:, k] = sl.expm(-A * t) @ (c[k] * Phi[:, k]) + derivative @ r0
        centred = H - H @ W[:, None]
        expected = np.sum((centred**2 * nu[:, None]) @ W)
        assert solution.fluctuation[i] == pytest.approx(expected, rel=1e-9)
    ode = _ode_reference(objective, test, c, W, times)
    for i in range(times.size):
        assert solution.test_fluctuation[i] == pytest.approx(ode[i][3], rel=1e-7)


def test_divided_differences_of_the_exponential_are_accurate():
    """E_kl and Q_kl (private helpers) against 60-digit closed forms, for eigenvalue gaps from
    1e-16 relative up to O(1) and times from 1e-3 to 1e3 (values above underflow)."""
    from limitlab.theory._mean_field import (
        _first_divided_difference,
        _second_divided_difference,
    )

    def phi1(x):
        return (1 - mpmath.exp(-x)) / x if x != 0 else mpmath.mpf(1)

    rng = np.random.default_rng(18)
    with mpmath.workdps(60):
        for _ in range(300):
            t = 10 ** rng.uniform(-3, 3)
            base = 10 ** rng.uniform(-8, 2) if rng.uniform() < 0.9 else 0.0
            gap = 10 ** rng.uniform(-16, 1) * base if rng.uniform() < 0.8 else rng.uniform(0, 3)
            lam = np.array([base, base + gap])
            if lam[1] == lam[0]:
                continue
            a, b, T = mpmath.mpf(lam[1]), mpmath.mpf(lam[0]), mpmath.mpf(t)
            first = (mpmath.exp(-b * T) - mpmath.exp(-a * T)) / (a - b)
            second = T * (phi1(b * T) - mpmath.exp(-b * T) * phi1((a - b) * T)) / a
            if first < 1e-290:
                continue
            tolerance = 1e-15 * (4 + float(a * T))  # exp(-lambda t) is conditioned like lambda t
            assert _first_divided_difference(lam, t)[0, 1] == pytest.approx(
                float(first), rel=tolerance
            )
            assert _second_divided_difference(lam, t)[0, 1] == pytest.approx(
                float(second), rel=tolerance
            )


def test_interpolation_makes_the_training_fluctuation_vanish_but_not_the_test_one():
    objective, test, c, W = _problem(10, n=3, p=12)
    times = np.array([0.0, 1e2, 1e4, 1e6])
    solution = random_features_dynamics(objective, c, times, weights=W, test=test)
    assert solution.kernel_eigenvalues[0] > 0
    assert solution.fluctuation[-1] < 1e-12 * solution.fluctuation[0]
    assert solution.loss[-1] < 1e-20
    assert solution.test_fluctuation[-1] > 1e-3 * solution.test_fluctuation[0]
    assert np.all(np.isfinite(solution.test_fluctuation))


@given(seed=st.integers(0, 10**6), n=st.integers(1, 4), p=st.integers(1, 7))
def test_random_features_invariants(seed, n, p):
    """Derived: fluctuation >= 0, V_t >= 0, V_t <= max ||phi_i||^2 int c_t^2, the loss is
    non-increasing, and with f_0 = y on the data (r_0 = 0) the fluctuation is non-increasing."""
    rng = np.random.default_rng(seed)
    data, centres = rng.normal(size=n), rng.normal(size=p)
    c = rng.normal(size=p)
    w = rng.dirichlet(np.ones(p))
    unit = lambda x, z: np.cos(2 * x * z) + 0.5 * z  # noqa: E731
    objective = mean_field_objective(unit, data, rng.normal(size=n), centres)
    times = np.linspace(0, 10, 41)
    solution = random_features_dynamics(objective, c, times, weights=w)
    assert np.all(solution.fluctuation >= 0)
    assert np.all(solution.resampling_bound >= 0)
    largest = np.max(np.diag(objective.interaction))
    assert np.all(solution.resampling_bound <= largest * solution.two_norm_squared * (1 + 1e-12))
    assert np.all(np.diff(solution.loss) <= 1e-12 * solution.loss[0] + 1e-300)
    interpolated = mean_field_objective(unit, data, mean_field_prediction(objective, c, w), centres)
    fluctuation = random_features_fluctuation(interpolated, c, times, weights=w)
    assert np.all(np.diff(fluctuation) <= 1e-12 * fluctuation[0] + 1e-300)


def test_random_features_arguments_are_validated():
    objective, test, c, W = _problem(11)
    with pytest.raises(ValueError, match="times"):
        random_features_dynamics(objective, c, [-1.0], weights=W)
    with pytest.raises(ValueError, match="times"):
        random_features_dynamics(objective, c, [np.inf], weights=W)
    with pytest.raises(ValueError, match="test"):
        random_features_dynamics(objective, c, [1.0], weights=W, test=mean_field_objective(
            _tanh_unit, np.zeros((1, 2)), [0.0], np.zeros((2, 2))))
    zero_weight = mean_field_objective(
        _tanh_unit, np.zeros((2, 2)), [0.0, 1.0], np.zeros((3, 2)), data_weights=[1.0, 0.0]
    )
    with pytest.raises(ValueError, match="data_weights > 0"):
        random_features_dynamics(zero_weight, np.ones(3), [1.0])


# --------------------------------------------------------------------------------------------
# §9.1: the Gaussian-unit model


def _normal(u, mean, variance):
    return math.exp(-((u - mean) ** 2) / (2 * variance)) / math.sqrt(2 * math.pi * variance)


def _quad(f, lower=-np.inf, upper=np.inf):
    return si.quad(f, lower, upper, epsabs=1e-13, epsrel=1e-11, limit=200)[0]


def test_gaussian_unit_model_reference_constants_are_exact():
    model = gaussian_unit_model()
    assert isinstance(model, GaussianUnitModel)
    assert sp.simplify(model.initial_resampling_bound - 1 / sp.sqrt(2 * sp.pi)) == 0
    assert sp.simplify(model.self_interaction - 1 / sp.sqrt(2 * sp.pi)) == 0
    assert model.initial_mean == 0
    assert model.unit_variance == sp.Rational(1, 2)
    # the evaluators agree with the sympy expressions
    x, y, y2 = sp.symbols("x y y2", real=True)
    for name, expr, args in (
        ("target", model.target, (0.7,)),
        ("correlation", model.correlation, (-0.4,)),
        ("interaction", model.interaction, (0.3, -1.2)),
    ):
        symbols = [s for s in (x, y, y2) if s in expr.free_symbols]
        value = float(expr.subs(dict(zip(symbols, args))))
        assert float(model.evaluators[name](*args)) == pytest.approx(value, rel=1e-14)


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {
            "unit_variance": 0.3,
            "teacher_output_weights": (2, 1.5),
            "teacher_centres": (-1, 0.5),
            "teacher_variances": (0.2, 0.7),
            "centre_interval": (-1, 3),
            "output_mean": 0.5,
            "output_variance": 2,
        },
    ],
)
def test_gaussian_unit_model_closed_forms_match_quadrature(parameters):
    model = gaussian_unit_model(**parameters)
    ev = model.evaluators
    s2 = float(model.unit_variance)
    a0, b0 = (float(v) for v in model.centre_interval)
    c_mean, c_var = float(model.output_mean), float(model.output_variance)
    for y in (-1.3, 0.0, 2.1):
        assert float(ev["correlation"](y)) == pytest.approx(
            _quad(lambda x: float(ev["target"](x)) * _normal(x, y, s2)), rel=1e-9, abs=1e-13
        )
        for y2 in (-0.5, 1.7):
            assert float(ev["interaction"](y, y2)) == pytest.approx(
                _quad(lambda x: _normal(x, y, s2) * _normal(x, y2, s2)), rel=1e-9
            )
    assert float(model.target_energy) == pytest.approx(
        0.5 * _quad(lambda x: float(ev["target"](x)) ** 2), rel=1e-9
    )
    for x in (-2.5, 0.2, 1.9):
        assert float(ev["initial_mean"](x)) == pytest.approx(
            c_mean * _quad(lambda y: _normal(x, y, s2), a0, b0) / (b0 - a0), abs=1e-12
        )
        for x2 in (-0.7, 2.4):
            second = (c_mean**2 + c_var) * _quad(
                lambda y: _normal(x, y, s2) * _normal(x2, y, s2), a0, b0
            ) / (b0 - a0)
            expected = second - float(ev["initial_mean"](x)) * float(ev["initial_mean"](x2))
            assert float(ev["initial_covariance"](x, x2)) == pytest.approx(expected, abs=1e-12)
    # V_0 = int C_0(x, x) dx, by quadrature of the closed-form covariance and from the definition
    trace = _quad(lambda x: float(ev["initial_covariance"](x, x)))
    assert float(model.initial_resampling_bound) == pytest.approx(trace, rel=1e-9)
    # ... and from the definition V_0 = E[c^2] K_y(y, y) - c_mean^2 E_{y,y'} K_y(y, y')
    pair_mean = si.dblquad(
        lambda y, y2: _normal(y, y2, 2 * s2), a0, b0, a0, b0, epsabs=1e-14, epsrel=1e-12
    )[0] / (b0 - a0) ** 2
    direct = (c_mean**2 + c_var) / math.sqrt(4 * math.pi * s2) - c_mean**2 * pair_mean
    assert float(model.initial_resampling_bound) == pytest.approx(direct, rel=1e-11)


def test_gaussian_unit_model_loss_potential_and_bounds_on_particles():
    model = gaussian_unit_model()
    rng = np.random.default_rng(12)
    c, y = rng.normal(size=6), rng.uniform(-2, 2, size=6)
    w = rng.dirichlet(np.ones(6))
    f = lambda x: float(model.prediction(x, c, y, w))  # noqa: E731
    f_star = lambda x: float(model.evaluators["target"](x))  # noqa: E731
    loss = model.population_loss(c, y, w)
    assert loss == pytest.approx(0.5 * _quad(lambda x: (f(x) - f_star(x)) ** 2), rel=1e-9)
    V = model.resampling_bound(c, y, w)
    expected = sum(
        w[i] * _quad(lambda x: (c[i] * _normal(x, y[i], 0.5) - f(x)) ** 2) for i in range(6)
    )
    assert V == pytest.approx(expected, rel=1e-9)
    assert 0 <= V <= model.two_norm_bound(c, y, w)
    assert model.two_norm_bound(c, y, w) == pytest.approx(np.sum(w * c**2) / math.sqrt(2 * math.pi))
    # V(theta_i; mu) = dL/dw_i; (dV/dc, dV/dy) from finite differences of the potential
    potential = model.potential(c, y, w)
    grad_c, grad_y = model.potential_gradient(c, y, w)
    np.testing.assert_allclose(potential, c * grad_c, rtol=1e-12)
    h = 1e-6
    for i in range(6):
        def V_at(ci, yi):
            cc, yy = np.append(c, ci), np.append(y, yi)
            ww = np.append(w, 0.0)
            return model.potential(cc, yy, ww)[-1]

        assert grad_c[i] == pytest.approx(
            (V_at(c[i] + h, y[i]) - V_at(c[i] - h, y[i])) / (2 * h), rel=1e-7
        )
        assert grad_y[i] == pytest.approx(
            (V_at(c[i], y[i] + h) - V_at(c[i], y[i] - h)) / (2 * h), rel=1e-6, abs=1e-9
        )


def test_gaussian_unit_model_initial_fluctuation_matches_monte_carlo():
    """m E||f^(m)_0||^2 = V_0 = 1/sqrt(2 pi) at every width m (f_0 = 0), exact in expectation;
    ||f^(m)||^2 is computed exactly from K_y."""
    model = gaussian_unit_model()
    rng = np.random.default_rng(13)
    m, repeats = 16, 4000
    c = rng.normal(size=(repeats, m))
    y = rng.uniform(-2, 2, size=(repeats, m))
    K = model.evaluators["interaction"](y[:, :, None], y[:, None, :])
    samples = np.einsum("ri,rij,rj->r", c, K, c) / m
    error = samples.std(ddof=1) / np.sqrt(repeats)
    assert abs(samples.mean() - 1 / math.sqrt(2 * math.pi)) < 4 * error


@given(seed=st.integers(0, 10**6), p=st.integers(1, 10), spread=st.floats(1e-6, 10.0))
def test_gaussian_unit_model_resampling_bound_is_nonnegative_and_bounded(seed, p, spread):
    model = gaussian_unit_model()
    rng = np.random.default_rng(seed)
    c, y = rng.normal(size=p), spread * rng.normal(size=p)
    w = rng.dirichlet(np.ones(p))
    V = model.resampling_bound(c, y, w)
    bound = model.two_norm_bound(c, y, w)
    assert 0 <= V <= bound * (1 + 1e-12)
    K = model.evaluators["interaction"](y[:, None], y[None, :])
    assert V == pytest.approx(bound - (w * c) @ K @ (w * c), abs=1e-12 * bound)


def test_gaussian_unit_model_arguments_are_validated():
    with pytest.raises(ValueError, match="unit_variance"):
        gaussian_unit_model(unit_variance=0)
    with pytest.raises(ValueError, match="equal lengths"):
        gaussian_unit_model(teacher_centres=(0, 1))
    with pytest.raises(ValueError, match="centre_interval"):
        gaussian_unit_model(centre_interval=(2, -2))
    with pytest.raises(ValueError, match="output_variance"):
        gaussian_unit_model(output_variance=-1)
    with pytest.raises(ValueError, match="teacher_variances"):
        gaussian_unit_model(teacher_variances=(1, float("nan"), 1))
    with pytest.raises(ValueError, match="weights"):
        gaussian_unit_model().population_loss([1.0, 2.0], [0.0, 1.0], [0.9, 0.9])
    with pytest.raises(ValueError, match="centres"):
        gaussian_unit_model().resampling_bound([1.0, 2.0], [0.0])


# --------------------------------------------------------------------------------------------
# §9.3: ramp units on an isotropic Gaussian mixture

RAMP = {"levels": (-2.5, 7.5), "knots": (0.5, 1.5)}


def _ramp(t, s1=-2.5, s2=7.5, t1=0.5, t2=1.5):
    return np.clip(s1 + (s2 - s1) * (t - t1) / (t2 - t1), min(s1, s2), max(s1, s2))


@pytest.mark.parametrize("scale", [0, sp.Rational(1, 3), 1, 4])
def test_ramp_gaussian_mean_matches_quadrature(scale):
    value = ramp_gaussian_mean(scale, **RAMP)
    with mpmath.workdps(30):
        a = mpmath.mpf(float(scale))
        expected = mpmath.quad(
            lambda g: float(_ramp(float(a * g))) * mpmath.npdf(g),
            [-mpmath.inf, 0.5 / a if a else -1, 1.5 / a if a else 1, mpmath.inf],
        )
    assert float(value) == pytest.approx(float(expected), rel=1e-12, abs=1e-14)
    r = sp.Symbol("r", positive=True)
    symbolic = ramp_gaussian_mean(r, **RAMP)
    if scale != 0:
        assert float(symbolic.subs(r, scale)) == pytest.approx(float(value), rel=1e-14)


def test_isotropic_mixture_potential_and_interaction_match_monte_carlo():
    rng = np.random.default_rng(14)
    delta, samples = 0.6, 200000
    r, r2 = np.array(0.8), np.array(1.7)
    labels = rng.choice([-1.0, 1.0], size=samples)
    scale = 1 + labels * delta
    # v(r): <w, x> | y ~ N(0, (1 + y delta)^2 r^2) in every dimension (here d = 3)
    x = rng.normal(size=(samples, 3)) * scale[:, None]
    values = -labels * _ramp(r * x[:, 0])
    error = values.std(ddof=1) / np.sqrt(samples)
    assert abs(values.mean() - float(isotropic_mixture_potential(r, delta, **RAMP))) < 4 * error
    # u(r, r') at d = 10^4: the overlap u of two directions has E u^2 = 1/d, so the O(1/d)
    # difference from the d -> infinity formula is far below the standard error.
    d = 10**4
    u = 2 * rng.beta((d - 1) / 2, (d - 1) / 2, size=samples) - 1
    g1, g2 = rng.normal(size=(2, samples))
    pre1 = scale * r * g1
    pre2 = scale * r2 * (u * g1 + np.sqrt(1 - u**2) * g2)
    products = _ramp(pre1) * _ramp(pre2)
    error = products.std(ddof=1) / np.sqrt(samples)
    expected = float(isotropic_mixture_interaction(r, r2, delta, **RAMP))
    assert abs(products.mean() - expected) < 4 * error
    np.testing.assert_allclose(
        isotropic_mixture_potential([0.0, 1.0], delta, **RAMP)[0], 0.0, atol=1e-15
    )


def test_ramp_arguments_are_validated():
    with pytest.raises(ValueError, match="knots"):
        ramp_gaussian_mean(1, levels=(0, 1), knots=(1, 0))
    with pytest.raises(ValueError, match="scale"):
        ramp_gaussian_mean(-1, **RAMP)
    with pytest.raises(ValueError, match="delta"):
        isotropic_mixture_potential(1.0, 1.0, **RAMP)
    with pytest.raises(ValueError, match="radius"):
        isotropic_mixture_potential(-1.0, 0.5, **RAMP)
    with pytest.raises(ValueError, match="levels"):
        isotropic_mixture_interaction(1.0, 1.0, 0.5, levels=(1,), knots=(0, 1))


# --------------------------------------------------------------------------------------------
# §9.4: ReLU teacher-student with Gaussian inputs


def test_relu_kernel_and_gradient_match_monte_carlo_and_finite_differences():
    rng = np.random.default_rng(15)
    d, samples = 4, 400000
    z, z2 = rng.normal(size=d), rng.normal(size=d)
    x = rng.normal(size=(samples, d))
    relu_z, relu_z2 = np.maximum(x @ z, 0), np.maximum(x @ z2, 0)
    products = relu_z * relu_z2
    error = products.std(ddof=1) / np.sqrt(samples)
    assert abs(products.mean() - float(relu_gaussian_kernel(z, z2))) < 4 * error
    assert float(relu_gaussian_kernel(z, z)) == pytest.approx(z @ z / 2, rel=1e-14)
    gradient = relu_gaussian_kernel_gradient(z, z2)
    terms = (x @ z > 0)[:, None] * x * relu_z2[:, None]
    errors = terms.std(axis=0, ddof=1) / np.sqrt(samples)
    assert np.all(np.abs(terms.mean(axis=0) - gradient) < 4 * errors)
    h = 1e-6
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        difference = (relu_gaussian_kernel(z + e, z2) - relu_gaussian_kernel(z - e, z2)) / (2 * h)
        assert gradient[k] == pytest.approx(float(difference), rel=1e-7)
    assert float(relu_gaussian_kernel(np.zeros(d), z2)) == 0.0
    with pytest.raises(ValueError, match="non-zero"):
        relu_gaussian_kernel_gradient(np.zeros(d), z2)


def test_reduced_kernel_terms_are_projections_of_the_full_gradient():
    rng = np.random.default_rng(16)
    d = 6
    e = np.eye(d)[0]
    for _ in range(5):
        a, a2, u = rng.normal(), rng.normal(), rng.uniform(-1, 1)
        b, b2 = rng.uniform(0.1, 2), rng.uniform(0, 2)
        v = np.eye(d)[1]
        v2 = u * v + np.sqrt(1 - u**2) * np.eye(d)[2]
        z, z2 = a * e + b * v, a2 * e + b2 * v2
        kappa, kappa_e, kappa_v = reduced_relu_kernel(a, b, a2, b2, u)
        gradient = relu_gaussian_kernel_gradient(z, z2)
        assert float(kappa) == pytest.approx(float(relu_gaussian_kernel(z, z2)), rel=1e-13)
        assert float(kappa_e) == pytest.approx(gradient @ e, rel=1e-12, abs=1e-15)
        assert float(kappa_v) == pytest.approx(gradient @ v, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("d", [3, 4, 7, 30])
def test_overlap_density_and_quadrature(d):
    total = si.quad(lambda u: float(reduced_overlap_density(u, d)), -1, 1)[0]
    assert total == pytest.approx(1.0, rel=1e-8)
    nodes, weights = reduced_overlap_quadrature(d, 12)
    assert weights.sum() == pytest.approx(1.0, rel=1e-14)
    # moments of the inner product of two uniform directions in R^(d-1): E u^2 = 1/(d-1),
    # E u^4 = 3/((d-1)(d+1))
    assert weights @ nodes**2 == pytest.approx(1 / (d - 1), rel=1e-12)
    assert weights @ nodes**4 == pytest.approx(3 / ((d - 1) * (d + 1)), rel=1e-12)
    rng = np.random.default_rng(d)
    v = rng.normal(size=(20000, 2, d - 1))
    v /= np.linalg.norm(v, axis=2, keepdims=True)
    u = np.sum(v[:, 0] * v[:, 1], axis=1)
    error = (u**2).std(ddof=1) / np.sqrt(u.size)
    assert abs((u**2).mean() - 1 / (d - 1)) < 4 * error


def test_reduced_teacher_student_matches_the_full_dimensional_model():
    """Rings (c, a, b) sampled as R random rotations each in d = 5; the full-dimensional
    loss, V and the projected velocities agree with the reduced ones within Monte Carlo error
    (the full model uses the arc-cosine kernel, the reduced one Gauss-Jacobi in u)."""
    rng = np.random.default_rng(17)
    d, R = 5, 4000
    c = np.array([0.8, -0.4, 1.1])
    a = np.array([0.3, -0.5, 0.9])
    b = np.array([0.6, 1.2, 0.2])
    w = np.array([0.5, 0.2, 0.3])
    teacher_c, teacher_norm = 1.5, 1.3
    state = reduced_relu_teacher_student(
        c, a, b, w, teacher_output=teacher_c, teacher_norm=teacher_norm, dimension=d
    )
    assert isinstance(state, ReducedReluState)
    e = np.eye(d)[0]
    directions = rng.normal(size=(3, R, d - 1))
    directions /= np.linalg.norm(directions, axis=2, keepdims=True)
    rings = a[:, None, None] * e + b[:, None, None] * np.concatenate(
        [np.zeros((3, R, 1)), directions], axis=2
    )  # (3, R, d)
    z_star = teacher_norm * e
    for i in range(3):
        z = rings[i, 0]  # a representative of ring i; its in-ring direction is v
        v = (z - a[i] * e) / b[i]
        per_sample_c = teacher_c * relu_gaussian_kernel(z, z_star) - np.sum(
            w[:, None] * c[:, None] * relu_gaussian_kernel(z, rings), axis=0
        )
        grads = relu_gaussian_kernel_gradient(np.broadcast_to(z, rings.shape), rings)
        star = relu_gaussian_kernel_gradient(z, z_star)
        per_sample_z = c[i] * (
            teacher_c * star - np.sum(w[:, None, None] * c[:, None, None] * grads, axis=0)
        )
        for samples, expected in (
            (per_sample_c, state.output_velocity[i]),
            (per_sample_z @ e, state.parallel_velocity[i]),
            (per_sample_z @ v, state.orthogonal_velocity[i]),
        ):
            error = samples.std(ddof=1) / np.sqrt(R)
            assert abs(samples.mean() - expected) < 4 * error + 1e-12
    # loss and V: the double integral over pairs of rings, sampled with independent rotations
    other = rings[:, rng.permutation(R)]
    pair = relu_gaussian_kernel(rings[:, None], other[None, :])  # (3, 3, R)
    network = np.einsum("i,j,ijr->r", w * c, w * c, pair)
    teacher_term = (w * c) @ relu_gaussian_kernel(rings, z_star)  # (R,)
    norm_term = np.sum(w * c**2 * (a**2 + b**2)) / 2
    loss_samples = 0.25 * teacher_c**2 * teacher_norm**2 - teacher_c * teacher_term + 0.5 * network
    error = loss_samples.std(ddof=1) / np.sqrt(R)
    assert abs(loss_samples.mean() - state.loss) < 4 * error
    error = network.std(ddof=1) / np.sqrt(R)
    assert abs((norm_term - network).mean() - state.resampling_bound) < 4 * error
    assert 0 <= state.resampling_bound <= state.two_norm_bound
    assert state.two_norm_bound == pytest.approx(norm_term, rel=1e-14)
    with pytest.raises(ValueError, match="dimension"):
        reduced_relu_teacher_student(c, a, b, w, teacher_output=1, teacher_norm=1, dimension=2)
    with pytest.raises(ValueError, match="teacher_norm"):
        reduced_relu_teacher_student(c, a, b, w, teacher_output=1, teacher_norm=0, dimension=5)
