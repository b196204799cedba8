import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from limitlab.theory import parse_expression

z = sp.Symbol("z", real=True)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("exp(z)", sp.exp(z)),
        ("z^2 + 0.25*z", z**2 + sp.Rational(1, 4) * z),
        ("(1 + z)**3 / 6", (1 + z) ** 3 / 6),
        ("-z + pi", -z + sp.pi),
        ("relu(z)", sp.Max(z, 0)),
        ("arcsin(2*z/3)", sp.asin(2 * z / 3)),
    ],
)
def test_parses_whitelisted_expressions(text, expected):
    assert sp.simplify(parse_expression(text, ["z"]) - expected) == 0


def test_numbers_are_exact():
    assert parse_expression("0.1", ["z"]) == sp.Rational(1, 10)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("__import__('os').system('true')", "only plain function names"),
        ("__import__('os')", "unknown function '__import__'"),
        ("z.real", "Attribute is not allowed"),
        ("[z]", "List is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("exp(z, base=2)", "keyword arguments"),
        ("foo(z)", "unknown function 'foo'"),
        ("y + 1", "unknown name 'y'"),
        ("'z'", "is not a number"),
        ("z +", "not a valid expression"),
        ("", "is empty"),
        ("exp(z)(z)", "only plain function names"),
    ],
)
def test_rejects_everything_else(text, fragment):
    with pytest.raises(ValueError, match="kernel") as info:
        parse_expression(text, ["z"], argument="kernel")
    assert fragment in str(info.value)


def test_never_evaluates(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval must never be called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(sp, "sympify", forbidden)
    assert parse_expression("exp(z) + 1", ["z"]) == sp.exp(z) + 1


def test_non_string_is_type_error():
    with pytest.raises(TypeError, match="kernel must be a string"):
        parse_expression(3, ["z"], argument="kernel")


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=6))
def test_polynomials_round_trip(coeffs):
    text = " + ".join(f"({c})*z**{k}" for k, c in enumerate(coeffs))
    expected = sum(c * z**k for k, c in enumerate(coeffs))
    assert sp.expand(parse_expression(text, ["z"]) - expected) == 0
