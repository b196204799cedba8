"""Width orders of Shem-Ur & Oz's weak-correlation tensors and of derived training statistics.

Shem-Ur & Oz (arXiv:2401.04013, "S&O") study the derivative correlations

$$\\mathfrak C^{D,d}_{\\mu_1..\\mu_D}(x_0;x_1..x_d)=\\frac{\\eta^{D/2+d}}{D!\\,d!}
\\sum_{\\nu_1..\\nu_d}\\partial_{\\mu_1}\\!\\cdots\\partial_{\\mu_D}\\partial_{\\nu_1}\\!\\cdots
\\partial_{\\nu_d}F_{x_0}\\;\\partial_{\\nu_1}F_{x_1}\\cdots\\partial_{\\nu_d}F_{x_d}$$

(`random-tensor-orders.md` §6.2; the definition is [reconstructed], the index form
[derived]): $\\mathfrak C^{0,1}=\\eta\\Theta$ is the NTK, $\\mathfrak C^{0,2}$ the curvature
term of a GD step, $\\mathfrak C^{1,1}$ drives $d\\Theta/dt$, $\\mathfrak C^{2,0}$ is half the
Hessian.
Their typical size in NTK parametrisation follows from the cluster-graph rule applied to
$\\|\\mathfrak C\\|^2$ written as a two-copy correlation function (§6.6 [derived; one-hidden-layer
tanh checked numerically]).  **The S&O paper itself was not consulted for the reference**: none
of these orders is "the paper's statement".

[`DERIVED_ORDERS`][limitlab.theory.DERIVED_ORDERS] collects the orders of the training
statistics that the numerics and claims check (NTK, its drift, linearisation error, weight
change, Hessian norm), each with its provenance.

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from ._cluster_graphs import exponent_of_terms
from ._correlations import (
    _INDEX_LETTERS,
    MAX_ORDER,
    CorrelationFunction,
    Tensor,
    _rational,
    ntk_function,
    parse_correlation,
    time_derivative_tower,
)

__all__ = [
    "DERIVED_ORDERS",
    "DerivedOrder",
    "Order",
    "weak_correlation_function",
    "weak_correlation_order",
]

_STATUSES = ("derived", "guess", "paper")


@dataclasses.dataclass(frozen=True, eq=False)
class Order:
    """A width order $n^{\\text{exponent}}$ with its provenance.

    **Fields:**

    - `exponent`: a sympy `Rational`.
    - `status`: `"paper"` (checked against a paper's text), `"derived"` (derived for the
      reference, see `reason`) or `"guess"` (a pattern extrapolated beyond what was derived).
    - `reason`: one sentence saying where the number comes from, with the reference section.

    An `Order` compares equal to a number equal to its exponent (and to another `Order` with
    the same three fields); `float(order)` and `sympy.sympify(order)` give the exponent.
    """

    exponent: sp.Rational
    status: str
    reason: str

    def __post_init__(self):
        object.__setattr__(self, "exponent", _rational(self.exponent, "exponent"))
        if self.status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}, got {self.status!r}")

    def __eq__(self, other):
        if isinstance(other, Order):
            return (self.exponent, self.status, self.reason) == (
                other.exponent, other.status, other.reason)
        if isinstance(other, int | float | sp.Basic):
            return bool(self.exponent == other)
        return NotImplemented

    def __hash__(self):
        return hash(self.exponent)

    def __float__(self):
        return float(self.exponent)

    def _sympy_(self):
        return self.exponent

    @property
    def is_guess(self) -> bool:
        """True when `status == "guess"`."""
        return self.status == "guess"


def _check_degrees(D, d) -> tuple[int, int]:
    for name, value in (("D", D), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if D + d == 0:
        raise ValueError("C^{0,0} is F itself, not a correlation; need D + d >= 1, got D = d = 0")
    return D, d


def weak_correlation_order(D: int, d: int) -> Order:
    """The typical size $n^{\\text{exponent}}$ of S&O's $\\mathfrak C^{D,d}$ in NTK parametrisation.

    Reference §6.6 [derived; one-hidden-layer tanh checked numerically], in the subordinate
    (operator) norm, at initialisation, for fixed inputs:

    | $(D,d)$ | exponent | status |
    |---|---|---|
    | $(0,1)$, the NTK | $0$ | paper (D&G: $\\mathbb E\\Theta=O(1)$) |
    | $(0,d)$, $d\\ge2$ | $-\\lfloor d/2\\rfloor$ (a star cluster of $d+1$ tensors) | derived |
    | $(1,0)$ | $0$: $\\|\\mathfrak C^{1,0}\\|^2=\\eta\\Theta(x_0,x_0)$ cannot be small | derived |
    | $(1,d)$, $d\\ge1$ | $-d/2$ (two stars joined: one even cluster of $2(d+1)$) | derived |
    | $(2,0)$, Hessian | $-\\frac12$, up to a logarithm (one hidden layer) | derived |
    | anything else | $-(D+d-1)/2$ | **guess** |

    The last row is the compact form of §6.6, a guess at S&O's "exponential" weak
    correlations and not the paper's statement; it agrees with the derived rows except for
    $(0,d)$ with $d$ even, where it is a weaker bound ($-(d-1)/2>-d/2$).  For $D=0$ and even $d$
    the mean of $\\mathfrak C^{0,d}$ is exactly 0 (odd number of tensors); the order is that of
    one realisation.  Constant factors ($\\eta$, $1/D!d!$) do not change the order.

    **Arguments:**

    - `D`: the number of free parameter indices, $\\ge0$.
    - `d`: the number of gradient factors, $\\ge0$; $D+d\\ge1$.

    **Returns:** an [`Order`][limitlab.theory.Order] (exponent, status, reason); it compares
    equal to its exponent.

    **Raises:** `ValueError` for negative degrees or $D=d=0$; `TypeError` for non-integers.

    **Example:**

    ```pycon
    >>> weak_correlation_order(1, 1).exponent, weak_correlation_order(3, 2).status
    (-1/2, 'guess')
    ```
    """
    D, d = _check_degrees(D, d)
    half = sp.Rational(1, 2)
    if (D, d) == (0, 1):
        return Order(0, "paper", "C^{0,1} = eta*Theta, the NTK: E[Theta] = O(1) (Dyer & Gur-Ari; "
                                 "reference §5.2 and §8 case 3 [paper])")
    if D == 0:
        return Order(-(d // 2), "derived",
                     f"C^(0,{d}) is a star cluster of {d + 1} tensors: s = -floor({d}/2) "
                     "(reference §6.6 [derived; one-hidden-layer tanh checked numerically])")
    if (D, d) == (1, 0):
        return Order(0, "derived",
                     "||C^(1,0)||^2 = eta*||grad F||^2 = eta*Theta(x0,x0) = O(1): it cannot be "
                     "small (reference §6.3 index-range caveat [derived])")
    if D == 1:
        return Order(-d * half, "derived",
                     f"||C^(1,{d})||^2 joins two stars at the free index: one even cluster of "
                     f"{2 * (d + 1)} tensors, exponent -{d}, so ||C^(1,{d})|| ~ n^(-{d}/2) "
                     "(reference §6.6 [derived; one-hidden-layer tanh checked numerically])")
    if (D, d) == (2, 0):
        return Order(-half, "derived",
                     "Hessian operator norm, up to a logarithmic factor from the maximum over "
                     "neurons (one hidden layer; Liu-Zhu-Belkin 2020 give O~(n^-1/2) for deep "
                     "nets); its Frobenius norm is O(1) (reference §6.4, §6.6 [derived])")
    return Order(-(D + d - 1) * half, "guess",
                 f"compact form -(D+d-1)/2 fitted to the derived entries (reference §6.6): a "
                 f"guess at S&O's 'exponential' weak correlations for (D,d) = ({D},{d}), not "
                 "the paper's statement")


def weak_correlation_function(D: int, d: int, *, frobenius: bool = False) -> CorrelationFunction:
    """$\\|\\mathfrak C^{D,d}\\|^2$ as a two-copy correlation function (constants dropped).

    Two copies of $\\partial^{D+d}F(x_0)_{\\mu\\nu}\\prod_i\\partial F(x_i)_{\\nu_i}$ at the same
    inputs, each with its own $\\nu$'s and the $D$ free indices $\\mu$ contracted between the
    copies (reference §6.6 and §8 case 13 [derived]).  For $D\\le1$ the squared norm is the
    subordinate norm squared, so the rule's exponent is twice
    [`weak_correlation_order`][limitlab.theory.weak_correlation_order]: e.g.
    $(1,1)$ gives `E[d2f(x0)_ab df(x1)_b d2f(x0)_ac df(x1)_c]`, one even cluster of 4,
    exponent $-1$.  For $D\\ge2$ the operator norm is not a correlation function; the Frobenius
    norm is (`frobenius=True`) but it is larger, $n^{-d/2}$, and not the right statistic.

    **Arguments:**

    - `D`, `d`: as in [`weak_correlation_order`][limitlab.theory.weak_correlation_order],
      with $D+d\\le12$.
    - `frobenius`: allow $D\\ge2$ and return the squared Frobenius norm.

    **Returns:** a [`CorrelationFunction`][limitlab.theory.CorrelationFunction] with inputs
    `x0` (the tensor's input) and `x1`, ..., `xd` (the gradients').

    **Raises:** `ValueError` for $D\\ge2$ without `frobenius=True`, $D+d>12$, negative degrees
    or $D=d=0$.
    """
    D, d = _check_degrees(D, d)
    if D + d > MAX_ORDER:
        raise ValueError(f"D + d must be <= {MAX_ORDER} (largest derivative order), got {D + d}")
    if D >= 2 and not frobenius:
        raise ValueError(
            f"the operator norm of C^({D},{d}) (D >= 2) is not a correlation function; pass "
            "frobenius=True for the squared Frobenius norm, which scales as n^(-d/2) and is not "
            "the statistic of weak_correlation_order"
        )
    letters = iter(_INDEX_LETTERS)
    mu = tuple(next(letters) for _ in range(D))
    tensors: list[Tensor] = []
    for _copy in range(2):
        nu = tuple(next(letters) for _ in range(d))
        tensors.append(Tensor(D + d, "x0", mu + nu))
        tensors.extend(Tensor(1, f"x{i + 1}", (nu[i],)) for i in range(d))
    return CorrelationFunction(tuple(tensors))


@dataclasses.dataclass(frozen=True)
class DerivedOrder:
    """A named width order of a training statistic, with the correlation functions behind it.

    **Fields:**

    - `name`: a short identifier, e.g. `"ntk-drift"`.
    - `exponent`: the predicted order $n^{\\text{exponent}}$, a sympy `Rational`.
    - `statistic`: what is measured, in words (and where: mean, typical size, norm).
    - `correlation_functions`: the correlation functions whose rule exponents give (or
      support) `exponent`; for the weight change and the Hessian operator norm the rule alone
      does not give the number, see `note`.
    - `status`: `"paper"` or `"derived"` (as in [`Order`][limitlab.theory.Order]).
    - `source`: the sections of `random-tensor-orders.md`.
    - `note`: how the exponent follows from the correlation functions.
    """

    name: str
    exponent: sp.Rational
    statistic: str
    correlation_functions: tuple[CorrelationFunction, ...]
    status: str
    source: str
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "exponent", _rational(self.exponent, "exponent"))
        object.__setattr__(self, "correlation_functions", tuple(self.correlation_functions))
        if self.status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict:
        """A JSON-friendly dictionary (exponent as a string, correlation functions as notation)."""
        return {
            "name": self.name,
            "exponent": str(self.exponent),
            "statistic": self.statistic,
            "correlation_functions": [str(c) for c in self.correlation_functions],
            "status": self.status,
            "source": self.source,
            "note": self.note,
        }


def _beyond_linear(terms):
    """The terms containing a second or higher derivative: absent from the linearised model."""
    return tuple(t for t in terms if any(x.order >= 2 for x in t.tensors))


def _derived_orders() -> tuple[DerivedOrder, ...]:
    drift = tuple(time_derivative_tower(ntk_function(), 1))
    second = _beyond_linear(time_derivative_tower(parse_correlation("f(x)"), 2))
    assert exponent_of_terms(drift) == -1 and exponent_of_terms(second) == -1
    return (
        DerivedOrder(
            name="ntk-init",
            exponent=0,
            statistic="E[Theta(x1,x2)] at initialisation (and the typical size of Theta)",
            correlation_functions=(ntk_function(),),
            status="paper",
            source="§5.2, §8 case 3",
            note="one even cluster of 2: s_C = 1 - 1 = 0",
        ),
        DerivedOrder(
            name="ntk-drift",
            exponent=-1,
            statistic="E[dTheta(x1,x2)/dt] at initialisation, gradient flow on the summed MSE",
            correlation_functions=drift,
            status="paper",
            source="§5.2",
            note="E[d2f(x1)_ab df(x2)_a df(x')_b f(x')] + (x1 <-> x2): n_e = 0, n_o = 2, m = 4, "
                 "s_C = -1; the label terms have m = 3 and vanish in expectation",
        ),
        DerivedOrder(
            name="ntk-change",
            exponent=-1,
            statistic="typical ||Theta_T - Theta_0|| (absolute or relative to ||Theta_0||) at a "
                      "fixed training time T; log-log slope against width",
            correlation_functions=drift,
            status="derived",
            source="§5.1, §5.2, §8 case 16",
            note="E[Theta_T - Theta_0] = O(1/n) [paper, assuming analyticity in t and that the "
                 "Taylor series in t commutes with the width limit]; every higher time "
                 "derivative keeps the exponent (lemma §5.1) and typical realisations follow "
                 "the mean's bound (variance lemma): slope -1, not Jacot et al.'s -1/2",
        ),
        DerivedOrder(
            name="linearisation-error",
            exponent=-1,
            statistic="|f_T(x) - f_lin,T(x)| on a test point at a fixed training time T",
            correlation_functions=second,
            status="derived",
            source="§5.3, §5.6, §8 case 16",
            note="f - f_lin starts at second order in t through the terms of d^2f/dt^2 with a "
                 "d2f factor (the drift of the kernel): their maximum exponent is -1; the first "
                 "correction to constant-kernel dynamics is O(Theta^(1)) = O(1/n)",
        ),
        DerivedOrder(
            name="relative-weight-change",
            exponent=sp.Rational(-1, 2),
            statistic="||theta_T - theta_0|| / ||theta_0||, one hidden layer, fixed T",
            correlation_functions=(ntk_function("x'1", "x'2"),),
            status="derived",
            source="§5.3, §8 case 16",
            note="||theta_T - theta_0||^2 is bounded by T^2 sum_{x',x''} Theta(x',x'') "
                 "(f-y)(f-y) = O(1) by the rule; ||theta_0|| ~ sqrt(P) with P ~ n(D_in + 1), "
                 "which gives -1/2 (not from the rule) [derived, checked numerically]; deep "
                 "hidden n x n layers differ (§5.3)",
        ),
        DerivedOrder(
            name="hessian-operator-norm",
            exponent=sp.Rational(-1, 2),
            statistic="operator norm of the Hessian of f(x) in the parameters, one hidden layer, "
                      "at initialisation (up to a logarithmic factor)",
            correlation_functions=(weak_correlation_function(2, 0, frobenius=True),),
            status="derived",
            source="§5.4, §6.4, §6.6, §8 case 14",
            note="C^(2,0) = (eta/2) Hessian; the operator norm is not a correlation function. The "
                 "squared Frobenius norm E[d2f(x0)_ab d2f(x0)_ab] is O(1) by the rule, so the "
                 "Frobenius norm is the wrong statistic; the -1/2 comes from the O(n) "
                 "dimension of the Hessian (eigenvalues ~ 1/sqrt(dim), §5.4) and a maximum over "
                 "neurons (log factor)",
        ),
    )


DERIVED_ORDERS: tuple[DerivedOrder, ...] = _derived_orders()
"""The orders of the training statistics checked by limitlab, NTK parametrisation.

Entries (`name`: exponent): `ntk-init`: 0 [paper]; `ntk-drift` ($\\mathbb E\\,d\\Theta/dt$):
$-1$ [paper]; `ntk-change` ($\\Theta_T-\\Theta_0$): $-1$; `linearisation-error`
($f-f_{\\rm lin}$ during training): $-1$; `relative-weight-change`
($\\|\\theta_t-\\theta_0\\|/\\|\\theta_0\\|$, one hidden layer): $-\\frac12$;
`hessian-operator-norm` (one hidden layer, up to a log): $-\\frac12$ [derived].  See each
[`DerivedOrder`][limitlab.theory.DerivedOrder]'s `source`, `status` and `note`.
"""
