"""The cluster-graph rule: width exponents of correlation functions of derivative tensors.

Dyer & Gur-Ari's Conjecture 1 (`random-tensor-orders.md` §3 [paper]): build the *cluster
graph* of a correlation function $C$ with one vertex per tensor and an edge between two tensors
that share a contracted index; with $n_e$ even and $n_o$ odd connected components (the
*clusters*) and $m$ tensors,

$$C=O(n^{s_C}),\\qquad s_C=n_e+\\frac{n_o}2-\\frac m2=\\sum_{\\text{clusters}}
-\\Big\\lfloor\\frac{v-1}2\\Big\\rfloor$$

in NTK parametrisation, as the width $n\\to\\infty$.  The rule is an **upper bound** on the
order (D&G find it tight in most tested cases) and gives no coefficient.  It is proven for
linear networks, for one hidden layer with a smooth activation, and for ReLU networks with all
inputs equal; for deep nonlinear networks at distinct inputs it is a conjecture (§4).  Since
$n_o\\equiv m\\pmod 2$, $s_C$ is always an integer.

Construction rules (§3): several contractions between the same two tensors make one edge
[derived]; a trace adds no edge [derived]; undifferentiated factors $f(x)$ are vertices
[paper]; labels $y$ are not vertices [derived].

An expectation with an odd number $m$ of tensors is exactly zero at initialisation ($V\\to-V$
symmetry, §2 [derived, checked analytically]).  The rule's value is still returned for it: by
the variance lemma (§5.1 [paper]) $\\mathrm{Var}[F]=O(n^{2s_C})$, so $n^{s_C}$ bounds the
*typical size* of one realisation; [`is_identically_zero`][limitlab.theory.is_identically_zero]
says when the *mean* vanishes.

Other parametrisations (§7 [derived], one hidden layer for $a\\ne\\frac12$):
[`correlation_exponent`][limitlab.theory.correlation_exponent].

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import fractions
import re
from collections.abc import Iterable, Mapping

import sympy as sp

from ._correlations import CorrelationFunction, _as_correlation, _rational

__all__ = [
    "PARAMETRIZATIONS",
    "ClusterGraph",
    "Parametrization",
    "cluster_graph",
    "correlation_exponent",
    "exponent_of_terms",
    "is_identically_zero",
    "parametrization",
]


def _cluster_contribution(v: int) -> sp.Integer:
    return -sp.Integer((v - 1) // 2)


def _format_power(exponent) -> str:
    if exponent == sp.S.NegativeInfinity:
        return "0"
    return "O(1)" if exponent == 0 else f"O(n^{exponent})"


@dataclasses.dataclass(frozen=True)
class ClusterGraph:
    """The cluster graph of a correlation function and its exponent $s_C$ (reference §3).

    Build it with [`cluster_graph`][limitlab.theory.cluster_graph].

    **Fields:**

    - `correlation`: the [`CorrelationFunction`][limitlab.theory.CorrelationFunction].
    - `vertices`: the number of vertices $m$ (one per tensor; vertex `i` is factor `i`).
    - `edges`: the set of edges `(i, j)`, `i < j`, as a `frozenset` (several contractions
      between two tensors give one edge; traces give none).
    - `components`: the clusters, each a sorted tuple of vertex indices, ordered by their
      smallest vertex.

    Properties give the cluster `sizes`, `n_even`, `n_odd`, the `exponent` $s_C$ and the
    per-cluster `contributions` $-\\lfloor(v-1)/2\\rfloor$.
    """

    correlation: CorrelationFunction
    vertices: int
    edges: frozenset[tuple[int, int]]
    components: tuple[tuple[int, ...], ...]

    @property
    def m(self) -> int:
        """The number of tensors $m$ (same as `vertices`)."""
        return self.vertices

    @property
    def sizes(self) -> tuple[int, ...]:
        """The number of vertices $v$ of each cluster, in the order of `components`."""
        return tuple(len(c) for c in self.components)

    @property
    def n_even(self) -> int:
        """$n_e$, the number of clusters with an even number of vertices."""
        return sum(1 for v in self.sizes if v % 2 == 0)

    @property
    def n_odd(self) -> int:
        """$n_o$, the number of clusters with an odd number of vertices."""
        return sum(1 for v in self.sizes if v % 2 == 1)

    @property
    def contributions(self) -> tuple[sp.Integer, ...]:
        """Each cluster's share $-\\lfloor(v-1)/2\\rfloor$ of $s_C$ ($0,0,-1,-1,-2,\\dots$)."""
        return tuple(_cluster_contribution(v) for v in self.sizes)

    @property
    def exponent(self) -> sp.Rational:
        """$s_C=n_e+n_o/2-m/2$ (NTK parametrisation), an integer-valued sympy `Rational`."""
        return sp.Integer(self.n_even) + sp.Rational(self.n_odd - self.vertices, 2)

    @property
    def identically_zero(self) -> bool:
        """True when the expectation is exactly 0 ($m$ odd, or a zero coefficient)."""
        return is_identically_zero(self.correlation)

    def explanation(self, parametrization="ntk", *, dynamical: bool = False) -> str:
        """A multi-line, human-readable account of the rule applied to this correlation function.

        Lists the vertices, the edges (with their index letters), the traces, each cluster with
        its tensors, size and contribution $-\\lfloor(v-1)/2\\rfloor$, then $n_e$, $n_o$,
        $s_C=n_e+n_o/2-m/2$ and the resulting order; for another parametrisation, the §7
        adjustment as well.

        **Arguments:**

        - `parametrization`, `dynamical`: as in
          [`correlation_exponent`][limitlab.theory.correlation_exponent].

        **Returns:** the text (no trailing newline).
        """
        par = _resolve_parametrization(parametrization)
        c = self.correlation
        tensors = c.tensors
        width = len(str(self.vertices - 1))
        lines = [f"Correlation function: {c}"]
        lines.append("Cluster-graph rule (Dyer & Gur-Ari, Conjecture 1; reference §3): one vertex "
                     "per tensor, one edge per pair of distinct tensors sharing an index.")
        lines.append(f"Vertices (m = {self.vertices}):")
        for i, tensor in enumerate(tensors):
            lines.append(f"  v{i:<{width}}  {tensor}")
        by_edge: dict[tuple[int, int], list[str]] = {}
        traces: list[tuple[int, str]] = []
        for i, j, letter in c.pairs:
            if i == j:
                traces.append((i, letter))
            else:
                by_edge.setdefault((i, j), []).append(letter)
        if by_edge:
            parts = []
            for (i, j), letters in sorted(by_edge.items()):
                note = f", {len(letters)} contractions, one edge" if len(letters) > 1 else ""
                parts.append(f"v{i}-v{j} ({', '.join(letters)}{note})")
            lines.append("Edges: " + "; ".join(parts))
        else:
            lines.append("Edges: none")
        if traces:
            lines.append("Traces (no edge): " + "; ".join(f"v{i} ({letter})"
                                                          for i, letter in traces))
        lines.append(f"Clusters ({len(self.components)}):")
        labels = ["{" + ", ".join(f"v{i}" for i in comp) + "}" for comp in self.components]
        products = [" ".join(str(tensors[i]) for i in comp) for comp in self.components]
        label_width = max(len(s) for s in labels)
        product_width = max(len(s) for s in products)
        for label, product, v, share in zip(labels, products, self.sizes, self.contributions):
            parity = "even" if v % 2 == 0 else "odd"
            lines.append(f"  {label:<{label_width}}  {product:<{product_width}}  size {v} "
                         f"({parity}), contributes -floor(({v}-1)/2) = {share}")
        m, ne, no = self.vertices, self.n_even, self.n_odd
        lines.append(f"n_e = {ne} even, n_o = {no} odd clusters")
        lines.append(f"s_C = n_e + n_o/2 - m/2 = {ne} + {no}/2 - {m}/2 = {self.exponent}"
                     "  (the sum of the cluster contributions)")
        exponent = self.exponent
        if par.name != "ntk" or dynamical:
            p = len(c.pairs)
            exponent = correlation_exponent(c, par, dynamical=dynamical)
            kind = "dynamical (one learning rate eta n^b per pair)" if dynamical else "static"
            formula = "s_C - (a - 1/2) m + pair_gain p" + (" + b p" if dynamical else "")
            values = (f"{self.exponent} - ({par.a} - 1/2)*{m} + {par.pair_gain}*{p}"
                      + (f" + ({par.b})*{p}" if dynamical else ""))
            lines.append(f"Parametrisation {par.name} (a = {par.a}, b = {par.b}, pair_gain = "
                         f"{par.pair_gain}), {kind}, p = {p} contracted pairs (traces "
                         f"included): exponent = {formula} = {values} = {exponent}  "
                         "(reference §7 [derived]; one hidden layer unless a = 1/2)")
            where = f"in {par.name} parametrisation"
        else:
            where = "in NTK parametrisation"
        if self.identically_zero:
            if m % 2:
                reason = (f"m = {m} is odd, and flipping the readout V -> -V preserves the "
                          "initial law while changing the sign of every tensor (reference §2)")
            else:
                reason = "the coefficient is 0"
            lines.append(f"Prediction: C = 0 exactly at initialisation: {reason}. One "
                         f"realisation of the summed product is typically "
                         f"{_format_power(exponent)} {where} (variance lemma, reference §5.1): "
                         "an upper bound.")
        else:
            lines.append(f"Prediction: C = {_format_power(exponent)} {where}: an upper bound on "
                         "the order (tight in most cases D&G tested); the rule gives no "
                         "coefficient.")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-friendly dictionary.

        Keys: `correlation` (notation), `m`, `edges` (sorted `[i, j]` lists), `components`,
        `sizes`, `contributions` (ints), `n_even`, `n_odd`, `exponent` (string, e.g. `"-1"`),
        `identically_zero`.
        """
        return {
            "correlation": str(self.correlation),
            "m": self.vertices,
            "edges": [list(e) for e in sorted(self.edges)],
            "components": [list(c) for c in self.components],
            "sizes": list(self.sizes),
            "contributions": [int(s) for s in self.contributions],
            "n_even": self.n_even,
            "n_odd": self.n_odd,
            "exponent": str(self.exponent),
            "identically_zero": self.identically_zero,
        }


def cluster_graph(c: CorrelationFunction | str) -> ClusterGraph:
    """The cluster graph of a correlation function, by union–find over its contracted pairs.

    Vertex `i` is the `i`-th factor; each contracted pair between two distinct factors gives
    the edge `(i, j)` (repeated contractions collapse to one edge), traces give none
    (reference §3).  $s_C=n_e+n_o/2-m/2$ is then
    [`ClusterGraph.exponent`][limitlab.theory.ClusterGraph.exponent].

    **Arguments:**

    - `c`: a [`CorrelationFunction`][limitlab.theory.CorrelationFunction] or its notation.

    **Returns:** a [`ClusterGraph`][limitlab.theory.ClusterGraph].

    **Raises:** `ValueError` if `c` is a string that does not parse; `TypeError` for other
    types.

    **Example:**

    ```pycon
    >>> g = cluster_graph("E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]")
    >>> g.components, g.n_even, g.n_odd, g.exponent
    (((0, 1, 2), (3,)), 0, 2, -1)
    ```
    """
    c = _as_correlation(c)
    m = c.m
    parent = list(range(m))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    edges = set()
    for i, j, _ in c.pairs:
        if i == j:
            continue
        edges.add((i, j))
        root_i, root_j = find(i), find(j)
        if root_i != root_j:
            parent[max(root_i, root_j)] = min(root_i, root_j)
    clusters: dict[int, list[int]] = {}
    for i in range(m):
        clusters.setdefault(find(i), []).append(i)
    components = tuple(sorted(tuple(v) for v in clusters.values()))
    return ClusterGraph(correlation=c, vertices=m, edges=frozenset(edges), components=components)


PARAMETRIZATIONS: Mapping[str, tuple[sp.Rational, sp.Rational, sp.Rational]] = {
    "ntk": (sp.Rational(1, 2), sp.Integer(0), sp.Integer(0)),
    "standard": (sp.Rational(1, 2), sp.Integer(-1), sp.Integer(1)),
    "mean-field": (sp.Integer(1), sp.Integer(1), sp.Integer(0)),
}
"""Named parametrisations, name -> `(a, b, pair_gain)` (reference §7 [derived]).

