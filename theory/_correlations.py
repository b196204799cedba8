"""Correlation functions of random derivative tensors: notation, parser and builders.

A *correlation function* (Dyer & Gur-Ari 2020, `random-tensor-orders.md` §2 [paper]) is the
expectation over the random initialisation of a product of derivative tensors
$T_{\\mu_1\\dots\\mu_k}(x)=\\partial^kf(x)/\\partial\\theta^{\\mu_1}\\cdots
\\partial\\theta^{\\mu_k}$
of the network output, with every parameter index summed in pairs:

$$C=\\sum_{\\mu,\\nu,\\dots}\\mathbb E_\\theta\\big[\\partial_\\mu f(x_1)\\,\\partial_\\nu f(x_2)\\,
\\partial^2_{\\mu\\nu}f(x_3)\\,f(x_4)\\big].$$

limitlab writes it in a plain-text notation, one factor per tensor:

```text
E[ df(x1)_a df(x2)_b d2f(x3)_ab f(x4) ]
```

- tensor names: `f` (order 0, no indices), `df` (order 1), `d2f`, `d3f`, ..., `d12f`;
- the argument in parentheses is an *input label* (`x1`, `x'`, `x_test`, `x'2`: a letter,
  then letters, digits, `_` or `'`); equal labels mean the same input;
- after `_`, one letter per parameter index (`d2f(x3)_ab` carries the indices `a` and `b`);
- every index letter appears exactly twice: in two different tensors it is a contracted pair
  (an edge of the cluster graph), twice in one tensor it is a trace (no edge);
- factors are separated by whitespace or `*`; the `E[ ]` wrapper is optional; an optional
  rational coefficient may precede the product (`-E[...]`, `2*E[...]`, `1/2 E[...]`).

Input-independent constants (the labels $y$ of the loss) are not written: they are not tensors
(§3 construction rules [derived]).  The parser is a hand-written scanner: nothing is evaluated.

The builders generate the correlation functions of D&G's dynamics: the NTK, the operator tower
$O_s$ (§5.6 [paper]) and the time derivatives under gradient flow on the MSE loss (§5.1
[paper]).  Exponents are computed in [`cluster_graph`][limitlab.theory.cluster_graph].

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import fractions
import itertools
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence

import sympy as sp

__all__ = [
    "random_correlation_function",
    "CorrelationFunction",
    "Tensor",
    "ntk_function",
    "operator_tower",
    "parse_correlation",
    "time_derivative_tower",
]

MAX_ORDER = 12
"""The largest derivative order a tensor may carry (`d12f`)."""

_INDEX_LETTERS = string.ascii_lowercase + string.ascii_uppercase
_INPUT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_']*\Z")
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_TENSOR_NAME_RE = re.compile(r"(?:f|df|d([1-9][0-9]*)f)\Z")
_LETTERS_RE = re.compile(r"[A-Za-z]*")
_COEFFICIENT_RE = re.compile(r"([+-]?)\s*(\d+(?:/\d+)?)?\s*")
_MAX_LENGTH = 4000
_MAX_TOWER_S = 8
_MAX_TIME_DERIVATIVES = 5
# Above this many candidate orderings, `_canonical_key` gives up and two terms are combined
# only if they are literally equal: still correct, merely less compact.
_CANONICAL_LIMIT = 5000


def _tensor_name(order: int) -> str:
    return "f" if order == 0 else "df" if order == 1 else f"d{order}f"


def _allowed_names() -> str:
    return "f, df, d2f, d3f, ..., d12f"


@dataclasses.dataclass(frozen=True)
class Tensor:
    """A derivative tensor of order $k$:

    $\\partial^kf(x)/\\partial\\theta^{\\mu_1}\\cdots\\partial\\theta^{\\mu_k}$

    Derivative tensors are symmetric in their indices, so the order of `indices` carries no
    meaning for the maths (it is kept, so that the notation round-trips).

    **Fields:**

    - `order`: the derivative order $k$, $0\\le k\\le12$ (`f`, `df`, `d2f`, ...).
    - `input`: the input label, e.g. `"x1"` or `"x'2"` (a letter, then letters, digits, `_`,
      `'`).
    - `indices`: one single-letter parameter index per derivative, e.g. `("a", "b")`.

    **Raises:** `ValueError` for an order out of range, a bad input label, an index that is not
    a single ASCII letter, or `len(indices) != order`; `TypeError` for wrongly typed fields.
    """

    order: int
    input: str
    indices: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.order, bool) or not isinstance(self.order, int):
            raise TypeError(f"Tensor order must be an int, got {self.order!r}")
        if not 0 <= self.order <= MAX_ORDER:
            raise ValueError(f"Tensor order must be between 0 and {MAX_ORDER}, got {self.order}")
        if not isinstance(self.input, str) or not _INPUT_RE.match(self.input):
            raise ValueError(
                f"Tensor input label must look like x1, x', x_test (a letter, then letters, "
                f"digits, '_' or \"'\"), got {self.input!r}"
            )
        if isinstance(self.indices, str):
            raise TypeError(f"Tensor indices must be a tuple of letters, got the string "
                            f"{self.indices!r} (write tuple({self.indices!r}))")
        indices = tuple(self.indices)
        for index in indices:
            if not isinstance(index, str) or len(index) != 1 or index not in _INDEX_LETTERS:
                raise ValueError(f"Tensor index must be a single ASCII letter, got {index!r}")
        if len(indices) != self.order:
            raise ValueError(
                f"Tensor {_tensor_name(self.order)}({self.input}) has order {self.order} and "
                f"needs {self.order} indices, got {len(indices)}: {indices}"
            )
        object.__setattr__(self, "indices", indices)

    @property
    def name(self) -> str:
        """The tensor's name in the notation: `f`, `df`, `d2f`, ..."""
        return _tensor_name(self.order)

    def __str__(self) -> str:
        suffix = "_" + "".join(self.indices) if self.indices else ""
        return f"{self.name}({self.input}){suffix}"


