import itertools
import json

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from helpers import correlation_functions

from limitlab.theory import (
    CorrelationFunction,
    Tensor,
    cluster_graph,
    correlation_exponent,
    exponent_of_terms,
    ntk_function,
    operator_tower,
    parse_correlation,
    random_correlation_function,
    time_derivative_tower,
)

# ---------------------------------------------------------------------------- parsing


def test_parses_the_issue_example():
    c = parse_correlation("E[ df(x1)_a df(x2)_a d2f(x3)_bc df(x4)_b df(x5)_c ]")
    assert [t.order for t in c.tensors] == [1, 1, 2, 1, 1]
    assert c.tensors[2] == Tensor(2, "x3", ("b", "c"))
    assert c.m == 5
    assert c.pairs == ((0, 1, "a"), (2, 3, "b"), (2, 4, "c"))
    assert c.inputs == ("x1", "x2", "x3", "x4", "x5")
    assert c.coefficient == 1 and isinstance(c.coefficient, sp.Rational)


@pytest.mark.parametrize(
    "text",
    [
        "E[df(x1)_a df(x2)_a]",
        "df(x1)_a df(x2)_a",
        "  E [ df(x1)_a * df(x2)_a ]  ",
        "df(x1)_a*df(x2)_a",
        "E[d1f(x1)_a df(x2)_a]",
    ],
)
def test_equivalent_spellings(text):
    assert parse_correlation(text) == ntk_function()


def test_inputs_traces_and_coefficients():
    c = parse_correlation("-3/2*E[d2f(x')_aa f(x_test) d3f(x'2)_bcb df(x1)_c]")
    assert c.coefficient == sp.Rational(-3, 2)
    assert c.inputs == ("x'", "x_test", "x'2", "x1")
    assert c.pairs == ((0, 0, "a"), (2, 2, "b"), (2, 3, "c"))
    assert parse_correlation("-E[f(x) f(y)]").coefficient == -1
    assert parse_correlation("2 E[f(x) f(y)]").coefficient == 2
    assert parse_correlation("f(x)").m == 1


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("E[df(x1)_a df(x2)_b]", ["index 'a' appears only once", "'df(x1)_a' at position 2"]),
        ("E[df(x1)_a df(x2)_a df(x3)_a df(x4)_b df(x5)_b]",
         ["index 'a' appears 3 times", "position 2", "position 11", "position 20"]),
        ("E[df(x1)_a g(x2)_a]", ["unknown tensor name 'g' at position 11", "d12f"]),
        ("E[df(x1)_a d13f(x2)_a]", ["derivative order 13", "position 11"]),
        ("E[d0f(x1) f(x2)]", ["unknown tensor name 'd0f'"]),
        ("E[]", ["empty product"]),
        ("", ["empty product"]),
        ("   ", ["empty product"]),
        ("E[d2f(x1)_a df(x2)_a]", ["'d2f(x1)_a' at position 2 has 1 index", "needs exactly 2"]),
        ("E[f(x1)_a f(x2)_a]", ["'f(x1)_a' at position 2 has 1 index", "needs exactly 0"]),
        ("E[df(x1) df(x2)]", ["'df(x1)' at position 2 has 0 indices"]),
        ("E[df(x1)_a df(x2)_a", ["unbalanced brackets", "'[' at position 1 is never closed"]),
        ("df(x1)_a df(x2)_a]", ["unbalanced brackets", "']' at position 17"]),
        ("E[df(x1_a df(x2)_a]", ["unbalanced parentheses", "'(' at position 4"]),
        ("E[df x1)_a]", ["expected '(' and an input label", "'df' at position 4"]),
        ("E[df(1x)_a df(x2)_a]", ["bad input label '1x' at position 5"]),
        ("E[df()_a df(x2)_a]", ["bad input label ''"]),
        ("E[df(x1)_ df(x2)_a]", ["expected index letters after '_' at position 8"]),
        ("E[df(x1)_a1 df(x2)_a]", ["unexpected character '1' at position 10"]),
        ("E[df(x1)_a df(x2)_a] extra", ["unexpected text 'extra'"]),
        ("E[df(x1)_a ** df(x2)_a]", ["'*' at position 12"]),
        ("E[* df(x1)_a df(x2)_a]", ["'*' at position 2"]),
        ("E[df(x1)_a df(x2)_a *]", ["'*' at position 20"]),
        ("E[df(x1)_a [df(x2)_a]]", ["unexpected '['"]),
        ("E[df(x1)_a + df(x2)_a]", ["unexpected character '+'"]),
        ("1/0 E[f(x) f(y)]", ["zero denominator"]),
        ("__import__('os')", ["unexpected character '_' at position 0"]),
        ("exec(x)", ["unknown tensor name 'exec' at position 0"]),
    ],
)
def test_parser_errors(text, fragments):
    with pytest.raises(ValueError, match="correlation function") as info:
        parse_correlation(text)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_parser_type_and_length_errors():
    with pytest.raises(TypeError, match="must be a string"):
        parse_correlation(3)
    with pytest.raises(ValueError, match="longer than"):
        parse_correlation("f(x) " * 2000)


