import json
import random

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from helpers import correlation_functions

from limitlab.theory import (
    PARAMETRIZATIONS,
    CorrelationFunction,
    Parametrization,
    Tensor,
    cluster_graph,
    correlation_exponent,
    exponent_of_terms,
    is_identically_zero,
    ntk_function,
    parametrization,
    parse_correlation,
)

# Reference §8: (notation, (n_e, n_o), s_C).  Cases 1-6 are D&G's table [paper]; 8-13 the
# further cases with a correlation function (MSE: l' = f - y, l'' = 1).
CASES = [
    ("1 NNGP", "E[f(x1) f(x2)]", (0, 2), 0),
    ("2 four outputs", "E[f(x1) f(x2) f(x3) f(x4)]", (0, 4), 0),
    ("3 mean NTK", "E[df(x1)_a df(x2)_a]", (1, 0), 0),
    ("4 dTheta/dt", "E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]", (0, 2), -1),
    ("5 O_4-like", "E[df(x1)_a df(x2)_b df(x3)_c d3f(x4)_abc]", (1, 0), -1),
    ("6 two stars", "E[df(x1)_a df(x2)_b d2f(x3)_ab df(x4)_c df(x5)_d d2f(x6)_cd]", (0, 2), -2),
    ("8 Theta Theta", "E[df(x1)_a df(x2)_a df(x3)_b df(x4)_b]", (2, 0), 0),
    ("9 Theta f f", "E[df(x1)_a df(x2)_a f(x3) f(x4)]", (1, 2), 0),
    ("9 df/dt integrand", "E[df(x)_a df(x')_a f(x')]", (1, 1), 0),
    ("10 Theta Theta f", "E[df(x)_a df(x')_a df(x')_b df(x'')_b f(x'')]", (2, 1), 0),
    ("10 O_3 f f", "E[d2f(x1)_ab df(x2)_a df(x3)_b f(x4) f(x5)]", (0, 3), -1),
    ("11 Hessian Frobenius", "E[d2f(x1)_ab d2f(x2)_ab]", (1, 0), 0),
    ("11 Tr B^2", "E[d2f(x1)_ab d2f(x2)_ab f(x1) f(x2)]", (1, 2), 0),
    ("12 Tr AB", "E[df(x1)_a df(x1)_b d2f(x2)_ab f(x2)]", (0, 2), -1),
    ("13 ||C^{1,1}||^2", "E[d2f(x0)_ab df(x1)_b d2f(x0)_ac df(x1)_c]", (1, 0), -1),
    ("§5.2 drift", "E[d2f(x1)_ab df(x2)_a df(x')_b f(x')]", (0, 2), -1),
]


@pytest.mark.parametrize("name, text, counts, exponent", CASES, ids=[c[0] for c in CASES])
def test_reference_cases(name, text, counts, exponent):
    graph = cluster_graph(text)
    assert (graph.n_even, graph.n_odd) == counts
    assert graph.exponent == exponent
    assert isinstance(graph.exponent, sp.Rational)
    assert correlation_exponent(text) == exponent
    # The variance bound of D&G's table: the doubled function has exponent 2 s_C.
    c = parse_correlation(text)
    copy = c.relabel({x: x.upper() for x in c.index_letters}, {x: x + "_2" for x in c.inputs})
    assert correlation_exponent(c * copy) == 2 * exponent


def test_odd_cases_are_identically_zero():
    assert is_identically_zero("E[df(x)_a df(x')_a f(x')]")
    assert is_identically_zero("E[d2f(x1)_ab df(x2)_a df(x3)_b f(x4) f(x5)]")
    assert not is_identically_zero("E[df(x1)_a df(x2)_a]")
    assert is_identically_zero(0 * ntk_function())
    # Exponents of sums ignore zero-mean terms unless the typical size is asked for.
    terms = ["E[df(x)_a df(x')_a f(x')]", "E[d2f(x1)_ab df(x2)_a df(x')_b f(x')]"]
    assert exponent_of_terms(terms) == -1
    assert exponent_of_terms(terms, typical=True) == 0
    assert exponent_of_terms(terms[:1]) == sp.S.NegativeInfinity
    with pytest.raises(ValueError, match="at least one"):
        exponent_of_terms([])


def test_construction_rules():
    # Repeated contractions between one pair of tensors: one edge.
    graph = cluster_graph("E[d3f(x1)_abc d3f(x2)_abc]")
    assert graph.edges == frozenset({(0, 1)}) and graph.sizes == (2,)
    # A trace adds no edge.
    graph = cluster_graph("E[d2f(x1)_aa d2f(x2)_bb]")
    assert graph.edges == frozenset() and graph.components == ((0,), (1,))
    assert graph.exponent == 0
    # Several clusters, in order of their smallest vertex.
    graph = cluster_graph("E[f(x0) df(x1)_a df(x2)_b df(x3)_a df(x4)_b]")
    assert graph.components == ((0,), (1, 3), (2, 4))
    assert graph.sizes == (1, 2, 2) and graph.contributions == (0, 0, 0)