`a`: output multiplier $n^{-a}$; `b`: learning rate $\\eta n^b$; `pair_gain`: extra width
exponent per contracted pair that the parametrisation itself gives at initialisation.
NTK $(\\frac12,0,0)$; standard $(\\frac12,-1,1)$ ($\\eta_{\\rm SP}=\\eta/n$); mean field $(1,1,0)$
($\\eta_{\\rm MF}=n\\eta$).
"""


@dataclasses.dataclass(frozen=True)
class Parametrization:
    """A width parametrisation for the generalised rule of reference §7 [derived].

    **Fields:**

    - `name`: `"ntk"`, `"standard"`, `"mean-field"`, or `"general:a=...,b=...,pair_gain=..."`.
    - `a`: the output multiplier is $n^{-a}$ ($\\frac12$ NTK and standard, $1$ mean field).
    - `b`: the learning rate is $\\eta\\,n^{b}$ ($0$ NTK, $-1$ standard, $1$ mean field).
    - `pair_gain`: the extra width exponent each contracted pair gets from the
      parametrisation itself at initialisation ($1$ standard: every derivative with respect to
      a fan-in-$n$ weight gains $n^{1/2}$; $0$ otherwise).

    All three numbers are stored as sympy `Rational`s.  Build one with
    [`parametrization`][limitlab.theory.parametrization].
    """

    name: str
    a: sp.Rational
    b: sp.Rational
    pair_gain: sp.Rational = sp.Integer(0)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Parametrization name must be a non-empty string, got {self.name!r}")
        for field in ("a", "b", "pair_gain"):
            object.__setattr__(self, field, _number(getattr(self, field), field))


_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(/\d+)?\Z")


def _number(value, argument: str) -> sp.Rational:
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_RE.match(text):
            raise ValueError(f"{argument} must be a rational number such as 1/2 or -1, "
                             f"got {value!r}")
        numerator, _, denominator = text.partition("/")
        if denominator and int(denominator) == 0:
            raise ValueError(f"{argument} has a zero denominator: {value!r}")
        result = fractions.Fraction(numerator) / fractions.Fraction(denominator or 1)
        return sp.Rational(result.numerator, result.denominator)
    return _rational(value, argument)


def _resolve_parametrization(spec) -> Parametrization:
    if isinstance(spec, Parametrization):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"parametrization must be a name, a 'general:a=...,b=...' string or a "
                        f"Parametrization, got {type(spec).__name__}")
    text = spec.strip()
    if text in PARAMETRIZATIONS:
        return Parametrization(text, *PARAMETRIZATIONS[text])
    if text.startswith("general:"):
        values: dict[str, sp.Rational] = {}
        for item in text[len("general:"):].split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in ("a", "b", "pair_gain"):
                raise ValueError(f"parametrization {spec!r}: bad item {item.strip()!r}; expected "
                                 "'general:a=<rational>,b=<rational>[,pair_gain=<rational>]'")
            if key in values:
                raise ValueError(f"parametrization {spec!r}: {key!r} given twice")
            values[key] = _number(value, f"parametrization {spec!r}: {key}")
        missing = [k for k in ("a", "b") if k not in values]
        if missing:
            raise ValueError(f"parametrization {spec!r}: missing {', '.join(missing)}; expected "
                             "'general:a=<rational>,b=<rational>[,pair_gain=<rational>]'")
        pair_gain = values.get("pair_gain", sp.Integer(0))
        name = f"general:a={values['a']},b={values['b']}"
        if pair_gain != 0:
            name += f",pair_gain={pair_gain}"
        return Parametrization(name, values["a"], values["b"], pair_gain)
    allowed = ", ".join(repr(k) for k in PARAMETRIZATIONS)
    raise ValueError(f"unknown parametrization {spec!r}; allowed values are {allowed} or "
                     "'general:a=<rational>,b=<rational>[,pair_gain=<rational>]'")


def parametrization(spec: str | Parametrization) -> Parametrization:
    """Resolve a parametrisation name or specification.

    **Arguments:**

    - `spec`: a name from [`PARAMETRIZATIONS`][limitlab.theory.PARAMETRIZATIONS] (`"ntk"`,
      `"standard"`, `"mean-field"`), a string `"general:a=1/2,b=0"` (optionally
      `",pair_gain=1"`; values are integers, fractions or decimals), or a
      [`Parametrization`][limitlab.theory.Parametrization] (returned as is).

    **Returns:** a [`Parametrization`][limitlab.theory.Parametrization].

    **Raises:** `ValueError` for an unknown name (listing the allowed ones) or a malformed
    `general:` string; `TypeError` for other types.

    **Example:**

    ```pycon
    >>> parametrization("general:a=1,b=1/2")
    Parametrization(name='general:a=1,b=1/2', a=1, b=1/2, pair_gain=0)
    ```
    """
    return _resolve_parametrization(spec)


def correlation_exponent(
    c: CorrelationFunction | str,
    parametrization: str | Parametrization = "ntk",
    *,
    dynamical: bool = False,
) -> sp.Rational:
    """The width exponent of a correlation function: $C=O(n^{\\text{exponent}})$.

    NTK parametrisation: the cluster-graph rule $s_C=n_e+n_o/2-m/2$ (reference §3 [paper],
    Conjecture 1; an upper bound).  Other parametrisations, by the general rule of §7
    [derived; one hidden layer for $a\\ne\\frac12$]:

    $$s_C-\\big(a-\\tfrac12\\big)\\,m+\\mathrm{pair\\_gain}\\cdot p+\\begin{cases}b\\,p&
    \\text{dynamical}\\\\0&\\text{static}\\end{cases}$$

    with $m$ the number of tensors and $p$ the number of contracted index pairs, **traces
    included** (a trace is a contracted pair of parameter indices: in standard
    parametrisation its two derivatives gain $n^{1/2}$ each, and in the dynamical convention
    it carries a learning rate like any other pair).  Edges matter only for connectivity
    ($s_C$).  `dynamical=True` measures the function with one factor $\\eta n^b$ per
    contracted pair — the normalisation gradient flow generates (each $d/dt$ adds one pair
    and one $\\eta$; S&O's $\\eta^{D/2+d}$ gives $\\eta^{1/2}$ per index, i.e. $\\eta$ per pair).

    Consequences: standard parametrisation at initialisation has exponent $s_C+p$ (the SP NTK
    is $O(n)$); with $\\eta_{\\rm SP}=\\eta/n$ every dynamical exponent equals NTK's.  In mean
    field the static NTK is $O(1/n)$ and the dynamical (normalised) kernel
    $\\eta_{\\rm MF}\\Theta_{\\rm MF}$ is $O(1)$.

    For an odd number of tensors the expectation is exactly 0 (see
    [`is_identically_zero`][limitlab.theory.is_identically_zero]); the value returned is
    still the rule's, which bounds the typical size of one realisation (variance lemma, §5.1).
    $s_C$ itself is always an integer; the generalised exponent may be a half-integer.

    **Arguments:**

    - `c`: a [`CorrelationFunction`][limitlab.theory.CorrelationFunction] or its notation.
    - `parametrization`: a name, a `"general:a=...,b=..."` string or a
      [`Parametrization`][limitlab.theory.Parametrization]; default `"ntk"`.
    - `dynamical`: include the learning-rate factor $(\\eta n^b)^p$.

    **Returns:** the exponent, a sympy `Rational`.

    **Raises:** `ValueError` for a string that does not parse or an unknown parametrisation.

    **Example:**

    ```pycon
    >>> correlation_exponent("E[df(x1)_a df(x2)_a]", "standard")
    1
    >>> correlation_exponent("E[df(x1)_a df(x2)_a]", "mean-field", dynamical=True)
    0
    ```
    """
    c = _as_correlation(c)
    par = _resolve_parametrization(parametrization)
    s_c = cluster_graph(c).exponent
    p = len(c.pairs)
    exponent = s_c - (par.a - sp.Rational(1, 2)) * c.m + par.pair_gain * p
    if dynamical:
        exponent += par.b * p
    return sp.Rational(exponent)


def is_identically_zero(c: CorrelationFunction | str) -> bool:
    """True when the expectation vanishes exactly at initialisation.

    That is the case for an odd number $m$ of tensors: flipping the readout weights $V\\to-V$
    preserves the symmetric initial law, leaves fully contracted sums invariant and changes
    the sign of each of the $m$ tensors (reference §2 [derived, checked analytically]; it holds
    in every parametrisation of §7, since $f$ is linear in $V$).  A zero coefficient also
    counts.  Only the *mean* vanishes: one realisation is typically of size $n^{s_C}$.

    **Arguments:**

    - `c`: a [`CorrelationFunction`][limitlab.theory.CorrelationFunction] or its notation.

    **Returns:** `bool`.
    """
    c = _as_correlation(c)
    return c.m % 2 == 1 or c.coefficient == 0


def exponent_of_terms(
    terms: Iterable[CorrelationFunction | str],
    parametrization: str | Parametrization = "ntk",
    *,
    dynamical: bool = False,
    typical: bool = False,
) -> sp.Rational:
    """The exponent of a sum of correlation functions: the largest exponent of its terms.

    Used for towers ([`operator_tower`][limitlab.theory.operator_tower],
    [`time_derivative_tower`][limitlab.theory.time_derivative_tower]).  The mean of a term with
    an odd number of tensors (or a zero coefficient) is exactly 0, so such terms are ignored
    unless `typical=True`, which asks for the typical size of one realisation instead (variance
    lemma, reference §5.1).  Cancellations between terms are not detected: the result is an
    upper bound, like each term's.

    **Arguments:**

    - `terms`: correlation functions or notation strings (at least one).
    - `parametrization`, `dynamical`: as in
      [`correlation_exponent`][limitlab.theory.correlation_exponent].
    - `typical`: include zero-mean terms.

    **Returns:** the maximum exponent (a sympy `Rational`), or `sympy.S.NegativeInfinity` when
    every term has an exactly vanishing mean.

    **Raises:** `ValueError` for an empty list.

    **Example:**

    ```pycon
    >>> from limitlab.theory import ntk_function, time_derivative_tower
    >>> exponent_of_terms(time_derivative_tower(ntk_function(), 1))
    -1
    ```
    """
    terms = [_as_correlation(t, "term") for t in terms]
    if not terms:
        raise ValueError("terms must hold at least one correlation function, got none")
    par = _resolve_parametrization(parametrization)
    exponents = [correlation_exponent(t, par, dynamical=dynamical) for t in terms
                 if typical or not is_identically_zero(t)]
    if not exponents:
        return sp.S.NegativeInfinity
    return max(exponents)