def test_never_evaluates(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval must never be called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sp, "sympify", forbidden)
    assert parse_correlation("2*E[df(x1)_a df(x2)_a]").coefficient == 2


# ------------------------------------------------------------------- data classes


def test_tensor_validation():
    assert str(Tensor(3, "x'2", ("a", "b", "a"))) == "d3f(x'2)_aba"
    assert str(Tensor(0, "x")) == "f(x)"
    assert Tensor(1, "x", ["a"]).indices == ("a",)
    with pytest.raises(ValueError, match="needs 2 indices"):
        Tensor(2, "x", ("a",))
    with pytest.raises(ValueError, match="between 0 and 12"):
        Tensor(13, "x", tuple("abcdefghijklm"))
    with pytest.raises(ValueError, match="input label"):
        Tensor(0, "1x")
    with pytest.raises(ValueError, match="single ASCII letter"):
        Tensor(1, "x", ("ab",))
    with pytest.raises(TypeError, match="tuple of letters"):
        Tensor(2, "x", "ab")
    with pytest.raises(TypeError, match="must be an int"):
        Tensor(True, "x")


def test_correlation_function_validation():
    with pytest.raises(ValueError, match="empty product"):
        CorrelationFunction(())
    with pytest.raises(ValueError, match="index 'a' appears only once"):
        CorrelationFunction((Tensor(1, "x", ("a",)),))
    with pytest.raises(TypeError, match="Tensor objects"):
        CorrelationFunction(("f(x)",))
    c = CorrelationFunction((Tensor(0, "x"),), coefficient=3)
    assert c.coefficient == 3 and isinstance(c.coefficient, sp.Integer)
    with pytest.raises(TypeError, match="rational"):
        CorrelationFunction((Tensor(0, "x"),), coefficient="3")


def test_relabel_products_and_dict():
    c = parse_correlation("E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]")
    d = c.relabel({"a": "z", "b": "y"}, {"x1": "u", "x4": "x1"})
    assert str(d) == "E[df(u)_z df(x2)_y d2f(x3)_zy f(x1)]"
    with pytest.raises(ValueError, match="appears 4 times"):
        c.relabel({"a": "b"})
    product = ntk_function() * parse_correlation("f(x9)")
    assert str(product) == "E[df(x1)_a df(x2)_a f(x9)]"
    with pytest.raises(ValueError, match="relabel one of them"):
        ntk_function() * ntk_function()
    assert str(-(sp.Rational(1, 2) * ntk_function())) == "-1/2*E[df(x1)_a df(x2)_a]"
    assert (ntk_function() * 2).coefficient == 2
    data = c.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["pairs"] == [[0, 2, "a"], [1, 2, "b"]]
    assert data["notation"] == str(c)
    assert eval(repr(c), {"parse_correlation": parse_correlation}) == c  # noqa: S307 - test only


# ----------------------------------------------------------------- round trip


@given(correlation_functions())
def test_round_trip(c):
    assert parse_correlation(str(c)) == c
    assert parse_correlation(str(c).replace(" ", " * ")) == c


# ---------------------------------------------------------------------- builders


def test_ntk_function():
    assert str(ntk_function()) == "E[df(x1)_a df(x2)_a]"
    assert str(ntk_function("x", "x'")) == "E[df(x)_a df(x')_a]"


