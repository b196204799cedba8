"""The end points of the diagonal-network flows: weighted minimum-l2 and weighted-l1
interpolants, against exact sympy solutions and a brute-force search over vertices."""

import itertools

import hypothesis.strategies as st
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings

from limitlab import theory


def _brute_force_l1(X, y, c):
    """min sum c|beta| over X beta = y: the optimum sits at a vertex, a support of n columns."""
    n, d = X.shape
    best, best_value = None, np.inf
    for support in itertools.combinations(range(d), n):
        sub = X[:, support]
        if abs(np.linalg.det(sub)) < 1e-10:
            continue
        beta = np.zeros(d)
        beta[list(support)] = np.linalg.solve(sub, y)
        value = np.sum(c * np.abs(beta))
        if value < best_value - 1e-12:
            best, best_value = beta, value
    return best, best_value


def test_weighted_min_norm_matches_the_exact_lagrange_solution():
    X = sp.Matrix([[1, 2, 0, -1], [0, 1, 3, 1]])
    y = sp.Matrix([1, 2])
    c = sp.Matrix([2, 1, 3, 5])
    C_inv = sp.diag(*[1 / ci for ci in c])
    exact = C_inv * X.T * (X * C_inv * X.T).inv() * y
    got = theory.weighted_min_norm_interpolant(np.array(X, dtype=float), np.array(y, dtype=float).ravel(),
                                               weights=np.array(c, dtype=float).ravel())
    np.testing.assert_allclose(got, np.array(exact, dtype=float).ravel(), rtol=1e-13, atol=1e-14)


def test_default_weights_are_squared_column_norms():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((2, 5)), rng.standard_normal(2)
    c = np.sum(X**2, axis=0)
    np.testing.assert_allclose(theory.weighted_min_norm_interpolant(X, y),
                               theory.weighted_min_norm_interpolant(X, y, weights=c))
    np.testing.assert_allclose(theory.weighted_l1_interpolant(X, y),
                               theory.weighted_l1_interpolant(X, y, weights=c))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3), extra=st.integers(1, 4))
def test_interpolants_are_feasible_and_optimal(seed, n, extra):
    rng = np.random.default_rng(seed)
    d = n + extra
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    c = rng.uniform(0.2, 3.0, d)
    l2 = theory.weighted_min_norm_interpolant(X, y, weights=c)
    l1 = theory.weighted_l1_interpolant(X, y, weights=c)
    np.testing.assert_allclose(X @ l2, y, atol=1e-10)
    np.testing.assert_allclose(X @ l1, y, atol=1e-10)
    # l2: the weighted gradient c * beta lies in the row space of X (first-order optimality)
    coef, *_ = np.linalg.lstsq(X.T, c * l2, rcond=None)
    np.testing.assert_allclose(X.T @ coef, c * l2, atol=1e-9)
    # l1: no vertex does better, and it is at most n-sparse
    _, best = _brute_force_l1(X, y, c)
    assert np.sum(c * np.abs(l1)) <= best * (1 + 1e-9) + 1e-12
    assert np.count_nonzero(l1) <= n
    # and the l1 value never exceeds that of the l2 interpolant (it is the minimum)
    assert np.sum(c * np.abs(l1)) <= np.sum(c * np.abs(l2)) * (1 + 1e-12)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"X": np.ones((3, 3)), "y": np.ones(3)}, "1 <= n < d"),
    ({"X": np.ones((1, 3)), "y": np.ones(2)}, "y must have shape (1,)"),
    ({"X": np.ones((1, 3)), "y": np.ones(1), "weights": [1.0, -1.0, 1.0]}, "weights must be 3 positive"),
    ({"X": [[1.0, np.nan, 0.0]], "y": [1.0]}, "X must be finite"),
    ({"X": [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], "y": [1.0, 2.0]}, "full row rank"),
])
@pytest.mark.parametrize("function", [theory.weighted_min_norm_interpolant,
                                      theory.weighted_l1_interpolant])
def test_bad_input(function, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        function(**kwargs)