def _rational(value, argument: str) -> sp.Rational:
    if isinstance(value, bool):
        raise TypeError(f"{argument} must be a rational number, got {value!r}")
    if isinstance(value, sp.Rational):
        return value
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, fractions.Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{argument} must be finite, got {value!r}")
        return sp.Rational(repr(value))
    if isinstance(value, sp.Basic) and value.is_Rational:
        return sp.Rational(value)
    raise TypeError(f"{argument} must be a rational number (int, Fraction or sympy Rational), "
                    f"got {value!r} of type {type(value).__name__}")


def _index_errors(tensors: Sequence[Tensor]) -> str | None:
    """A description of the first index not used exactly twice, or None."""
    seen: dict[str, list[int]] = {}
    for position, tensor in enumerate(tensors):
        for index in tensor.indices:
            seen.setdefault(index, []).append(position)
    for index, where in seen.items():
        if len(where) != 2:
            places = ", ".join(f"{tensors[i]} (factor {i})" for i in dict.fromkeys(where))
            count = "only once" if len(where) == 1 else f"{len(where)} times"
            return (f"index {index!r} appears {count} (in {places}); every index must appear "
                    "exactly twice (a contracted pair or a trace)")
    return None


@dataclasses.dataclass(frozen=True, repr=False)
class CorrelationFunction:
    """A product of derivative tensors with every index contracted, times a rational coefficient.

    Stands for $c\\,\\sum_{\\mu\\dots}\\mathbb E_\\theta[T(x_1)\\cdots T(x_m)]$ (reference §2
    [paper]), with the parameter indices paired as the letters say.  Equality is structural
    (same factors in the same order, same letters, same coefficient); the exponent functions
    are invariant under relabelling and reordering.

    **Fields:**

    - `tensors`: the factors, a non-empty tuple of [`Tensor`][limitlab.theory.Tensor]s.
    - `coefficient`: a sympy `Rational` (default 1); ints and `Fraction`s are converted.

    **Raises:** `ValueError` for an empty product or an index that does not appear exactly
    twice; `TypeError` for a factor that is not a `Tensor`.

    **Example:**

    ```pycon
    >>> c = parse_correlation("E[df(x1)_a df(x2)_a]")
    >>> c.m, c.pairs
    (2, ((0, 1, 'a'),))
    >>> str(-2 * c)
    '-2*E[df(x1)_a df(x2)_a]'
    ```
    """

    tensors: tuple[Tensor, ...]
    coefficient: sp.Rational = sp.Integer(1)

    def __post_init__(self):
        tensors = tuple(self.tensors)
        if not tensors:
            raise ValueError("a correlation function needs at least one tensor (empty product)")
        for tensor in tensors:
            if not isinstance(tensor, Tensor):
                raise TypeError(f"factors must be Tensor objects, got {tensor!r}")
        problem = _index_errors(tensors)
        if problem is not None:
            raise ValueError(problem)
        object.__setattr__(self, "tensors", tensors)
        object.__setattr__(self, "coefficient", _rational(self.coefficient, "coefficient"))

    @property
    def m(self) -> int:
        """The number of tensors $m$ (vertices of the cluster graph)."""
        return len(self.tensors)

    @property
    def pairs(self) -> tuple[tuple[int, int, str], ...]:
        """Every contracted index pair as `(i, j, letter)` with factor positions `i <= j`.

        Traces (both slots in one tensor) appear with `i == j`; they are contracted pairs of
        parameter indices but add no edge to the cluster graph.  Ordered by the letter's first
        appearance.
        """
        first: dict[str, int] = {}
        found: dict[str, tuple[int, int, str]] = {}
        for position, tensor in enumerate(self.tensors):
            for index in tensor.indices:
                if index in first:
                    found[index] = (first[index], position, index)
                else:
                    first[index] = position
        return tuple(found[index] for index in first)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The distinct input labels, in order of first appearance."""
        return tuple(dict.fromkeys(t.input for t in self.tensors))

    @property
    def index_letters(self) -> tuple[str, ...]:
        """The distinct index letters, in order of first appearance."""
        return tuple(dict.fromkeys(i for t in self.tensors for i in t.indices))

    def relabel(
        self,
        index_map: Mapping[str, str] | None = None,
        input_map: Mapping[str, str] | None = None,
    ) -> CorrelationFunction:
        """The same correlation function with index letters and/or input labels renamed.

        Letters and labels absent from the maps are kept.  A map that merges two index
        letters makes an index appear four times and is rejected.

        **Arguments:**

        - `index_map`: old letter -> new letter.
        - `input_map`: old input label -> new input label.

        **Returns:** a new [`CorrelationFunction`][limitlab.theory.CorrelationFunction].

        **Raises:** `ValueError` if the result is not a valid correlation function.
        """
        index_map = dict(index_map or {})
        input_map = dict(input_map or {})
        tensors = tuple(
            Tensor(t.order, input_map.get(t.input, t.input),
                   tuple(index_map.get(i, i) for i in t.indices))
            for t in self.tensors
        )
        return CorrelationFunction(tensors, self.coefficient)

    def notation(self) -> str:
        """The canonical notation, the same as `str(self)`."""
        product = "E[" + " ".join(str(t) for t in self.tensors) + "]"
        if self.coefficient == 1:
            return product
        if self.coefficient == -1:
            return "-" + product
        return f"{self.coefficient}*{product}"

    def __str__(self) -> str:
        return self.notation()

    def __repr__(self) -> str:
        return f"parse_correlation({self.notation()!r})"

    def __mul__(self, other):
        if isinstance(other, CorrelationFunction):
            clash = set(self.index_letters) & set(other.index_letters)
            if clash:
                raise ValueError(
                    f"cannot multiply {self} by {other}: index letters {sorted(clash)} appear in "
                    "both factors; relabel one of them first"
                )
            return CorrelationFunction(self.tensors + other.tensors,
                                       self.coefficient * other.coefficient)
        try:
            factor = _rational(other, "factor")
        except TypeError:
            return NotImplemented
        return CorrelationFunction(self.tensors, self.coefficient * factor)

    def __rmul__(self, other):
        return self.__mul__(other)

    def __neg__(self):
        return CorrelationFunction(self.tensors, -self.coefficient)

    def to_dict(self) -> dict:
        """A JSON-friendly dictionary.

        Keys: `notation` (canonical string), `coefficient` (string such as `"-1/2"`), `m`,
        `tensors` (list of `{"order", "input", "indices"}`), `pairs` (list of `[i, j, letter]`),
        `inputs`.
        """
        return {
            "notation": self.notation(),
            "coefficient": str(self.coefficient),
            "m": self.m,
            "tensors": [
                {"order": t.order, "input": t.input, "indices": list(t.indices)}
                for t in self.tensors
            ],
            "pairs": [list(p) for p in self.pairs],
            "inputs": list(self.inputs),
        }


def _as_correlation(c, argument: str = "c") -> CorrelationFunction:
    if isinstance(c, CorrelationFunction):
        return c
    if isinstance(c, str):
        return parse_correlation(c)
    raise TypeError(f"{argument} must be a CorrelationFunction or its notation string, "
                    f"got {type(c).__name__}")


def parse_correlation(text: str) -> CorrelationFunction:
    """Parse the notation `E[ df(x1)_a df(x2)_b d2f(x3)_ab f(x4) ]` into a correlation function.

    Grammar (whitespace is free between factors, not inside one):

    ```text
    correlation := [coefficient ['*']] ( 'E[' product ']' | product )
    coefficient := ['+'|'-'] [integer ['/' integer]]
    product     := factor { (whitespace | '*') factor }
    factor      := name '(' input ')' [ '_' letters ]
    name        := 'f' | 'df' | 'd' K 'f'          (K = 1..12; 'd1f' is read as 'df')
    input       := letter { letter | digit | '_' | "'" }
    ```

    Each index letter must appear exactly twice; the number of letters after `_` must equal
    the tensor's derivative order.  The scanner never evaluates anything.

    **Arguments:**

    - `text`: the notation string (at most 4000 characters).

    **Returns:** a [`CorrelationFunction`][limitlab.theory.CorrelationFunction]; its `str` gives
    the canonical notation back, and `parse_correlation(str(c)) == c`.

    **Raises:** `ValueError` naming the offending piece and its (0-based) position: an index
    used once or three or more times, an unknown tensor name, a wrong number of indices, an
    empty product, a bad input label, unbalanced brackets or parentheses, or any other
    character out of place; `TypeError` if `text` is not a string.

    **Example:**

    ```pycon
    >>> c = parse_correlation("E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]")
    >>> [t.order for t in c.tensors], c.pairs
    ([1, 1, 2, 0], ((0, 2, 'a'), (1, 2, 'b')))
    ```
    """
    if not isinstance(text, str):
        raise TypeError(f"correlation function must be a string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"correlation function is longer than {_MAX_LENGTH} characters")

    shown = text if len(text) <= 120 else text[:117] + "..."

    def fail(what: str) -> ValueError:
        return ValueError(f"correlation function {shown!r}: {what}")

    n = len(text)
    p = 0
    match = _COEFFICIENT_RE.match(text, p)
    sign, number = match.group(1), match.group(2)
    coefficient = sp.Integer(1)
    if number is not None:
        numerator, _, denominator = number.partition("/")
        if denominator and int(denominator) == 0:
            raise fail(f"zero denominator in the coefficient {number!r} at position "
                       f"{match.start(2)}")
        coefficient = sp.Rational(int(numerator), int(denominator or 1))
    if sign == "-":
        coefficient = -coefficient
    p = match.end()
    if number is not None and p < n and text[p] == "*":
        p += 1
    elif (sign or number is not None) and p < n and text[p] == "*":
        raise fail(f"unexpected '*' at position {p}")

    while p < n and text[p].isspace():
        p += 1
    bracket = None
    if text.startswith("E", p):
        q = p + 1
        while q < n and text[q].isspace():
            q += 1
        if q < n and text[q] == "[":
            bracket = q
            p = q + 1

    factors: list[tuple[Tensor, int, str]] = []
    closed = False
    after_star: int | None = None
    while True:
        while p < n and text[p].isspace():
            p += 1
        if p == n:
            break
        ch = text[p]
        if ch == "]":
            if bracket is None:
                raise fail(f"unbalanced brackets: ']' at position {p} has no matching '['")
            closed = True
            p += 1
            rest = text[p:].strip()
            if rest:
                raise fail(f"unexpected text {rest[:20]!r} after the closing ']' at position "
                           f"{p - 1}")
            break
        if ch == "*":
            if not factors or after_star is not None:
                raise fail(f"'*' at position {p} must stand between two factors")
            after_star = p
            p += 1
            continue
        if ch == "[":
            raise fail(f"unexpected '[' at position {p} (only the outer 'E[ ... ]' is allowed)")
        name_match = _NAME_RE.match(text, p)
        if name_match is None:
            raise fail(f"unexpected character {ch!r} at position {p}; expected a tensor such as "
                       "'df(x1)_a'")
        name = name_match.group()
        order_match = _TENSOR_NAME_RE.match(name)
        if order_match is None:
            raise fail(f"unknown tensor name {name!r} at position {p}; allowed names are "
                       f"{_allowed_names()}")
        if name == "f":
            order = 0
        elif name == "df":
            order = 1
        else:
            order = int(order_match.group(1))
            if order > MAX_ORDER:
                raise fail(f"tensor {name!r} at position {p} has derivative order {order}; the "
                           f"largest allowed is {MAX_ORDER} ('d{MAX_ORDER}f')")
        q = name_match.end()
        if q >= n or text[q] != "(":
            raise fail(f"expected '(' and an input label after the tensor name {name!r} at "
                       f"position {q}")
        close = q + 1
        while close < n and text[close] not in "()[]":
            close += 1
        if close >= n or text[close] != ")":
            raise fail(f"unbalanced parentheses: '(' at position {q} is never closed")
        label = text[q + 1:close].strip()
        if not _INPUT_RE.match(label):
            raise fail(f"bad input label {label!r} at position {q + 1}; input labels look like "
                       "x1, x', x_test (a letter, then letters, digits, '_' or \"'\")")
        r = close + 1
        letters = ""
        if r < n and text[r] == "_":
            letters = _LETTERS_RE.match(text, r + 1).group()
            if not letters:
                raise fail(f"expected index letters after '_' at position {r}")
            r += 1 + len(letters)
        token = text[p:r]
        if len(letters) != order:
            raise fail(f"tensor {token!r} at position {p} has {len(letters)} "
                       f"ind{'ex' if len(letters) == 1 else 'ices'}, but {name} (derivative "
                       f"order {order}) needs exactly {order}")
        if r < n and not (text[r].isspace() or text[r] in "*]"):
            raise fail(f"unexpected character {text[r]!r} at position {r} after the tensor "
                       f"{token!r}; separate factors with spaces or '*', one letter per index")
        factors.append((Tensor(order, label, tuple(letters)), p, token))
        after_star = None
        p = r
    if after_star is not None:
        raise fail(f"'*' at position {after_star} must stand between two factors")
    if bracket is not None and not closed:
        raise fail(f"unbalanced brackets: '[' at position {bracket} is never closed")
    if not factors:
        raise fail("empty product: no tensor found (write e.g. 'E[df(x1)_a df(x2)_a]')")

    where: dict[str, list[int]] = {}
    for k, (tensor, _, _) in enumerate(factors):
        for index in tensor.indices:
            where.setdefault(index, []).append(k)
    for index, ks in where.items():
        if len(ks) != 2:
            places = ", ".join(f"{factors[k][2]!r} at position {factors[k][1]}"
                               for k in dict.fromkeys(ks))
            if len(ks) == 1:
                raise fail(f"index {index!r} appears only once (in {places}); every index must "
                           "appear exactly twice, as a contracted pair or a trace")
            raise fail(f"index {index!r} appears {len(ks)} times (in {places}); every index "
                       "must appear exactly twice")
    return CorrelationFunction(tuple(f[0] for f in factors), coefficient)


def ntk_function(x1: str = "x1", x2: str = "x2") -> CorrelationFunction:
    """The mean NTK as a correlation function, `E[df(x1)_a df(x2)_a]`.

    $$\\mathbb E[\\Theta(x_1,x_2)]=\\sum_\\mu\\mathbb E[\\partial_\\mu f(x_1)\\,
    \\partial_\\mu f(x_2)]$$

    Reference §2 and §8 case 3 [paper]: one even cluster of 2, $s_C=0$.

    **Arguments:**

    - `x1`, `x2`: the two input labels.

    **Returns:** `E[df(x1)_a df(x2)_a]` as a
    [`CorrelationFunction`][limitlab.theory.CorrelationFunction].
    """
    return CorrelationFunction((Tensor(1, x1, ("a",)), Tensor(1, x2, ("a",))))


def _fresh_letter(used: Iterable[str]) -> str:
    used = set(used)
    for letter in _INDEX_LETTERS:
        if letter not in used:
            return letter
    raise ValueError(f"ran out of index letters (all {len(_INDEX_LETTERS)} ASCII letters are "
                     "used); the expression is too large")


def _product_rule(tensors: tuple[Tensor, ...], letter: str) -> list[tuple[Tensor, ...]]:
    """$\\partial_\\nu$ of a product: one new index `letter` on each factor in turn (unpaired)."""
    out = []
    for i, tensor in enumerate(tensors):
        if tensor.order >= MAX_ORDER:
            raise ValueError(f"differentiating {tensor} would exceed the largest derivative "
                             f"order {MAX_ORDER}")
        raised = Tensor(tensor.order + 1, tensor.input, tensor.indices + (letter,))
        out.append(tensors[:i] + (raised,) + tensors[i + 1:])
    return out


def _canonical_key(tensors: tuple[Tensor, ...], dummy_inputs: tuple[str, ...]):
    """A key equal for two products iff they are equal up to index relabelling, reordering of
    the factors and a renaming of the `dummy_inputs` (summed training inputs) among themselves.

    Factors are sorted by a relabelling-invariant colour (order, input or "a dummy", traces,
    then two rounds of the colours of contraction partners and of factors sharing a dummy
    input); the remaining ties are tried exhaustively, indices and dummy inputs are named by
    first appearance, and the smallest serialisation wins.  Returns None when that would take
    more than `_CANONICAL_LIMIT` orderings.
    """
    m = len(tensors)
    dummy = set(dummy_inputs)
    partners: list[list[int]] = [[] for _ in range(m)]
    location: dict[str, int] = {}
    partner_of: dict[tuple[int, str], int] = {}
    for i, tensor in enumerate(tensors):
        for index in tensor.indices:
            if index in location:
                j = location[index]
                partners[i].append(j)
                partners[j].append(i)
                partner_of[(i, index)] = j
                partner_of[(j, index)] = i
            else:
                location[index] = i
    siblings = [[j for j, u in enumerate(tensors) if j != i and u.input == t.input]
                if t.input in dummy else [] for i, t in enumerate(tensors)]
    colours = [(t.order, "" if t.input in dummy else t.input, t.input in dummy,
                partners[i].count(i)) for i, t in enumerate(tensors)]
    for _ in range(2):
        colours = [(colours[i], tuple(sorted(colours[j] for j in partners[i])),
                    tuple(sorted(colours[j] for j in siblings[i]))) for i in range(m)]
    order = sorted(range(m), key=lambda i: colours[i])
    groups = [list(g) for _, g in itertools.groupby(order, key=lambda i: colours[i])]
    count = 1
    for g in groups:
        count *= math.factorial(len(g))
        if count > _CANONICAL_LIMIT:
            return None
    best = None
    for arrangement in itertools.product(*(itertools.permutations(g) for g in groups)):
        sequence = [i for g in arrangement for i in g]
        position = {i: k for k, i in enumerate(sequence)}
        names: dict[str, int] = {}
        dummy_names: dict[str, int] = {}
        serial = []
        for i in sequence:
            tensor = tensors[i]
            old = sorted(names[x] for x in tensor.indices if x in names)
            new = [x for x in tensor.indices if x not in names]
            # A new index is named by where its partner sits; equal keys are interchangeable.
            new.sort(key=lambda x: position[partner_of[(i, x)]])
            for x in new:
                if x not in names:
                    names[x] = len(names)
            slots = tuple(sorted(old + [names[x] for x in new]))
            if tensor.input in dummy:
                label = (1, dummy_names.setdefault(tensor.input, len(dummy_names)))
            else:
                label = (0, tensor.input)
            serial.append((tensor.order, label, slots))
        serial = tuple(serial)
        if best is None or serial < best:
            best = serial
    return best


def _combine(terms: list[tuple[tuple[Tensor, ...], sp.Rational]], dummy_inputs=()):
    """Sum the coefficients of terms equal up to relabelling; drop zeros; keep first order."""
    combined: dict = {}
    for tensors, coefficient in terms:
        key = _canonical_key(tensors, tuple(dummy_inputs))
        if key is None:
            key = ("literal", tensors)
        if key in combined:
            combined[key][1] += coefficient
        else:
            combined[key] = [tensors, coefficient]
    return [(t, c) for t, c in combined.values() if c != 0]


def operator_tower(s: int, inputs: Sequence[str] | None = None) -> list[CorrelationFunction]:
    """The operator $O_s(x_1,\\dots,x_s)$ of D&G's tower, expanded into correlation functions.

    $$O_1=f(x_1),\\qquad O_s(x_1,\\dots,x_s)=\\sum_\\mu\\partial_\\mu O_{s-1}(x_1,\\dots,x_{s-1})\\,
    \\partial_\\mu f(x_s)$$

    (reference §5.6 [paper]), so $O_2=\\Theta$ and
    $O_3=\\sum_{\\mu\\nu}[\\partial^2_{\\mu\\nu}f_1\\,\\partial_\\mu f_2+\\partial_\\mu f_1\\,
    \\partial^2_{\\mu\\nu}f_2]\\,\\partial_\\nu f_3$.  The product rule makes $O_s$ a sum of
    $(s-1)!$ products, each a single cluster of $s$ tensors; terms equal up to relabelling
    (only possible when inputs repeat) are combined.  Multiplied by any extra factor $F$ the
    rule gives $\\mathbb E[O_sF]=O(n^{(2-s)/2})$ for even $s$ and $O(n^{(1-s)/2})$ for odd
    $s$ (§5.6 [paper]; see [`exponent_of_terms`][limitlab.theory.exponent_of_terms]).

    **Arguments:**

    - `s`: the level, $1\\le s\\le8$.
    - `inputs`: the $s$ input labels; default `("x1", ..., "xs")`.

    **Returns:** a list of [`CorrelationFunction`][limitlab.theory.CorrelationFunction]s, each
    with coefficient 1 (or the multiplicity of combined terms); $O_s$ is their sum.

    **Raises:** `ValueError` for `s` out of range or a wrong number of inputs.

    **Example:**

    ```pycon
    >>> [str(c) for c in operator_tower(3)]
    ['E[d2f(x1)_ab df(x2)_a df(x3)_b]', 'E[df(x1)_a d2f(x2)_ab df(x3)_b]']
    ```
    """
    if isinstance(s, bool) or not isinstance(s, int):
        raise TypeError(f"s must be an int, got {s!r}")
    if not 1 <= s <= _MAX_TOWER_S:
        raise ValueError(f"s must be between 1 and {_MAX_TOWER_S} (O_s has (s-1)! terms), got {s}")
    if inputs is None:
        inputs = tuple(f"x{k}" for k in range(1, s + 1))
    else:
        inputs = tuple(inputs)
        if len(inputs) != s:
            raise ValueError(f"inputs must hold s = {s} labels, got {len(inputs)}: {inputs}")
    terms = [((Tensor(0, inputs[0]),), sp.Integer(1))]
    for k in range(1, s):
        letter = _INDEX_LETTERS[k - 1]
        new = []
        for tensors, coefficient in terms:
            for raised in _product_rule(tensors, letter):
                new.append((raised + (Tensor(1, inputs[k], (letter,)),), coefficient))
        # Distinct inputs make every product-rule path a different tree: nothing to combine.
        terms = new if len(set(inputs)) == s else _combine(new)
    return [CorrelationFunction(t, c) for t, c in terms]


def _fresh_input(level: int, used: set[str]) -> str:
    k = level
    while f"x'{k}" in used:
        k += 1
    return f"x'{k}"


def time_derivative_tower(
    c: CorrelationFunction | str,
    k: int,
    *,
    loss: str = "mse",
    combine: bool = True,
) -> list[CorrelationFunction]:
    """The correlation functions in $d^kC/dt^k$ under gradient flow on the MSE loss.

    Conventions of D&G (reference §1 [paper]): $L=\\sum_{x'\\in D_{\\rm tr}}\\tfrac12
    (f(x')-y')^2$ (a sum over the training set), $\\dot\\theta=-\\nabla_\\theta L$, hence for
    every factor

    $$\\frac{d}{dt}\\,\\partial^pf(x)_{I}=-\\sum_{x'}\\sum_\\nu\\partial^{p+1}f(x)_{I\\nu}\\,
    \\partial_\\nu f(x')\\,\\big(f(x')-y'\\big),$$

    applied with the product rule over all factors (including those created by earlier
    derivatives).  Each $d/dt$ introduces a fresh index letter and a fresh summed training
    input `x'1`, `x'2`, ... (skipping labels already used).  The $-y'$ part gives a term
    **without** an $f(x')$ factor and with the opposite sign: labels are constants, not
    vertices (§3 [derived]).  A term in which `x'j` carries a single tensor therefore stands
    for that term times $y(x'_j)$, and the sum over the training inputs is implied.  Each
    $d/dt$ adds at most two tensors and one contracted pair, so the rule's exponent never
    increases (time-derivative lemma, §5.1 [paper]).

    **Arguments:**

    - `c`: the correlation function (or its notation); its coefficient multiplies every term.
    - `k`: the number of time derivatives, $0\\le k\\le5$ ($k=0$ returns `[c]`).
    - `loss`: only `"mse"` ($\\tfrac12(f-y)^2$, so $\\partial_f\\ell=f-y$) is implemented.
    - `combine`: sum the coefficients of terms equal up to relabelling of indices, reordering
      of factors and permutation of the summed inputs `x'j`, and drop terms that cancel.

    **Returns:** the list of terms, each a
    [`CorrelationFunction`][limitlab.theory.CorrelationFunction] whose coefficient is an
    integer (sign and multiplicity included) times `c.coefficient`; $d^kC/dt^k$ is their sum.
    The number of terms grows fast: for the NTK 4, 22, 130, 835 and 5624 terms for
    $k=1,\\dots,5$ (the last takes several seconds).

    **Raises:** `ValueError` for `k` out of range, an unknown `loss`, or a derivative order
    beyond 12.

    **Example:**

    ```pycon
    >>> for term in time_derivative_tower("E[df(x1)_a df(x2)_a]", 1):
    ...     print(term)
    -E[d2f(x1)_ab df(x2)_a df(x'1)_b f(x'1)]
    E[d2f(x1)_ab df(x2)_a df(x'1)_b]
    -E[df(x1)_a d2f(x2)_ab df(x'1)_b f(x'1)]
    E[df(x1)_a d2f(x2)_ab df(x'1)_b]
    ```
    """
    c = _as_correlation(c)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {k!r}")
    if not 0 <= k <= _MAX_TIME_DERIVATIVES:
        raise ValueError(f"k must be between 0 and {_MAX_TIME_DERIVATIVES}, got {k}")
    if loss != "mse":
        raise ValueError(f"loss must be 'mse' (the only loss implemented), got {loss!r}")
    used_inputs = set(c.inputs)
    terms = [(c.tensors, c.coefficient)]
    dummies: list[str] = []
    for level in range(1, k + 1):
        label = _fresh_input(level, used_inputs)
        used_inputs.add(label)
        dummies.append(label)
        new = []
        for tensors, coefficient in terms:
            letter = _fresh_letter(i for t in tensors for i in t.indices)
            gradient = Tensor(1, label, (letter,))
            for raised in _product_rule(tensors, letter):
                new.append((raised + (gradient, Tensor(0, label)), -coefficient))
                new.append((raised + (gradient,), coefficient))
        terms = _combine(new, dummies) if combine else new
    return [CorrelationFunction(t, coefficient) for t, coefficient in terms]


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def random_correlation_function(
    rng, *, max_tensors: int = 6, max_order: int = 3, connected: bool = False
) -> CorrelationFunction:
    """A random valid correlation-function pattern, for property checks.

    `m` tensors ($1\\le m\\le$ `max_tensors`, uniform) of random orders $0..$`max_order`
    (one order adjusted by one if their sum is odd), all index slots paired uniformly at random,
    inputs drawn from `x1..xm` (so inputs repeat), coefficient 1.  With `connected=True`:
    $m\\ge3$ and the pattern's cluster graph is connected (a random spanning tree of
    contractions, then up to three random extra pairs), orders following from the pairs.

    **Arguments:**

    - `rng`: a `numpy.random.Generator` (e.g. `numpy.random.default_rng(seed)`).
    - `max_tensors`: integer $\\ge1$ ($\\ge3$ with `connected`).
    - `max_order`: integer $\\ge0$, the largest derivative order (ignored with `connected`).
    - `connected`: draw a connected pattern.

    **Returns:** a [`CorrelationFunction`][limitlab.theory.CorrelationFunction].

    **Raises:** `ValueError` for bad sizes; `TypeError` if `rng` is not a numpy Generator.
    """
    import numpy as np

    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    least = 3 if connected else 1
    for name, value, low in (("max_tensors", max_tensors, least), ("max_order", max_order, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    m = int(rng.integers(least, max_tensors + 1))
    indices: list[list[str]] = [[] for _ in range(m)]
    letters = iter(rng.permutation(list(_LETTERS)))
    if connected:
        pairs = [(int(rng.integers(0, v)), v) for v in range(1, m)]
        pairs += [tuple(int(u) for u in rng.integers(0, m, size=2))
                  for _ in range(int(rng.integers(0, 4)))]
    else:
        orders = [int(k) for k in rng.integers(0, max_order + 1, size=m)]
        if sum(orders) % 2:
            i = int(rng.integers(0, m))
            orders[i] += 1 if orders[i] < max_order else -1
        slots = rng.permutation([i for i, k in enumerate(orders) for _ in range(k)])
        pairs = [(int(slots[2 * j]), int(slots[2 * j + 1])) for j in range(len(slots) // 2)]
    for u, v in pairs:
        letter = str(next(letters))
        indices[u].append(letter)
        indices[v].append(letter)
    inputs = [f"x{int(i) + 1}" for i in rng.integers(0, m, size=m)]
    return CorrelationFunction(
        tuple(Tensor(len(ix), x, tuple(ix)) for ix, x in zip(indices, inputs)))
