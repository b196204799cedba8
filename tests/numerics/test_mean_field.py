"""Mean-field two-layer networks: the flow, finite-width ensembles and linear response.

The models, times and particle counts are shared between tests so that the compiled solvers
are reused (compilation dominates the run time of this file).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from limitlab.numerics import (
    MEAN_FIELD_MODELS,
    DataMeasure,
    MeanFieldModel,
    Particles,
    finite_width_ensemble,
    finite_width_run,
    float64,
    fluctuation_summary,
    gaussian_units_model,
    initial_particles,
    linear_response_fluctuation,
    mean_field_flow,
    mean_field_model,
    reference_particles,
    relu_teacher_student_model,
)
from limitlab.numerics._mean_field import _deviation, _tangent_norm2, _velocity
from limitlab.numerics._mean_field_models import _arc_cosine_kernel

TIMES = np.array([0.0, 1.0, 2.0])
V0 = 1 / np.sqrt(2 * np.pi)  # E||g_0||^2 of the 1-D model at s^2 = 1/2 (§9.1, exact)
QUADRATURE = (16, 6)  # P = 96 particles


@pytest.fixture(scope="module")
def model():
    return gaussian_units_model()


@pytest.fixture(scope="module")
def reference(model):
    with float64():
        particles = reference_particles(model, QUADRATURE)
    return particles, mean_field_flow(model, particles, TIMES)


@pytest.fixture(scope="module")
def exact_response(model, reference):
    return linear_response_fluctuation(model, reference[0], TIMES, method="exact", batch=48)


# --------------------------------------------------------------------------------------------
# the mean-field flow


def test_flow_grid_and_closed_form_agree_and_converge_in_the_quadrature(model, reference):
    # Trapezoid grid for Lebesgue measure vs the closed-form kernels of §9.1: the same ODE to
    # round-off.  Refining the quadrature of mu_0 converges (loss at t = 2, P = 96 -> 256).
    particles, flow = reference
    closed = mean_field_flow(gaussian_units_model(closed_form=True), particles, TIMES)
    for name in ("c", "z", "loss_train", "resampling_train", "norm2"):
        np.testing.assert_allclose(closed[name], flow[name], rtol=1e-9, atol=1e-11)
    # Particles of weight 0 are inert, so the coarse rule is padded to the size of the fine
    # one (one compilation for both).
    with float64():
        coarse = reference_particles(model, (8, 4))
        fine = reference_particles(model, (32, 8))
    pad = fine.c.shape[0] - coarse.c.shape[0]
    padded = Particles(*(np.concatenate([a, np.ones((pad, *a.shape[1:]))]) for a in coarse[:2]),
                       np.concatenate([coarse.w, np.zeros(pad)]))
    losses = [mean_field_flow(model, p, TIMES)["loss_train"] for p in (padded, particles, fine)]
    errors = [abs(loss[-1] - losses[-1][-1]) for loss in losses[:2]]
    assert errors[1] < 0.02 * errors[0], errors
    assert losses[0][0] == pytest.approx(losses[2][0], rel=1e-12)  # f_0 = 0 for every rule
    # §9.1: f_0 = 0 and V_0 = 1/sqrt(2 pi); the loss decreases along the flow.
    np.testing.assert_allclose(flow["f_train"][0], 0.0, atol=1e-15)
    assert flow["resampling_train"][0] == pytest.approx(V0, rel=1e-12)
    assert np.all(np.diff(flow["loss_train"]) < 0)


def test_random_features_flow_matches_matrix_exponential():
    # Only c trained (z frozen): c' = -(Phi N Phi^T W + lambda) c + Phi N y, a linear ODE
    # (§9.2), solved exactly with scipy's expm.
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-2, 2, 5), rng.standard_normal(5)
    nu = rng.uniform(0.1, 1.0, 5)
    measure = DataMeasure(x, y, nu)
    rf = MeanFieldModel(
        name="random_features", unit=lambda xj, z: jnp.tanh(z[0] * xj + z[1]), train=measure,
        test=measure, sample=lambda key, m: (jnp.zeros(m), jnp.zeros((m, 2))), z_dim=2,
    )
    p = Particles(rng.standard_normal(6), rng.standard_normal((6, 2)), rng.uniform(0.1, 1, 6))
    lam = 0.3
    out = mean_field_flow(rf, p, TIMES, regularisation=lam, train_features=False)
    phi = np.tanh(p.z[:, :1] * x[None, :] + p.z[:, 1:])
    a = -(phi * nu) @ phi.T * p.w[None, :] - lam * np.eye(6)
    b = (phi * nu) @ y
    aug = np.zeros((7, 7))
    aug[:6, :6], aug[:6, 6] = a, b
    for t, c_t in zip(TIMES, out["c"]):
        expected = (scipy.linalg.expm(aug * t) @ np.append(p.c, 1.0))[:6]
        np.testing.assert_allclose(c_t, expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(out["z"][-1], p.z)
    np.testing.assert_allclose(out["objective"], out["loss_train"] + lam / 2 * out["norm2"])


def test_regularisation_shrinks_the_two_norm_and_the_resampling_bound(model, reference):
    # Acceptance test (f) of §10.5: the penalty lambda/2 int c^2 keeps ||mu_t||_2 and V_t
    # below their lambda = 0 values.
    particles, flow = reference
    penalised = mean_field_flow(model, particles, TIMES, regularisation=0.5)
    assert np.all(penalised["norm2"][1:] < flow["norm2"][1:])
    assert np.all(penalised["resampling_train"][1:] < flow["resampling_train"][1:])


# --------------------------------------------------------------------------------------------
# fluctuations


def test_linear_response_at_time_zero_is_the_initial_clt_variance(reference, exact_response):
    # At t = 0, E||g_0||^2 = Var_mu0 = V_0 (§4.3): exact for the quadrature, for every rule.
    _, flow = reference
    assert exact_response["train"][0] == pytest.approx(flow["resampling_train"][0], rel=1e-10)
    assert exact_response["train"][0] == pytest.approx(V0, rel=1e-10)
    np.testing.assert_array_equal(exact_response["train_se"], 0.0)
    # The fluctuation decays along this flow and stays below the resampling variance V_t
    # (the soft check (d) of §10.5).
    assert np.all(np.diff(exact_response["train"]) < 0)
    assert np.all(exact_response["train"][1:] < flow["resampling_train"][1:])


def test_gaussian_directions_agree_with_the_exact_covariance(model, reference, exact_response):
    gaussian = linear_response_fluctuation(model, reference[0], TIMES, directions=96, batch=48,
                                           key=jax.random.key(3))
    assert gaussian["samples_train"].shape == (96, 3)
    z = (gaussian["train"] - exact_response["train"]) / gaussian["train_se"]
    assert np.all(np.abs(z) < 4), z


def test_brute_force_ensemble_matches_linear_response(model, reference, exact_response):
    # Acceptance tests (a) and (c) of §10.5: at t = 0, m E||f_m - f_0||^2 = V_0 for every m;
    # later, m E||f_m - f_t||^2 agrees with the linear-response prediction within standard
    # errors (plus 5% for the O(1/m) corrections at m = 64).
    _, flow = reference
    out = finite_width_ensemble(model, [64], TIMES, n_seeds=300, seed=11, reference=flow)[64]
    assert int(out["n_seeds"]) == 300
    for name in ("train", "test"):
        gap = np.abs(out[name] - exact_response[name])
        assert np.all(gap < 4 * out[f"{name}_se"] + 0.05 * exact_response[name]), (
            name, out[name], out[f"{name}_se"], exact_response[name])
    assert abs(out["train"][0] - V0) < 4 * out["train_se"][0]
    # The loss gap at t = 0 is half the fluctuation in expectation (b_0 = 0, §4.2).
    assert abs(out["loss_gap_train"][0] - out["train"][0] / 2) < 4 * out["loss_gap_train_se"][0]


def test_finite_width_run_is_reproducible_and_summarised(model, reference):
    _, flow = reference
    with float64():
        run = [finite_width_run(model, 16, TIMES, key=jax.random.key(k), reference=flow,
                                values=True) for k in (1, 1, 2)]
    np.testing.assert_array_equal(run[0]["f_train"], run[1]["f_train"])
    assert not np.array_equal(run[0]["f_train"], run[2]["f_train"])
    assert bool(run[0]["ok"]) and float(run[0]["reached"]) == TIMES[-1]
    # Deviation against the reference = the grid norm of f_m - f.
    nu = model.train.weights
    direct = np.sum(nu * (np.asarray(run[0]["f_train"]) - np.asarray(flow["f_train"])) ** 2,
                    axis=1)
    np.testing.assert_allclose(run[0]["deviation_train"], direct, rtol=1e-10, atol=1e-14)
    stacked = {k: np.stack([np.asarray(r[k]) for r in run]) for k in run[0]}
    with_ref = fluctuation_summary(stacked, 16, reference=flow)
    np.testing.assert_allclose(with_ref["train"], 16 * stacked["deviation_train"].mean(0))
    seed_mean = fluctuation_summary({k: v for k, v in stacked.items()
                                     if not k.startswith("deviation")}, 16, model=model)
    assert seed_mean["train"].shape == (3,) and np.all(seed_mean["train"] >= 0)


# --------------------------------------------------------------------------------------------
# ReLU teacher-student (kernel form)


def test_arc_cosine_kernel_matches_monte_carlo_for_gaussian_and_spherical_inputs():
    # Sphere of radius sqrt(d) and Gaussian inputs share the kernel (ReLU is positively
    # homogeneous); the gradient is the formula of §9.4; the diagonal is |z|^2 / 2.
    with float64():
        z = jax.random.normal(jax.random.key(0), (2, 5))
        exact = float(_arc_cosine_kernel(z[0], z[1]))
        for inputs in ("gaussian", "sphere"):
            m = relu_teacher_student_model(5, inputs=inputs, n_train=20_000,
                                           key=jax.random.key(1))
            prod = jax.nn.relu(m.train.x @ z[0]) * jax.nn.relu(m.train.x @ z[1])
            se = float(jnp.std(prod)) / np.sqrt(prod.shape[0])
            assert abs(float(jnp.mean(prod)) - exact) < 4 * se
        a, b = z
        cos = a @ b / jnp.linalg.norm(a) / jnp.linalg.norm(b)
        alpha = jnp.arccos(cos)
        grad = ((jnp.pi - alpha) * b + jnp.linalg.norm(b) * jnp.sin(alpha) * a
                / jnp.linalg.norm(a)) / (2 * jnp.pi)
        np.testing.assert_allclose(jax.grad(_arc_cosine_kernel)(a, b), grad, atol=1e-14)
        assert float(_arc_cosine_kernel(a, a)) == pytest.approx(float(a @ a) / 2, rel=1e-14)
        np.testing.assert_allclose(jax.grad(_arc_cosine_kernel)(a, a), a / 2, atol=1e-14)


def test_relu_kernel_form_tangent_norm_and_velocity():
    # The linear-response norm of the kernel form (with its exact self-interaction term) is
    # the limit of finite differences, and the population velocity is the large-sample limit
    # of the data-measure velocity.
    population = relu_teacher_student_model(4)
    sampled = relu_teacher_student_model(4, n_train=20_000, key=jax.random.key(5))
    tangent = jax.jit(lambda p, dp: _tangent_norm2(population.train, population.unit, p, dp))
    deviation = jax.jit(lambda p, q: _deviation(population.train, population.unit, p, q))
    velocity = eqx.filter_jit(lambda m, p: _velocity(m.train, m.unit, p.c, p.z, p.w, 0.0, True))
    with float64():
        p = initial_particles(population, 6, key=jax.random.key(3))
        dp = Particles(*(jax.random.normal(jax.random.key(i), a.shape) for i, a in enumerate(p)))
        exact = float(tangent(p, dp))
        eps = 1e-5
        plus = Particles(*(u + eps * v for u, v in zip(p, dp, strict=True)))
        minus = Particles(*(u - eps * v for u, v in zip(p, dp, strict=True)))
        fd = float(deviation(plus, minus)) / (4 * eps**2)
        assert fd == pytest.approx(exact, rel=1e-6)
        for a, b in zip(velocity(population, p), velocity(sampled, p), strict=True):
            np.testing.assert_allclose(a, b, atol=0.05)


# --------------------------------------------------------------------------------------------
# bad input


def test_bad_input_is_rejected_with_one_clear_error(model, reference):
    particles, flow = reference
    with pytest.raises(ValueError, match="width must be an integer >= 1, got 0"):
        finite_width_ensemble(model, [32, 0], TIMES, n_seeds=10, seed=0, reference=flow)
    with pytest.raises(ValueError, match="n_seeds must be an integer >= 2"):
        finite_width_ensemble(model, [32], TIMES, n_seeds=1, seed=0, reference=flow)
    with pytest.raises(ValueError, match=r"times must be finite and >= 0, got \[-1.0\]"):
        mean_field_flow(model, particles, [-1.0, 1.0])
    with pytest.raises(ValueError, match="regularisation must be a finite real number >= 0"):
        mean_field_flow(model, particles, TIMES, regularisation=-0.1)
    with pytest.raises(ValueError, match="model must be one of"):
        mean_field_model("gaussian_2d")
    assert set(MEAN_FIELD_MODELS) == {"gaussian_1d", "gaussian_1d_interpolation",
                                      "relu_teacher_student"}
    with pytest.raises(ValueError, match="directions must be an integer >= 2"):
        linear_response_fluctuation(model, particles, TIMES, directions=1, key=jax.random.key(0))
    with pytest.raises(ValueError, match="reference was computed at times"):
        finite_width_ensemble(model, [8], [0.0, 1.0], n_seeds=4, seed=0, reference=flow)
    with pytest.raises(ValueError, match="give a fixed step dt"):
        mean_field_flow(model, particles, TIMES, solver="rk4")


def test_non_finite_values_stop_the_run_naming_the_step():
    # A unit that returns NaN once its parameter passes 1.05.  Euler steps of 0.1 move z from
    # 0 to 1.0 and then to about 1.9, where step 3 evaluates the unit: the run must stop there
    # and say so, not return NaN.
    measure = DataMeasure(np.array([1.0]), np.array([10.0]))
    bad = MeanFieldModel(
        name="nan_unit", unit=lambda x, z: jnp.where(z[0] < 1.05, x * z[0], jnp.nan),
        train=measure, test=measure, sample=lambda key, m: (jnp.ones(m), jnp.zeros((m, 1))),
        z_dim=1,
    )
    p = Particles(np.ones(1), np.full((1, 1), 0.0), np.ones(1))
    with pytest.raises(FloatingPointError, match=r"non-finite particle values at solver step 3 "
                       r"\(t = 0.3, dt = 0.1\)"):
        mean_field_flow(bad, p, [0.0, 2.0], solver="euler", dt=0.1)


def test_reference_particles_are_float64_outside_float64_context():
    """A reference built where JAX defaults to float32 is still float64 (quadrature weights
    then sum to 1 to round-off, as the linear-response estimator requires)."""
    from limitlab import numerics as nm

    model = nm.gaussian_units_model("population")
    assert not jax.config.jax_enable_x64
    for p in (nm.reference_particles(model, (8, 4)),
              nm.reference_particles(model, 16, key=jax.random.key(0))):
        assert all(np.asarray(a).dtype == np.float64 for a in p)
        assert abs(float(np.sum(p.w)) - 1.0) < 1e-14