def test_operator_tower_small_levels():
    assert [str(c) for c in operator_tower(1)] == ["E[f(x1)]"]
    assert operator_tower(2) == [ntk_function()]
    assert [str(c) for c in operator_tower(3)] == [
        "E[d2f(x1)_ab df(x2)_a df(x3)_b]",
        "E[df(x1)_a d2f(x2)_ab df(x3)_b]",
    ]
    # Repeated inputs: the two O_3 terms coincide up to relabelling.
    repeated = operator_tower(3, ["x", "x", "x"])
    assert [str(c) for c in repeated] == ["2*E[d2f(x)_ab df(x)_a df(x)_b]"]


@pytest.mark.parametrize("s", range(1, 8))
def test_operator_tower_has_factorial_terms_each_one_cluster(s):
    terms = operator_tower(s)
    assert len(terms) == sp.factorial(s - 1)
    assert all(t.m == s and len(cluster_graph(t).components) == 1 for t in terms)
    assert len({str(t) for t in terms}) == len(terms)


@pytest.mark.parametrize("s", range(1, 8))
def test_operator_tower_exponents(s):
    """E[O_s F] = O(n^((2-s)/2)) for even s, O(n^((1-s)/2)) for odd s (reference §5.6, §8 #7)."""
    expected = sp.Rational(2 - s, 2) if s % 2 == 0 else sp.Rational(1 - s, 2)
    # F with the parity that makes the mean non-trivial (odd m vanishes exactly).
    extra = "f(x9) f(x10)" if s % 2 == 0 else "f(x9)"
    F = parse_correlation(extra)
    assert exponent_of_terms([t * F for t in operator_tower(s)]) == expected
    # Typical size of the product with a single f (odd m for even s): the same order.
    assert exponent_of_terms([t * parse_correlation("f(x9)") for t in operator_tower(s)],
                             typical=True) == expected


def test_operator_tower_errors():
    with pytest.raises(ValueError, match="between 1 and 8"):
        operator_tower(0)
    with pytest.raises(ValueError, match="3 labels"):
        operator_tower(3, ["x", "y"])
    with pytest.raises(TypeError):
        operator_tower(2.0)


def test_time_derivative_of_the_ntk_is_the_dg_drift():
    """d Theta/dt: the §5.2 correlation function (+ x1 <-> x2) and two label terms (m = 3)."""
    terms = time_derivative_tower(ntk_function(), 1)
    assert [str(t) for t in terms] == [
        "-E[d2f(x1)_ab df(x2)_a df(x'1)_b f(x'1)]",
        "E[d2f(x1)_ab df(x2)_a df(x'1)_b]",
        "-E[df(x1)_a d2f(x2)_ab df(x'1)_b f(x'1)]",
        "E[df(x1)_a d2f(x2)_ab df(x'1)_b]",
    ]
    assert exponent_of_terms(terms) == -1
    assert exponent_of_terms(terms, typical=True) == -1
    graph = cluster_graph(terms[0])
    assert (graph.n_even, graph.n_odd, graph.m) == (0, 2, 4)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_time_derivatives_of_the_ntk_stay_at_minus_one(k):
    """§5.1 lemma: exponents never increase; d^k Theta/dt^k = O(1/n) for every k >= 1."""
    terms = time_derivative_tower(ntk_function(), k)
    assert exponent_of_terms(terms) == -1
    assert exponent_of_terms(terms, typical=True) == -1
    assert all(t.coefficient.is_integer for t in terms)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_time_derivatives_of_f(k):
    """d^k f/dt^k: O(1), carried by the label terms (products of kernels times labels)."""
    terms = time_derivative_tower("f(x)", k)
    assert exponent_of_terms(terms) == 0
    assert exponent_of_terms(terms, typical=True) == 0
    assert max(correlation_exponent(t) for t in terms) == 0


def test_first_and_second_derivatives_of_f_explicitly():
    assert [str(t) for t in time_derivative_tower("f(x)", 1)] == [
        "-E[df(x)_a df(x'1)_a f(x'1)]",
        "E[df(x)_a df(x'1)_a]",
    ]
    second = {str(t) for t in time_derivative_tower("f(x)", 2)}
    # Theta(x,x'1) Theta(x'1,x'2) y'1... : the kernel-squared label term, O(1).
    assert "-E[df(x)_a df(x'1)_a df(x'1)_b df(x'2)_b]" in second
    # The two mixed label/f terms are equal after swapping x'1 <-> x'2 and combine.
    assert "-2*E[d2f(x)_ab df(x'1)_a f(x'1) df(x'2)_b]" in second
    assert time_derivative_tower("f(x)", 0) == [parse_correlation("f(x)")]


