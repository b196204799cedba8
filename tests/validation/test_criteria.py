import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from limitlab.validation import (
    Agreement,
    BoundHolds,
    Measurement,
    Prediction,
    SlopeMatches,
    bootstrap,
    excess_kurtosis,
    loglog_slope,
    mean_and_stderr,
    root_mean_square,
)


def _measurement(y, se, x=(1.0, 2.0, 4.0)):
    return Measurement(np.asarray(x), np.asarray(y), np.asarray(se), n_seeds=10)


def test_agreement_uses_the_larger_of_the_two_tolerances():
    pred = Prediction([1, 2, 4], [1.0, 1.0, 1.0])
    assert Agreement(z=3).evaluate(pred, _measurement([1.29, 1.0, 1.0], [0.1, 0.1, 0.1])).passed
    assert not Agreement(z=3).evaluate(pred, _measurement([1.31, 1.0, 1.0], [0.1] * 3)).passed
    assert Agreement(rel_tol=0.4, z=3).evaluate(pred, _measurement([1.39, 1, 1], [0.1] * 3)).passed


def test_bound_holds_is_one_sided():
    pred = Prediction([1, 2, 4], [1.0, 1.0, 1.0])
    below = _measurement([0.0, -5.0, 0.5], [0.01] * 3)
    assert BoundHolds("upper").evaluate(pred, below).passed
    assert not BoundHolds("lower").evaluate(pred, below).passed
    above = _measurement([1.05, 1.0, 1.0], [0.01] * 3)
    assert not BoundHolds("upper").evaluate(pred, above).passed


def _power_law_samples(exponent, seeds=300, rng=None):
    rng = np.random.default_rng(0) if rng is None else rng
    x = np.array([10.0, 40.0, 160.0, 640.0])
    # Per-seed errors with standard deviation x**exponent: RMS ~ x**exponent.
    return x, rng.standard_normal((seeds, x.size)) * x**exponent


@pytest.mark.parametrize("true, predicted, expected", [(-0.5, -0.5, True), (-0.5, -0.25, False),
                                                       (-0.5, -1.0, False)])
def test_slope_matches_detects_wrong_exponents(true, predicted, expected):
    x, samples = _power_law_samples(true)
    meas = Measurement.from_samples(x, samples, root_mean_square, n_boot=200)
    pred = Prediction(x, x**predicted, exponent=predicted)
    assert SlopeMatches(n_boot=400).evaluate(pred, meas).passed is expected


def test_slope_upper_bound():
    x, samples = _power_law_samples(-1.0)
    meas = Measurement.from_samples(x, samples, root_mean_square, n_boot=200)
    # The measured order -1 is below the bound -1/2: fine for an upper bound, not for equality.
    assert SlopeMatches(bound="upper", n_boot=400).evaluate(Prediction(x, x**-0.5, -0.5), meas).passed
    assert not SlopeMatches(n_boot=400).evaluate(Prediction(x, x**-0.5, -0.5), meas).passed


def test_slope_below_needs_a_significantly_smaller_slope():
    x, samples = _power_law_samples(-1.0)
    meas = Measurement.from_samples(x, samples, root_mean_square, n_boot=200)
    below = SlopeMatches(bound="below", n_boot=400)
    assert below.evaluate(Prediction(x, np.ones_like(x), 0.0), meas).passed  # shrinks
    assert not below.evaluate(Prediction(x, x**-1.0, -1.0), meas).passed  # -1 is inside the CI
    flat_x, flat = _power_law_samples(0.0)
    flat_meas = Measurement.from_samples(flat_x, flat, root_mean_square, n_boot=200)
    assert not below.evaluate(Prediction(flat_x, np.ones_like(flat_x), 0.0), flat_meas).passed


def test_criteria_reject_bad_configuration():
    with pytest.raises(ValueError, match="level"):
        SlopeMatches(level=1.5)
    with pytest.raises(ValueError, match="bound"):
        SlopeMatches(bound="lower")
    with pytest.raises(ValueError, match="direction"):
        BoundHolds("sideways")
    with pytest.raises(ValueError, match="rel_tol"):
        Agreement(rel_tol=-1)


def test_misaligned_abscissae_are_an_error():
    with pytest.raises(ValueError, match="different abscissae"):
        Agreement().evaluate(Prediction([1, 2], [1, 1]), _measurement([1, 1], [1, 1], x=(1, 3)))


@given(st.floats(-3, 3), st.floats(0.01, 100))
def test_loglog_slope_recovers_exact_power_laws(exponent, scale):
    x = np.array([1.0, 3.0, 10.0, 30.0])
    assert loglog_slope(x, scale * x**exponent) == pytest.approx(exponent, abs=1e-9)


