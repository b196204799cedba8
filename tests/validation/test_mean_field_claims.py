"""Pieces of the mean-field CLT claims that their quick sizes do not pin down."""

import jax
import numpy as np
import pytest
import sympy as sp

from limitlab import numerics
from limitlab.validation import get_claim
from limitlab.validation.claims import mean_field_clt as mf


def test_initial_bounds_are_exact():
    bounds = mf._initial_bounds()
    assert sp.simplify(bounds["gauss1d"] - 1 / sp.sqrt(2 * sp.pi)) == 0
    assert bounds["relu"] == sp.Rational(1, 2)


def test_relu_initial_bound_by_monte_carlo():
    """E[c^2 ReLU(<z, x>)^2] = 1/2 for |x|^2 = d, z ~ N(0, I/d), c ~ N(0, 1): an independent
    check of the value the claim predicts (not the claim's own code path)."""
    model, _ = mf._model("relu")
    x = np.asarray(model.train.x)
    np.testing.assert_allclose(np.sum(x * x, axis=1), x.shape[1], rtol=1e-12)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200_000, x.shape[1])) / np.sqrt(x.shape[1])
    c = rng.standard_normal(200_000)
    values = (c[:, None] ** 2 * np.maximum(z @ x[:4].T, 0.0) ** 2).mean(axis=1)
    assert abs(values.mean() - 0.5) < 4 * values.std() / np.sqrt(values.size)


@pytest.mark.parametrize("name", ["gauss1d", "relu"])
def test_initial_fluctuation_of_one_unit(name):
    """Width 1: m ||f_1||^2 = c^2 sum_j nu_j phi(x_j; z)^2, computed here directly."""
    model, _ = mf._model(name)
    key = jax.random.key(3)
    with numerics.float64():
        got = float(jax.jit(mf._initial_fluctuation(model, 1))(key))
        p = numerics.initial_particles(model, 1, key=key)
        phi = np.array([float(model.unit(xj, p.z[0])) for xj in np.asarray(model.train.x)])
    expected = float(p.c[0]) ** 2 * np.sum(np.asarray(model.train.weights) * phi**2)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_regularisation_signs_and_series_match():
    claim = get_claim("mean-field-regularisation")
    params = claim.sizes["quick"].params
    prediction = claim.predict(params)
    labels = prediction.series
    for label, sign in zip(labels, prediction.y, strict=True):
        assert sign == (1.0 if label.startswith("loss") else -1.0)
    assert 0.0 not in set(prediction.x)  # nothing differs at t = 0


def test_interpolation_threshold_is_a_fraction_of_the_initial_bound():
    claim = get_claim("mean-field-interpolation")
    params = claim.sizes["quick"].params
    prediction = claim.predict(params)
    train = [i for i, s in enumerate(prediction.series) if s.startswith("train")]
    assert len(train) == len(params["widths"])
    assert np.all(prediction.x[train] == params["times"][-1])
    v0 = prediction.extra["bound_train"][0]
    np.testing.assert_allclose(prediction.y[train], params["fraction"] * v0)
    # The limit itself is far below the threshold at T (it interpolates) ...
    assert prediction.extra["response_train"][-1] < 0.5 * prediction.extra["threshold"]
    # ... and the training loss of the limit decays by orders of magnitude.
    assert prediction.extra["loss_train"][-1] < 1e-2 * prediction.extra["loss_train"][0]


def test_control_variate_means_are_exact_for_a_linear_dependence_and_width_major():
    # Two width blocks of T = 3 columns (t = 0 first).  When X_t = a_t + b_t (X_0 - V_0)
    # exactly, the estimate X_t-bar - beta-hat (X_0-bar - V_0) is a_t for any sample, however
    # far X_0-bar is from V_0; the plain mean is off by b_t (X_0-bar - V_0).
    rng = np.random.default_rng(3)
    v0, R = 0.4, 50
    blocks, expected = [], []
    for a, b in (((0.2, 0.1), (0.5, -1.5)), ((0.3, 0.05), (2.0, 0.7))):
        x0 = v0 + 0.3 + rng.normal(size=R)  # a deliberately unlucky start: mean ~ V_0 + 0.3
        blocks.append(np.column_stack([x0] + [ai + bi * (x0 - v0) for ai, bi in zip(a, b)]))
        expected += list(a)
    samples = np.concatenate(blocks, axis=1)
    estimate = mf._control_variate_means(3, v0)(samples)
    np.testing.assert_allclose(estimate, expected, rtol=0, atol=1e-12)
    plain = samples.reshape(R, 2, 3)[:, :, 1:].mean(axis=0).ravel()
    assert np.max(np.abs(plain - np.asarray(expected))) > 0.1


def test_collapse_points_match_the_statistic_layout():
    claim = get_claim("mean-field-clt-collapse")
    params = claim.sizes["quick"].params
    labels, x = mf._collapse_points(params)
    later = [t for t in params["times"] if t > 0]
    assert len(labels) == len(x) == len(params["widths"]) * len(later)
    # width-major, as `_control_variate_means` returns its values
    assert list(x[: len(later)]) == [params["widths"][0]] * len(later)
    assert labels[: len(later)] == [f"t={t:g}" for t in later]
    prediction = mf.predict_collapse(params)
    assert prediction.y.shape == x.shape and np.all(prediction.y > 0)