def _brute_force_key(tensors, dummies):
    """Canonical form by exhaustive search: the adjacency of the factors, minimised over all
    factor orders and renamings of the dummy inputs (independent of the library's key)."""
    best = None
    for order in itertools.permutations(range(len(tensors))):
        position = {i: k for k, i in enumerate(order)}
        where = {}
        adjacency = []
        for i, t in enumerate(tensors):
            for index in t.indices:
                if index in where:
                    adjacency.append(tuple(sorted((position[where[index]], position[i]))))
                else:
                    where[index] = i
        adjacency = tuple(sorted(adjacency))
        for perm in itertools.permutations(dummies):
            rename = dict(zip(dummies, perm))
            key = (tuple((tensors[i].order, rename.get(tensors[i].input, tensors[i].input))
                         for i in order), adjacency)
            if best is None or key < best:
                best = key
    return best


@pytest.mark.parametrize(
    "start, k", [("E[df(x1)_a df(x2)_a]", 2), ("f(x)", 2), ("E[f(x1) f(x2)]", 2)]
)
def test_combining_terms_agrees_with_brute_force(start, k):
    raw = time_derivative_tower(start, k, combine=False)
    combined = time_derivative_tower(start, k)
    dummies = tuple(f"x'{j}" for j in range(1, k + 1))
    expected: dict = {}
    for t in raw:
        key = _brute_force_key(t.tensors, dummies)
        expected[key] = expected.get(key, 0) + t.coefficient
    expected = {key: c for key, c in expected.items() if c != 0}
    got = {_brute_force_key(t.tensors, dummies): t.coefficient for t in combined}
    assert got == expected
    assert len(combined) < len(raw)


@given(correlation_functions(max_tensors=4, max_order=2))
def test_each_time_derivative_term_has_no_larger_exponent(c):
    """The §5.1 lemma, term by term: d/dt adds f(x') (exponent unchanged) and an edge."""
    s = correlation_exponent(c)
    for term in time_derivative_tower(c, 1):
        assert correlation_exponent(term) <= s
        assert term.m in (c.m + 1, c.m + 2)
        assert len(term.pairs) == len(c.pairs) + 1


def test_time_derivative_fresh_labels_and_errors():
    c = parse_correlation("E[df(x'1)_a df(x2)_a]")
    terms = time_derivative_tower(c, 1)
    assert all("x'2" in t.inputs for t in terms)
    assert all(t.coefficient != 0 for t in terms)
    assert time_derivative_tower(-2 * ntk_function(), 1)[0].coefficient == 2
    with pytest.raises(ValueError, match="only loss implemented"):
        time_derivative_tower(c, 1, loss="cross-entropy")
    with pytest.raises(ValueError, match="between 0 and 5"):
        time_derivative_tower(c, 6)
    with pytest.raises(ValueError, match="largest derivative order"):
        time_derivative_tower("E[d12f(x)_aabbccddeeff]", 1)


def test_random_correlation_functions():
    rng = np.random.default_rng(5)
    again = np.random.default_rng(5)
    for _ in range(200):
        c = random_correlation_function(rng, max_tensors=6, max_order=3)
        assert c == random_correlation_function(again, max_tensors=6, max_order=3)
        assert 1 <= c.m <= 6 and all(t.order <= 3 for t in c.tensors)
        assert parse_correlation(str(c)) == c  # valid: every index exactly twice
        k = random_correlation_function(rng, max_tensors=5, connected=True)
        random_correlation_function(again, max_tensors=5, connected=True)
        assert 3 <= k.m <= 5 and len(cluster_graph(k).components) == 1
    sizes = {random_correlation_function(rng, max_tensors=4).m for _ in range(200)}
    assert sizes == {1, 2, 3, 4}
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        random_correlation_function(0)
    with pytest.raises(ValueError, match="max_tensors must be an integer >= 3"):
        random_correlation_function(rng, max_tensors=2, connected=True)
    with pytest.raises(ValueError, match="max_order must be an integer >= 0"):
        random_correlation_function(rng, max_order=-1)