def test_explanation_and_dict():
    graph = cluster_graph("E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4) d2f(x5)_cc d2f(x6)_dd]")
    text = graph.explanation()
    for fragment in [
        "m = 6",
        "v0-v2 (a); v1-v2 (b)",
        "Traces (no edge): v4 (c); v5 (d)",
        "{v0, v1, v2}",
        "size 3 (odd), contributes -floor((3-1)/2) = -1",
        "n_e = 0 even, n_o = 4 odd clusters",
        "s_C = n_e + n_o/2 - m/2 = 0 + 4/2 - 6/2 = -1",
        "O(n^-1) in NTK parametrisation",
        "upper bound",
    ]:
        assert fragment in text, text
    text = cluster_graph("E[d2f(x1)_ab d2f(x2)_ab f(x3)]").explanation()
    assert "v0-v1 (a, b, 2 contractions, one edge)" in text
    assert "C = 0 exactly" in text and "m = 3 is odd" in text
    text = cluster_graph("E[df(x1)_a df(x2)_a]").explanation("standard")
    assert "Parametrisation standard" in text and "= 1" in text and "O(n^1)" in text
    data = graph.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["exponent"] == "-1" and data["sizes"] == [3, 1, 1, 1]
    assert data["identically_zero"] is False


# -------------------------------------------------------------------- properties


@given(correlation_functions(), st.randoms(use_true_random=False))
def test_exponent_invariant_under_relabelling_and_permutation(c, rnd):
    letters = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    rnd.shuffle(letters)
    index_map = dict(zip(c.index_letters, letters))
    inputs = [f"y{k}" for k in range(len(c.inputs))]
    rnd.shuffle(inputs)
    relabelled = c.relabel(index_map, dict(zip(c.inputs, inputs)))
    order = list(range(c.m))
    rnd.shuffle(order)
    permuted = CorrelationFunction(tuple(relabelled.tensors[i] for i in order), c.coefficient)
    graph, other = cluster_graph(c), cluster_graph(permuted)
    assert other.exponent == graph.exponent
    assert sorted(other.sizes) == sorted(graph.sizes)
    for name in PARAMETRIZATIONS:
        for dynamical in (False, True):
            assert (correlation_exponent(permuted, name, dynamical=dynamical)
                    == correlation_exponent(c, name, dynamical=dynamical))


