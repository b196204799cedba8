"""Every catalogue entry holds at the quick profile (derandomized, fewer examples here), and
every deliberately false variant is found to fail, with a shrunk counterexample."""

import pytest

from limitlab.testing import bound_names, catalogue, false_variants, get_bound

EXAMPLES = 20
# expensive entries keep their own (smaller) caps: Monte Carlo over JAX simulations
CAPPED = {"empirical-train-risk-below-initial": 3, "width-exponent-below-prediction": 2}


def test_catalogue_has_at_least_ten_documented_entries_over_five_capabilities():
    entries = catalogue()
    assert len(entries) >= 10
    assert {b.capability for b in entries.values()} == {
        "kernel-flow", "tensor-orders", "iterative-linearisation", "manifold-drift",
        "mean-field"}
    for b in entries.values():
        assert b.holds and b.source and b.assumptions and b.statement
        assert any(tag in b.source for tag in ("[paper", "[literature", "[derived",
                                               "[reconstructed"))


@pytest.mark.parametrize("name", bound_names())
def test_catalogue_entry_holds(name):
    result = get_bound(name).run(max_examples=CAPPED.get(name, EXAMPLES))
    assert result.passed, result.report or result.error
    assert result.evaluated >= 1


@pytest.mark.parametrize("name", list(false_variants()))
def test_false_variant_is_found_to_fail(name):
    result = get_bound(name).run()
    assert not result.passed and result.error is None, result.error
    assert result.as_expected and result.report and "lhs = " in result.report


def test_false_variants_shrink_to_the_smallest_counterexample():
    linear = get_bound("linearisation-round-within-gauss-newton-unstable").run()
    p = linear.counterexample
    assert p.jacobian.shape == (1, 1) and p.steps == 1 and 1.0 < p.stability < 1.99
    assert linear.lhs > linear.rhs
    cluster = get_bound("cluster-exponent-negative").run()
    assert str(cluster.counterexample) == "E[f(x1)]" and cluster.lhs == 0
    clt = get_bound("clt-fluctuation-below-resampling-bound").run()
    assert clt.counterexample.objective.features.shape[0] == 1  # one data point


def test_unknown_bound_name():
    with pytest.raises(ValueError, match="known bounds: oracle-risk-monotone"):
        get_bound("no-such-bound")
