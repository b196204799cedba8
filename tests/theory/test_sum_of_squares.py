"""`residuals_of`: a sum-of-squares loss as residuals with L = 1/(2n) sum_j f_j^2."""

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from limitlab.theory import parse_expression, residuals_of

x, y, z = sp.symbols("x y z", real=True)


def _loss_of(residuals):
    n = len(residuals)
    return sp.Add(*[f**2 for f in residuals]) / (2 * n)


@pytest.mark.parametrize(
    "loss, expected",
    [
        ("(x*y - 1)**2/2", (x * y - 1,)),
        ("(x-1)**2 + 3*(y+x)**2", (2 * x - 2, 2 * sp.sqrt(3) * (x + y))),
        ("x**4 + y**2", (2 * x**2, 2 * y)),
        ("x**2*y**2 - 2*x*y + 1", (sp.sqrt(2) * (x * y - 1),)),  # expanded: factored whole
        ("(x**2 - 1)**2 * (y - 2)**2 / 8", ((x**2 - 1) * (y - 2) / 2,)),
        ("0.5*(x - 0.25)**2", (x - sp.Rational(1, 4),)),  # decimals are exact
    ],
)
def test_examples(loss, expected):
    residuals = residuals_of(loss, ["x", "y"])
    assert len(residuals) == len(expected)
    for got, want in zip(residuals, expected, strict=True):
        assert sp.expand(got - want) == 0 or sp.expand(got + want) == 0
    assert sp.expand(_loss_of(residuals) - parse_expression(loss, ["x", "y"])) == 0


def test_sympy_input_and_symbols_by_name():
    w = sp.Symbol("w")  # no assumptions: matched to the parameter of that name
    residuals = residuals_of((w - 2) ** 2 + 5 * (w + z) ** 2, ["w", z])
    assert len(residuals) == 2
    assert sp.expand(_loss_of(residuals) - ((w - 2) ** 2 + 5 * (w + z) ** 2).subs(
        w, sp.Symbol("w", real=True))) == 0


@pytest.mark.parametrize(
    "loss, fragment",
    [
        ("x**3", "the term x**3 is not a positive constant times a square"),
        ("x**2 - y**2", "the term -y**2"),
        ("-(x - 1)**2", "is not a positive constant times a square"),
        ("x**2 + 1", "the term 1 does not depend on the parameters"),
        ("x*y", "is not a positive constant times a square"),
        ("0", "got 0"),
    ],
)
def test_not_a_sum_of_squares(loss, fragment):
    with pytest.raises(ValueError, match="--loss must be a sum of squares") as info:
        residuals_of(loss, ["x", "y"], argument="--loss")
    assert fragment in str(info.value)


def test_unknown_symbols_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown name 'q'"):
        residuals_of("(q - 1)**2", ["x"])
    with pytest.raises(ValueError, match="unknown symbols"):
        residuals_of((sp.Symbol("q") - 1) ** 2, ["x"])
    with pytest.raises(ValueError, match="at least one parameter"):
        residuals_of("x**2", [])
    with pytest.raises(TypeError):
        residuals_of(3.5, ["x"])


@given(
    st.lists(
        st.tuples(
            st.fractions(min_value=0, max_value=9, max_denominator=5).filter(lambda c: c > 0),
            st.integers(-3, 3),
            st.integers(-3, 3),
            st.integers(1, 2),
        ).filter(lambda t: t[1] != 0 or t[2] != 0),
        min_size=1,
        max_size=4,
    )
)
def test_identity_holds_exactly(terms):
    """For any sum of positive multiples of squares of polynomials, L = 1/(2n) sum f_j^2."""
    loss = sp.Add(*[
        sp.Rational(c.numerator, c.denominator) * (a * x + b * y**k + 1) ** 2
        for c, a, b, k in terms
    ])
    residuals = residuals_of(loss, [x, y])
    assert sp.expand(_loss_of(residuals) - loss) == 0