@given(correlation_functions())
def test_exponent_is_an_integer_and_additive_over_clusters(c):
    """n_o = m (mod 2), so s_C = n_e + (n_o - m)/2 is always an integer (reference §3)."""
    graph = cluster_graph(c)
    assert (graph.n_odd - graph.m) % 2 == 0
    assert (2 * graph.exponent).is_integer and graph.exponent.is_integer
    assert graph.exponent <= 0
    assert graph.exponent == sum(graph.contributions)
    # Each cluster alone is a valid correlation function with the cluster's contribution.
    total = 0
    for component, share in zip(graph.components, graph.contributions):
        part = CorrelationFunction(tuple(c.tensors[i] for i in component))
        assert cluster_graph(part).exponent == share == -((len(component) - 1) // 2)
        total += correlation_exponent(part)
    assert total == graph.exponent
    assert is_identically_zero(c) == (c.m % 2 == 1 or c.coefficient == 0)


@st.composite
def connected_functions(draw):
    """Connected patterns with m >= 3: a random spanning tree plus random extra pairs."""
    m = draw(st.integers(3, 7))
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    indices: list[list[str]] = [[] for _ in range(m)]
    for v in range(1, m):
        u = draw(st.integers(0, v - 1))
        x = next(letters)
        indices[u].append(x)
        indices[v].append(x)
    for _ in range(draw(st.integers(0, 3))):
        u, v = draw(st.integers(0, m - 1)), draw(st.integers(0, m - 1))
        if len(indices[u]) < 10 and len(indices[v]) < 10:
            x = next(letters)
            indices[u].append(x)
            indices[v].append(x)
    return CorrelationFunction(tuple(Tensor(len(ix), f"x{i}", tuple(ix))
                                     for i, ix in enumerate(indices)))


@given(connected_functions())
def test_connected_patterns_are_suppressed(c):
    graph = cluster_graph(c)
    assert len(graph.components) == 1
    assert graph.exponent == -((c.m - 1) // 2) <= -1


@given(correlation_functions(max_tensors=5), st.data())
def test_subgraph_lemma(c, data):
    """§5.1: adding an edge never increases the exponent; adding a vertex f(x) changes nothing."""
    s = correlation_exponent(c)
    grown = c * parse_correlation("f(x_new)")
    assert correlation_exponent(grown) == s
    i = data.draw(st.integers(0, c.m - 1))
    j = data.draw(st.integers(0, c.m - 1))
    letter = next(x for x in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  if x not in c.index_letters)
    tensors = list(c.tensors)
    for k in {i, j}:
        t = tensors[k]
        extra = (letter,) if i != j else (letter, letter)
        tensors[k] = Tensor(t.order + len(extra), t.input, t.indices + extra)
    joined = CorrelationFunction(tuple(tensors), c.coefficient)
    graph, before = cluster_graph(joined), cluster_graph(c)
    s_new = graph.exponent
    assert s_new <= s
    # The exact change of §5.1: 0 inside a cluster or joining two odd clusters, else -1.
    ci = next(k for k, comp in enumerate(before.components) if i in comp)
    cj = next(k for k, comp in enumerate(before.components) if j in comp)
    if ci == cj or (before.sizes[ci] % 2 == 1 and before.sizes[cj] % 2 == 1):
        assert s_new == s
    else:
        assert s_new == s - 1


# -------------------------------------------------------------- parametrisations


def test_named_parametrizations():
    assert PARAMETRIZATIONS["ntk"] == (sp.Rational(1, 2), 0, 0)
    assert PARAMETRIZATIONS["standard"] == (sp.Rational(1, 2), -1, 1)
    assert PARAMETRIZATIONS["mean-field"] == (1, 1, 0)
    for values in PARAMETRIZATIONS.values():
        assert all(isinstance(v, sp.Rational) for v in values)
    par = parametrization("standard")
    assert par == Parametrization("standard", sp.Rational(1, 2), -1, 1)
    assert parametrization(par) is par


def test_parametrization_rules_for_the_ntk():
    theta = ntk_function()  # m = 2, one pair
    assert correlation_exponent(theta) == 0
    assert correlation_exponent(theta, "standard") == 1  # SP NTK is O(n)
    assert correlation_exponent(theta, "standard", dynamical=True) == 0
    assert correlation_exponent(theta, "mean-field") == -1
    assert correlation_exponent(theta, "mean-field", dynamical=True) == 0
    assert correlation_exponent(theta, "general:a=1/2,b=0") == 0


def test_traces_count_as_pairs():
    c = "E[d2f(x1)_aa d2f(x2)_bb]"  # two traces, no edge
    assert correlation_exponent(c) == 0
    assert correlation_exponent(c, "standard") == 2
    assert correlation_exponent(c, "general:a=1/2,b=1", dynamical=True) == 2


@given(correlation_functions())
def test_standard_parametrization(c):
    """SP at initialisation: s_C + p; with eta_SP = eta/n the dynamical exponent is NTK's."""
    s, p = correlation_exponent(c), len(c.pairs)
    assert correlation_exponent(c, "standard") == s + p
    assert correlation_exponent(c, "standard", dynamical=True) == s
    assert correlation_exponent(c, "mean-field") == s - sp.Rational(c.m, 2)


def test_mean_field_kernel_derivatives():
    """§7: d^k K/dt^k in mean field: O(1) for even k, O(n^-1/2) typical for odd k."""
    from limitlab.theory import time_derivative_tower

    for k, expected in [(1, sp.Rational(-1, 2)), (2, 0)]:
        terms = time_derivative_tower(ntk_function(), k)
        got = exponent_of_terms(terms, "mean-field", dynamical=True, typical=True)
        assert got == expected


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("ntp", "unknown parametrization 'ntp'; allowed values are 'ntk', 'standard'"),
        ("general:a=1/2", "missing b"),
        ("general:a=1/2,b=0,c=1", "bad item 'c=1'"),
        ("general:a=x,b=0", "must be a rational number"),
        ("general:a=1/0,b=0", "zero denominator"),
        ("general:a=1,a=1,b=0", "'a' given twice"),
    ],
)
def test_parametrization_errors(spec, fragment):
    with pytest.raises(ValueError) as info:
        parametrization(spec)
    assert fragment in str(info.value)


def test_general_parametrization_strings():
    par = parametrization("general: a = 0.75, b=-1/2, pair_gain=1")
    assert (par.a, par.b, par.pair_gain) == (sp.Rational(3, 4), sp.Rational(-1, 2), 1)
    assert par.name == "general:a=3/4,b=-1/2,pair_gain=1"
    assert parametrization(par.name) == par
    with pytest.raises(TypeError):
        parametrization(1)


def test_random_relabelling_example():
    """A deterministic spot check of the invariance on the §8 #6 pattern."""
    c = parse_correlation(CASES[5][1])
    rnd = random.Random(3)
    order = list(range(c.m))
    rnd.shuffle(order)
    shuffled = CorrelationFunction(tuple(c.tensors[i] for i in order))
    assert correlation_exponent(shuffled) == -2
