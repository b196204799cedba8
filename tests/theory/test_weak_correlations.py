import json

import pytest
import sympy as sp

from limitlab.theory import (
    DERIVED_ORDERS,
    DerivedOrder,
    Order,
    cluster_graph,
    correlation_exponent,
    exponent_of_terms,
    weak_correlation_function,
    weak_correlation_order,
)

half = sp.Rational(1, 2)


@pytest.mark.parametrize(
    "D, d, exponent, status",
    [
        (0, 1, 0, "paper"),
        (0, 2, -1, "derived"),
        (0, 3, -1, "derived"),
        (0, 4, -2, "derived"),
        (0, 5, -2, "derived"),
        (1, 0, 0, "derived"),
        (1, 1, -half, "derived"),
        (1, 2, -1, "derived"),
        (1, 3, -3 * half, "derived"),
        (2, 0, -half, "derived"),
        (2, 1, -1, "guess"),
        (3, 0, -1, "guess"),
        (3, 2, -2, "guess"),
    ],
)
def test_reference_table(D, d, exponent, status):
    """Reference §6.6 table (and the compact guess for the rest)."""
    order = weak_correlation_order(D, d)
    assert order.exponent == exponent and isinstance(order.exponent, sp.Rational)
    assert order.status == status
    assert order.is_guess == (status == "guess")
    assert "§6" in order.reason or "§5" in order.reason
    assert order == exponent
    assert float(order) == float(exponent)
    assert sp.sympify(order) == exponent


def test_order_equality_and_errors():
    assert weak_correlation_order(1, 1) == weak_correlation_order(1, 1)
    assert weak_correlation_order(1, 1) != weak_correlation_order(1, 2)
    assert weak_correlation_order(1, 1) != "x"
    with pytest.raises(ValueError, match="status"):
        Order(0, "maybe", "")
    with pytest.raises(ValueError, match="D \\+ d >= 1"):
        weak_correlation_order(0, 0)
    with pytest.raises(ValueError, match="d must be >= 0"):
        weak_correlation_order(1, -1)
    with pytest.raises(TypeError):
        weak_correlation_order(1.0, 1)


def test_compact_guess_is_a_bound_for_the_derived_entries():
    """-(D+d-1)/2 fits every derived entry as an upper bound (equality except D=0, d even)."""
    for D, d in [(0, 2), (0, 3), (0, 4), (0, 5), (1, 1), (1, 2), (1, 3), (2, 0)]:
        guess = -sp.Rational(D + d - 1, 2)
        derived = weak_correlation_order(D, d).exponent
        assert derived <= guess
        assert (derived == guess) == (not (D == 0 and d % 2 == 0))


def test_case_13_function():
    c = weak_correlation_function(1, 1)
    assert str(c) == "E[d2f(x0)_ab df(x1)_b d2f(x0)_ac df(x1)_c]"
    graph = cluster_graph(c)
    assert graph.sizes == (4,) and graph.exponent == -1


@pytest.mark.parametrize("D, d", [(0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1), (1, 2), (1, 5)])
def test_two_copy_exponent_is_twice_the_order(D, d):
    c = weak_correlation_function(D, d)
    assert c.m == 2 * (d + 1)
    assert correlation_exponent(c) == 2 * weak_correlation_order(D, d).exponent


@pytest.mark.parametrize("D, d", [(2, 0), (2, 1), (3, 2)])
def test_frobenius_norms_are_not_the_statistic(D, d):
    with pytest.raises(ValueError, match="frobenius=True"):
        weak_correlation_function(D, d)
    c = weak_correlation_function(D, d, frobenius=True)
    # ||C^{D,d}||_F ~ n^(-d/2) (reference §6.6): larger than the operator-norm order.
    assert correlation_exponent(c) == -d
    assert sp.Rational(-d, 2) >= weak_correlation_order(D, d).exponent


def test_weak_correlation_function_limits():
    with pytest.raises(ValueError, match="<= 12"):
        weak_correlation_function(1, 12)
    assert weak_correlation_function(1, 11).tensors[0].order == 12


def test_derived_orders():
    by_name = {entry.name: entry for entry in DERIVED_ORDERS}
    assert {name: entry.exponent for name, entry in by_name.items()} == {
        "ntk-init": 0,
        "ntk-drift": -1,
        "ntk-change": -1,
        "linearisation-error": -1,
        "relative-weight-change": -half,
        "hessian-operator-norm": -half,
    }
    for entry in DERIVED_ORDERS:
        assert isinstance(entry, DerivedOrder)
        assert entry.status in ("paper", "derived")
        assert entry.source.startswith("§") and entry.statistic and entry.note
        assert entry.correlation_functions
        data = entry.to_dict()
        assert json.loads(json.dumps(data)) == data
    # Where the rule gives the order, the listed correlation functions reproduce it.
    for name in ("ntk-init", "ntk-drift", "ntk-change", "linearisation-error"):
        entry = by_name[name]
        assert exponent_of_terms(entry.correlation_functions) == entry.exponent
    assert "E[d2f(x1)_ab df(x2)_a df(x'1)_b f(x'1)]" in {
        str(-c) for c in by_name["ntk-drift"].correlation_functions
    }
    # The Frobenius norm of the Hessian is O(1): not the statistic (operator norm, -1/2).
    (frobenius,) = by_name["hessian-operator-norm"].correlation_functions
    assert correlation_exponent(frobenius) == 0
