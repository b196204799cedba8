"""Pieces of the manifold-drift claims that the quick sizes do not pin down, and the finding
about Bernoulli DropConnect on the toy (docs: manifold-drift page)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from limitlab import numerics, theory
from limitlab.validation.claims import manifold_drift as md


def _closed_form(tau, c, x0=2.0):
    """x^2 - x^-2 = (x0^2 - x0^-2) exp(-2 c tau) (manifold-drift.md §9 toy 1)."""
    u = (x0**2 - x0**-2) * np.exp(-2 * c * np.asarray(tau))
    return np.sqrt((u + np.sqrt(u * u + 4)) / 2)


def test_toy_prediction_is_the_closed_form():
    taus = [0.5, 1.0, 2.0, 8.0]
    pred = md.predict_toy({"taus": taus})
    for kind, c in (("label", 0.5), ("perturbed", 1.0)):
        idx = np.asarray(pred.series) == kind
        np.testing.assert_allclose(pred.y[idx], _closed_form(taus, c), rtol=1e-9)


def test_time_scale_exponents_come_from_the_classification():
    assert md._time_scale_exponent(md._toy_derivation("label")) == -2
    assert md._time_scale_exponent(md._toy_derivation("perturbed")) == -1
    assert md._time_scale_exponent(md._diagonal_derivation(3, 6, 0, "dropconnect")) == -1


def test_crossing_interpolates_and_reports_no_crossing():
    steps = np.array([10, 20, 30])
    assert md._crossing(steps, np.array([3.0, 2.0, 1.0]), 1.5, True) == pytest.approx(25.0)
    assert md._crossing(steps, np.array([0.0, 0.4, 0.8]), 0.5, False) == pytest.approx(22.5)
    assert np.isnan(md._crossing(steps, np.array([3.0, 2.5, 2.0]), 1.5, True))
    assert np.isnan(md._crossing(steps, np.array([1.0, 0.5, 0.2]), 1.5, True))  # already below


def test_steps_must_be_whole():
    assert md._steps([0.5, 1.0], 0.25) == [2, 4]
    with pytest.raises(ValueError, match="whole numbers of steps"):
        md._steps([0.3], 0.25)


def test_end_points_of_the_diagonal_network_differ():
    X, y, _, _, start = md._diagonal(3, 6, 0)
    ends = md._end_points(X, y)
    np.testing.assert_allclose(X @ ends["label"], y, atol=1e-12)
    np.testing.assert_allclose(X @ ends["dropconnect"], y, atol=1e-12)
    assert np.count_nonzero(ends["label"]) <= 3 < np.count_nonzero(ends["dropconnect"])
    np.testing.assert_allclose(X @ (start[:6] * start[6:]), y, atol=1e-12)  # Phi(w0) on Gamma


@pytest.mark.parametrize("p", [0.1, 0.02])
def test_bernoulli_dropconnect_on_the_toy_stops_on_a_shifted_curve(p):
    """The slow-scale limit from the linearised covariance (Sigma = 2H) predicts motion
    towards (1, 1); Bernoulli masks instead bring every chain to xy = (1 - p)^2, where each mask
    gives a zero gradient (kept: the residual xy/(1-p)^2 - 1 vanishes; dropped: the gradient
    carries the factor 0), and the chains stop there."""
    derivation = theory.derive_drift("(x*y - 1)**2/2", ["x", "y"], "dropconnect", point=(2, 0.5))
    assert derivation.case == "degenerate"
    assert derivation.drift_at_point[0] < -1  # the linearised limit moves x down at once
    assert any("Bernoulli masks" in note for note in derivation.notes)
    alpha = 0.02
    model = numerics.NoiseModel("dropconnect", p=p)
    with numerics.float64():
        w = np.asarray(numerics.noisy_gd(md._TOY, jnp.asarray([2.0, 0.5]), noise=model,
                                         alpha=alpha, steps=40_000, record_steps=[20_000, 40_000],
                                         key=jax.random.key(0), chains=16))
    product = w[..., 0] * w[..., 1]
    np.testing.assert_allclose(product, (1 - p) ** 2, rtol=1e-12)
    np.testing.assert_array_equal(w[0], w[1])  # no motion at all between the records
    # the linearised slow limit would have moved x from 2 to below 1.8 by then
    tau = 40_000 * model.tau_per_step(alpha, scale="slow")
    assert _closed_form(tau, 1.0) < 1.8 < w[1, :, 0].min()  # drift -x(x^4-1)/(x^4+1)
