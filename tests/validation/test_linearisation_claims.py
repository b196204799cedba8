"""The claims of validation/claims/linearisation.py and cluster-exponent-properties can fail:
synthetic runs with a growing deviation, and a rule that breaks a property."""

import numpy as np
import pytest

from limitlab import theory
from limitlab.validation import get_claim, run_claim
from limitlab.validation.claims import linearisation, random_tensors


def _fake_runs(params, growth, motion=1e-6):
    """Runs whose linearised loss decays at record 5 and whose deviation is 1/n, times
    (1 + growth * t) afterwards; after record 5 the linearised model still moves by at most
    `motion` on the test inputs (relaxing exponentially)."""
    steps = np.arange(0, params["steps"] + 1, params["record_every"])
    runs = {}
    rng = np.random.default_rng(0)
    for mode, _ in linearisation._modes(params):
        for n in params["widths"]:
            loss = np.where(np.arange(steps.size) < 5, 1.0, 1e-20) * np.ones((8, 1))
            dev = (1 + rng.uniform(0, 0.1, (8, 1))) / n * np.minimum(1, np.arange(steps.size) / 5)
            dev = dev * (1 + growth * np.maximum(0, steps - steps[5]) / steps[-1])
            after = np.maximum(0, np.arange(steps.size) - 5)
            f_lin = 1.0 + motion * (1 - np.exp(-after / 3.0))[None, :, None] * np.ones((8, 1, 3))
            runs[mode, int(n)] = {"dev_test_t": dev, "train_loss_lin": loss,
                                  "steps": np.tile(steps, (8, 1)), "f_lin_test": f_lin}
    return runs


@pytest.mark.parametrize("growth, passes", [(0.0, True), (0.01, False)])
def test_uniform_claim_detects_growth(monkeypatch, growth, passes):
    claim = get_claim("linearisation-deviation-uniform")
    params = claim.sizes["quick"].params
    monkeypatch.setattr(linearisation, "_deviation_runs",
                        lambda p, context: _fake_runs(p, growth))
    result = run_claim(claim, size="quick")
    assert result.error is None and result.passed is passes, result.summary


def test_uniform_claim_allows_the_linearised_models_own_motion(monkeypatch):
    """Growth of C within twice the linearised model's remaining motion is not growth: a
    deviation that grows by 0.5 n delta passes, one that grows by 4 n delta fails."""
    claim = get_claim("linearisation-deviation-uniform")
    params = claim.sizes["quick"].params
    motion = 1e-3
    for factor, passes in ((0.5, True), (4.0, False)):
        def runs(p, context, factor=factor):
            out = _fake_runs(p, 0.0, motion)
            for (mode, n), run in out.items():
                moved = np.abs(run["f_lin_test"][:, :, 0] - run["f_lin_test"][:, 5:6, 0])
                run["dev_test_t"] = run["dev_test_t"] + factor * np.where(
                    np.arange(moved.shape[1]) >= 5, moved, 0.0)
            return out

        monkeypatch.setattr(linearisation, "_deviation_runs", runs)
        result = run_claim(claim, size="quick")
        assert result.error is None and result.passed is passes, (factor, result.summary)
    assert params["n_horizons"] >= 2


def test_uniform_claim_needs_a_decayed_residual(monkeypatch):
    claim = get_claim("linearisation-deviation-uniform")

    def never(p, context):
        runs = _fake_runs(p, 0.0)
        for out in runs.values():
            out["train_loss_lin"] = np.ones_like(out["train_loss_lin"])
        return runs

    monkeypatch.setattr(linearisation, "_deviation_runs", never)
    result = run_claim(claim, size="quick")
    assert not result.passed and "never fell below decay" in result.error


def test_drift_series_follow_the_networks():
    params = get_claim("ntk-drift-orders").sizes["full"].params
    prediction = linearisation.predict_drift(params)
    assert prediction.exponents["weight change [ntk, L=1]"] == -0.5
    assert prediction.exponents["weight change [standard, L=1]"] == -1.0
    assert prediction.exponents["NTK change [standard, L=2]"] == -1.0
    assert "NTK change [standard, L=1]" not in prediction.exponents  # no prediction: see docs


def test_property_claim_detects_a_broken_rule(monkeypatch):
    claim = get_claim("cluster-exponent-properties")
    real = theory.correlation_exponent

    def broken(c, *args, **kwargs):
        s = real(c, *args, **kwargs)
        return 1 - s if c.m >= 3 and len(theory.cluster_graph(c).components) == 1 else s

    monkeypatch.setattr(random_tensors.theory, "correlation_exponent", broken)
    result = run_claim(claim, size="quick", seeds=50)
    assert not result.passed and result.error is None
    assert result.measured[2] > 0 and result.measured[0] == 0


def test_sweep_claims_can_fail(monkeypatch):
    from limitlab.validation.claims import iterative_linearisation as il

    params = get_claim("few-feature-updates").sizes["quick"].params
    rng = np.random.default_rng(0)
    # K = 1 at 90%, every other K 3 points lower, K = infinity 0.5 points *higher*
    accuracy = np.full((4, len(params["periods"])), 0.87) + rng.normal(0, 1e-3, (4, 1))
    accuracy[:, 0] += 0.03
    accuracy[:, -1] = accuracy[:, 0] + 0.005
    runs = {"accuracy": accuracy, "loss": np.zeros_like(accuracy)}
    monkeypatch.setattr(il, "_sweep", lambda p, context: runs)
    few = run_claim(get_claim("few-feature-updates"), size="quick")
    matters = run_claim(get_claim("feature-learning-matters"), size="quick")
    assert few.error is None and not few.passed
    assert matters.error is None and not matters.passed


def test_kernel_regression_claim_refuses_an_unconverged_run():
    import dataclasses

    from limitlab.validation import ClaimSize

    claim = get_claim("k-infinity-kernel-regression")
    params = {**claim.sizes["quick"].params, "steps": 3, "width": 16}
    short = dataclasses.replace(claim, name="k-infinity-short",
                                sizes={**claim.sizes, "quick": ClaimSize(seeds=2, params=params)})
    result = run_claim(short, size="quick")
    assert not result.passed and "has not converged" in result.error
