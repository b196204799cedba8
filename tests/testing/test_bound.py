"""`bound`: exact, float and Monte Carlo comparisons, failure reports with the shrunk example,
use as a pytest test, reproducibility."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, settings
from hypothesis import strategies as st

from limitlab.testing import Estimate, bound, estimate, profile_settings
from limitlab.testing import BoundViolation


def test_exact_comparison_has_no_tolerance():
    b = bound(st.integers(1, 10), lambda n: sp.Rational(1, n), lambda n: sp.Integer(1))
    assert b.compare(3).holds and b.compare(1).margin == 0
    eq = bound(st.just(0), lambda _: sp.Rational(1, 3), lambda _: sp.Rational(1, 3) + sp.Rational(1, 10**30),
               relation="==")
    assert not eq.compare(0).holds  # exact: a difference of 1e-30 is a difference


def test_float_comparison_with_rtol_and_arrays():
    b = bound(st.just(0), lambda _: np.array([1.0, 2.0 + 1e-13]), lambda _: 2.0, rtol=1e-12)
    assert b.compare(0).holds
    strict = bound(st.just(0), lambda _: np.array([1.0, 2.0 + 1e-13]), lambda _: 2.0)
    assert not strict.compare(0).holds
    ge = bound(st.just(0), lambda _: 1.0, lambda _: 2.0, relation=">=")
    assert not ge.compare(0).holds and ge.compare(0).margin == -1.0


def test_monte_carlo_side_uses_z_standard_errors():
    b = bound(st.just(0), lambda _: Estimate(1.3, 0.1), lambda _: 1.0, z=4.0)
    assert b.compare(0).holds  # 3 standard errors above: within z = 4
    b = bound(st.just(0), lambda _: Estimate(1.5, 0.1), lambda _: 1.0, z=4.0)
    assert not b.compare(0).holds
    e = estimate([1.0, 2.0, 3.0])
    assert e.mean == 2.0 and e.stderr == pytest.approx(1 / np.sqrt(3))
    with pytest.raises(ValueError, match="at least two"):
        estimate([1.0])


def test_false_bound_is_found_and_shrunk_with_both_sides_reported():
    # "n^2 <= 10 n" fails first at n = 11: the shrunk example must be exactly 11
    b = bound(st.integers(0, 10**6), lambda n: n * n, lambda n: 10 * n, name="square-below")
    result = b.run(max_examples=200)
    assert not result.passed and result.counterexample == 11
    assert (result.lhs, result.rhs) == (121, 110)
    assert "example: 11" in result.report and "lhs = 121" in result.report
    assert b.run(max_examples=200).counterexample == 11  # derandomized: reproducible


def test_seeded_search_is_reproducible():
    b = bound(st.integers(0, 10**6), lambda n: n % 7, lambda n: 5)
    first, second = b.run(seed=3), b.run(seed=3)
    assert not first.passed and first.counterexample == second.counterexample
    assert first.counterexample % 7 == 6


def test_assume_counts_in_the_filter_ratio():
    def lhs(n):
        assume(n % 2 == 0)
        return n

    result = bound(st.integers(0, 100), lhs, lambda n: 100).run(max_examples=20)
    assert result.passed and result.evaluated == 20 and 0 < result.filter_ratio < 1


def test_side_errors_are_reported_not_raised():
    result = bound(st.integers(0, 3), lambda n: 1 / (n - 2), lambda n: 10).run()
    assert not result.passed and result.error.startswith("ZeroDivisionError")


def test_as_a_pytest_test_raises_a_bound_violation_for_the_shrunk_example():
    test = bound(st.integers(0, 1000), lambda n: n, lambda n: 99, name="below-100").test(
        settings(profile_settings("quick"), max_examples=100))
    with pytest.raises(BoundViolation, match="example: 100"):
        test()
    passing = bound(st.integers(0, 10), lambda n: n, lambda n: 10).test()
    passing()


def test_bad_arguments():
    with pytest.raises(ValueError, match="relation"):
        bound(st.just(0), abs, abs, relation="<")
    with pytest.raises(ValueError, match="rtol"):
        bound(st.just(0), abs, abs, rtol=-1)
    with pytest.raises(TypeError, match="strategy"):
        bound([1, 2], abs, abs)
    with pytest.raises(TypeError, match="lhs"):
        bound(st.just(0), 1, abs)
    with pytest.raises(ValueError, match="profile"):
        profile_settings("slow")
