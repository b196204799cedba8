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