def test_statistics_helpers():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((20000, 2))
    mean, se = mean_and_stderr(s)
    assert np.all(np.abs(mean) < 5 * se)
    assert np.allclose(root_mean_square(np.ones((5, 3)) * 2), 2)
    assert np.all(np.abs(excess_kurtosis(s)) < 0.2)
    reps = bootstrap(s[:, 0], np.mean, n_boot=300)
    assert reps.shape == (300,)
    assert np.std(reps) == pytest.approx(1 / np.sqrt(20000), rel=0.2)
    with pytest.raises(ValueError, match="at least 2"):
        mean_and_stderr(np.ones((1, 3)))


def test_exponent_matches_is_per_series_and_can_fail():
    from limitlab.validation import ExponentMatches, Measurement, Prediction

    x = np.array([10.0, 100.0, 1000.0] * 2)
    y = np.concatenate([2.0 / x[:3] * (1 + 1 / x[:3]), 3.0 / np.sqrt(x[3:])])
    series = ("a",) * 3 + ("b",) * 3
    prediction = Prediction(x, 2.0 / x, exponent=-1.0, series=series)
    measurement = Measurement(x, y, np.zeros(6), 1, series=series)
    verdict = ExponentMatches(tolerance=0.05).evaluate(prediction, measurement)
    assert not verdict.passed  # series b has slope -1/2
    assert abs(verdict.details["slopes"]["a"] + 1) < 0.05
    assert abs(verdict.details["slopes"]["b"] + 0.5) < 1e-12
    only_a = Measurement(x[:3], y[:3], np.zeros(3), 1)
    assert ExponentMatches(0.05).evaluate(
        Prediction(x[:3], 2.0 / x[:3], exponent=-1.0), only_a
    ).passed


def test_sign_matches_needs_significance_and_sign():
    from limitlab.validation import Measurement, Prediction, SignMatches

    x = np.array([1.0, 2.0, 3.0])
    prediction = Prediction(x, np.array([-1.0, 1.0, 1.0]))
    good = Measurement(x, np.array([-0.5, 0.4, 0.3]), np.array([0.1, 0.1, 0.05]), 10)
    assert SignMatches(z=3).evaluate(prediction, good).passed
    weak = Measurement(x, np.array([-0.5, 0.4, 0.1]), np.array([0.1, 0.1, 0.05]), 10)
    assert not SignMatches(z=3).evaluate(prediction, weak).passed
    wrong = Measurement(x, np.array([0.5, 0.4, 0.3]), np.array([0.1, 0.1, 0.05]), 10)
    assert not SignMatches(z=3).evaluate(prediction, wrong).passed
    with pytest.raises(ValueError, match="non-zero"):
        SignMatches().evaluate(Prediction(x, np.zeros(3)), good)


def test_series_labels_must_match_points():
    from limitlab.validation import Prediction

    with pytest.raises(ValueError, match="labels"):
        Prediction(np.arange(3.0), np.arange(3.0), series=("a", "b"))


@given(exponent=st.floats(-3, 3), b=st.floats(-20, 20), scale=st.floats(0.1, 10))
def test_loglog_slope_with_a_correction_recovers_the_leading_exponent(exponent, b, scale):
    x = np.array([0.004, 0.002, 0.001, 0.0005, 0.00025])
    # log y = log A + p log x + b x exactly: the corrected fit is exact, the plain one is not
    y = scale * x**exponent * np.exp(b * x)
    assert loglog_slope(x, y, correction=1.0) == pytest.approx(exponent, abs=1e-8)


def test_slope_matches_with_a_correction_term():
    # steps to a displacement ~ alpha^-2 exp(20 alpha) = alpha^-2 (1 + 20 alpha + ...): the
    # bias the plain fit picks up (about 0.11 here) is far outside the CI; the corrected fit
    # models it
    rng = np.random.default_rng(3)
    x = np.array([0.016, 0.008, 0.004, 0.002])
    samples = x**-2.0 * np.exp(20 * x) * (1 + 0.002 * rng.standard_normal((400, x.size)))
    meas = Measurement.from_samples(x, samples, lambda s: s.mean(axis=0), n_boot=200)
    pred = Prediction(x, np.ones_like(x), exponent=-2.0)
    assert not SlopeMatches(n_boot=400).evaluate(pred, meas).passed
    assert SlopeMatches(n_boot=400, correction=1.0).evaluate(pred, meas).passed
    wrong = Prediction(x, np.ones_like(x), exponent=-1.9)
    assert not SlopeMatches(n_boot=400, correction=1.0).evaluate(wrong, meas).passed
    assert "correction term x^1" in SlopeMatches(correction=1.0).describe()


def test_loglog_slope_correction_needs_four_points_and_a_power():
    with pytest.raises(ValueError, match=">= 4 points"):
        loglog_slope([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], correction=1.0)
    with pytest.raises(ValueError, match="non-zero power"):
        loglog_slope([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], correction=0.0)
    with pytest.raises(ValueError, match="non-zero power"):
        SlopeMatches(correction=float("nan"))
