"""Inner-product kernels on the sphere: NNGP and NTK of wide fully connected networks.

Kernels in limitlab are inner-product kernels on $\\mathbb S^{d-1}(\\sqrt d)$,
$K(x,x')=h(z)$ with $z=\\langle x,x'\\rangle/d\\in[-1,1]$ (so $\\lVert x\\rVert^2/d=1$), and $h$
is a sympy expression in the real symbol [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE]
$z$.  This module builds the exact infinite-width NNGP and NTK of fully connected ReLU and erf
networks (Neal 1996; Lee et al. 2018; Jacot, Gabriel & Hongler 2018; Arora et al. 2019)
[literature], parses kernel names and kernel formulas, and expands a kernel in its Taylor series
at $z=0$, whose coefficients feed the Funk–Hecke eigenvalues on the sphere.
"""

from __future__ import annotations

import cmath
import functools
import itertools
import math
import re
from collections.abc import Callable
from types import MappingProxyType

import mpmath
import sympy as sp

from ._arccos import arccos_j
from ._parsing import parse_expression
from ._sphere import KERNEL_VARIABLE

__all__ = [
    "ACTIVATIONS",
    "KERNEL_KINDS",
    "KERNEL_VARIABLE",
    "WEIGHT_VARIANCE",
    "kernel_expression",
    "kernel_taylor_coefficients",
    "named_kernel",
    "nngp_kernel",
    "ntk_kernel",
]


ACTIVATIONS = ("relu", "erf")
"""Activations with built-in closed-form kernels."""

KERNEL_KINDS = ("nngp", "ntk")
"""Built-in kernel kinds: the NNGP (output covariance at initialisation) and the NTK."""

WEIGHT_VARIANCE = MappingProxyType({"relu": sp.Integer(2), "erf": sp.Integer(1)})
"""$\\sigma_w^2$ of the hidden and readout layers, per activation: 2 for ReLU (He
initialisation, which keeps $\\Sigma_l(1)=1$), 1 for erf."""

_MAX_DEPTH = MappingProxyType({"relu": 8, "erf": 5})
# Expressions nest: depth L contains Sigma_{L-1} several times.  Sympy shares the subtrees,
# but printing and lambdify are exponential in L (ReLU NTK, depth 8: lambdify 10 s, 1.5 s with
# cse=True; depth 12: 80 s even with cse).  The erf diagonal q_L is a nested exact constant,
# and sympy's automatic numerical checks on it (during construction, `subs`, `evalf`) grow
# three- to fourfold per layer: about 1 s to build depth 5, 5 s for 6, a minute for 8.

z = KERNEL_VARIABLE


# ---------------------------------------------------------------------------------------------
# Built-in kernels


def _check_activation(activation: str) -> str:
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
    return activation


def _check_depth(depth: int, activation: str) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise TypeError(f"depth must be an int, got {type(depth).__name__}")
    if not 1 <= depth <= _MAX_DEPTH[activation]:
        raise ValueError(
            f"depth (number of hidden layers) must be an integer in "
            f"[1, {_MAX_DEPTH[activation]}] for {activation}, got {depth}"
        )
    return depth


def _check_bias_variance(bias_variance) -> sp.Expr:
    if isinstance(bias_variance, bool):
        raise TypeError("bias_variance must be a real number, got bool")
    if isinstance(bias_variance, float):
        if not math.isfinite(bias_variance):
            raise ValueError(
                f"bias_variance must be a finite non-negative number, got {bias_variance}"
            )
        # repr gives the shortest decimal that round-trips: 0.1 -> 1/10, as in the parser.
        value = sp.Rational(repr(bias_variance))
    else:
        try:
            value = sp.sympify(bias_variance, strict=True)
        except (sp.SympifyError, TypeError):
            raise TypeError(
                f"bias_variance must be a real number, got {type(bias_variance).__name__}"
            ) from None
    if not (value.is_number and value.is_extended_real and value.is_finite and value >= 0):
        raise ValueError(
            f"bias_variance must be a finite non-negative real number, got {bias_variance!r}"
        )
    return value


def _relu_layer(sigma, theta, q, bias):
    # Cho & Saul with ||u|| = ||v|| = sqrt(q) (both inputs have the same norm on the sphere):
    #   E[relu(u) relu(v)] = q J_1(t) / (2 pi),  E[1{u>0} 1{v>0}] = J_0(t) / (2 pi),
    # cos t = Sigma / q.  With sigma_w^2 = 2 the 1/(2 pi) becomes 1/pi.
    half_sw2 = WEIGHT_VARIANCE["relu"] / 2
    angle = sp.acos(sigma / q)
    new_sigma = half_sw2 * q * arccos_j(1, angle) / sp.pi + bias
    dot_sigma = half_sw2 * arccos_j(0, angle) / sp.pi
    new_q = half_sw2 * q + bias
    return new_sigma, new_sigma + theta * dot_sigma, new_q


def _erf_layer(sigma, theta, q, bias):
    # Williams (1997): for (u, v) centred Gaussian with E u^2 = E v^2 = q, E uv = c,
    #   E[erf(u) erf(v)] = (2/pi) asin(2c / (1 + 2q)),
    #   E[erf'(u) erf'(v)] = (4/pi) / sqrt((1 + 2q)^2 - 4c^2).
    sw2 = WEIGHT_VARIANCE["erf"]
    new_sigma = sw2 * 2 / sp.pi * sp.asin(2 * sigma / (1 + 2 * q)) + bias
    dot_sigma = sw2 * 4 / sp.pi / sp.sqrt((1 + 2 * q) ** 2 - 4 * sigma**2)
    # 2q/(1+2q) written with one q: the diagonal is an exact constant that sympy evaluates
    # numerically during construction, and two copies per layer would cost 2^depth.
    new_q = sw2 * 2 / sp.pi * sp.asin(1 - 1 / (1 + 2 * q)) + bias
    return new_sigma, new_sigma + theta * dot_sigma, new_q


_LAYERS = {"relu": _relu_layer, "erf": _erf_layer}


@functools.lru_cache(maxsize=256)
def _kernels(activation: str, depth: int, bias: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    # Sigma_0 = Theta_0 = z + sigma_b^2 is the first pre-activation's covariance (and the first
    # layer's contribution to the NTK); q_l = Sigma_l(1) is tracked exactly.
    sigma = theta = z + bias
    q = 1 + bias
    for _ in range(depth):
        sigma, theta, q = _LAYERS[activation](sigma, theta, q, bias)
    return sigma, theta


def nngp_kernel(activation: str, depth: int, *, bias_variance=0) -> sp.Expr:
    """The NNGP kernel $h(z)=\\Sigma_L(z)$ of a wide fully connected network, exactly.

    **Architecture** (NTK parametrisation; Jacot et al. 2018, Arora et al. 2019
    [literature]).  Input $x\\in\\mathbb S^{d-1}(\\sqrt d)$, $L\\ge1$ hidden layers of width
    $n\\to\\infty$, scalar output, activation $\\phi$:

    $$h_1=\\tfrac1{\\sqrt d}W_1x+\\sigma_b b_1,\\qquad
      h_{l+1}=\\tfrac{\\sigma_w}{\\sqrt n}W_{l+1}\\phi(h_l)+\\sigma_b b_{l+1},\\qquad
      f(x)=\\tfrac{\\sigma_w}{\\sqrt n}w_{L+1}\\cdot\\phi(h_L)+\\sigma_b b_{L+1},$$

    with every trainable entry of $W_l,w_{L+1},b_l$ i.i.d. $\\mathcal N(0,1)$ (equivalently:
    weights of variance $\\sigma_w^2$, but the NTK is the gradient inner product with respect to
    the standard-normal parameters).  $\\sigma_w^2$ is
    [`WEIGHT_VARIANCE`][limitlab.theory.WEIGHT_VARIANCE]: 2 for ReLU (He; keeps the diagonal
    $\\Sigma_l(1)=1$ without bias), 1 for erf.  $\\sigma_b^2$ is `bias_variance` (default 0: no
    biases; otherwise every layer, the readout included, has one).  The first layer carries no
    $\\sigma_w$, so that $\\Sigma_0(z)=z+\\sigma_b^2$.

    **Recursion** [literature], with $q_l=\\Sigma_l(1)$ the diagonal, $q_0=1+\\sigma_b^2$,
    $\\Sigma_0=\\Theta_0=z+\\sigma_b^2$, and $(u,v)$ centred Gaussian with
    $\\mathbb E u^2=\\mathbb E v^2=q_l$, $\\mathbb E uv=\\Sigma_l(z)$:

    $$\\Sigma_{l+1}=\\sigma_w^2\\,\\mathbb E[\\phi(u)\\phi(v)]+\\sigma_b^2,\\quad
      \\dot\\Sigma_{l+1}=\\sigma_w^2\\,\\mathbb E[\\phi'(u)\\phi'(v)],\\quad
      \\Theta_{l+1}=\\Sigma_{l+1}+\\Theta_l\\,\\dot\\Sigma_{l+1}.$$

    - ReLU (Cho & Saul 2009, arc-cosine $J_1$, $J_0$ from
      [`arccos_j`][limitlab.theory.arccos_j]), with $\\cos t_l=\\Sigma_l/q_l$:
      $\\Sigma_{l+1}=\\frac{q_l}{\\pi}\\big(\\sin t_l+(\\pi-t_l)\\cos t_l\\big)+\\sigma_b^2$,
      $\\dot\\Sigma_{l+1}=\\frac{\\pi-t_l}{\\pi}$, $q_{l+1}=q_l+\\sigma_b^2$.
    - erf (Williams 1997, arcsine kernel):
      $\\Sigma_{l+1}=\\frac2\\pi\\arcsin\\frac{2\\Sigma_l}{1+2q_l}+\\sigma_b^2$,
      $\\dot\\Sigma_{l+1}=\\frac4\\pi\\big((1+2q_l)^2-4\\Sigma_l^2\\big)^{-1/2}$,
      $q_{l+1}=\\frac2\\pi\\arcsin\\frac{2q_l}{1+2q_l}+\\sigma_b^2$ (the diagonal shrinks:
      $q_1=\\frac2\\pi\\arcsin\\frac23\\approx0.4646$ without bias).

    The NNGP is $\\Sigma_L$ ($=\\mathbb E[f(x)f(x')]$ at initialisation); the NTK is
    $\\Theta_L$ ($=\\lim_{n\\to\\infty}\\langle\\nabla_\\theta f(x),\\nabla_\\theta f(x')\\rangle$).
    Both are exact infinite-width limits; at width $n$ the empirical kernels fluctuate by
    $O(n^{-1/2})$.

    Shape [derived, checked numerically]: every Taylor coefficient at $z=0$ is $\\ge0$ (see
    [`kernel_taylor_coefficients`][limitlab.theory.kernel_taylor_coefficients]), so $h$ increases
    on $[0,1]$ and $|h(z)|\\le h(1)$.  The NNGP increases on all of $[-1,1]$
    ($\\Sigma_{l+1}'=\\dot\\Sigma_{l+1}\\Sigma_l'$ by Price's theorem), and so does the erf NTK;
    the ReLU NTK does not: without bias it has an interior minimum on $[-1,0]$ at every depth,
    e.g.
    $\\Theta_1(z)=\\frac1\\pi\\big(\\sqrt{1-z^2}+2z(\\pi-\\arccos z)\\big)$ has its minimum
    $\\approx-0.1368$ at $z\\approx-0.794$ while $\\Theta_1(-1)=0$.

    Evaluate numerically with `sympy.lambdify(z, h, ..., cse=True)` (without `cse` the printed
    code is exponential in the depth; exact `subs` at an interior point builds large nested
    closed forms and takes a minute at depth 4), and clip: at $z=\\pm1$ a rounding error can
    push an `acos`/`asin` argument just outside $[-1,1]$.

    **Arguments:**

    - `activation`: `"relu"` or `"erf"`.
    - `depth`: $L$, the number of hidden layers, an integer in $[1, 8]$ for ReLU and in
      $[1, 5]$ for erf (the expressions nest, and sympy's printing, `lambdify` and, for the
      exact erf diagonal, numerical checks take time exponential in the depth).
    - `bias_variance`: $\\sigma_b^2\\ge0$ (a float is converted to the exact rational of its
      shortest decimal: `0.1` becomes `1/10`).

    **Returns:** a sympy expression in [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE].

    **Raises:** `ValueError` for an unknown activation, a depth out of range or a negative
    bias variance; `TypeError` for arguments of the wrong type.

    **Example:**

    ```pycon
    >>> nngp_kernel("relu", 1)
    (z*(pi - acos(z)) + sqrt(1 - z**2))/pi
    ```
    """
    activation = _check_activation(activation)
    depth = _check_depth(depth, activation)
    return _kernels(activation, depth, _check_bias_variance(bias_variance))[0]


def ntk_kernel(activation: str, depth: int, *, bias_variance=0) -> sp.Expr:
    """The neural tangent kernel $h(z)=\\Theta_L(z)$ of a wide fully connected network, exactly.

    Architecture, normalisation ($\\sigma_w^2$ from
    [`WEIGHT_VARIANCE`][limitlab.theory.WEIGHT_VARIANCE], trainable parameters standard normal,
    NTK parametrisation) and the recursion
    $\\Theta_{l+1}=\\Sigma_{l+1}+\\Theta_l\\dot\\Sigma_{l+1}$, $\\Theta_0=z+\\sigma_b^2$: see
    [`nngp_kernel`][limitlab.theory.nngp_kernel] [literature].

    **Arguments:**

    - `activation`: `"relu"` or `"erf"`.
    - `depth`: $L$, the number of hidden layers: $[1, 8]$ for ReLU, $[1, 5]$ for erf.
    - `bias_variance`: $\\sigma_b^2\\ge0$.

    **Returns:** a sympy expression in [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE].
    For ReLU $\\Theta_L(1)=\\sum_{l=0}^Lq_l=L+1+\\sigma_b^2(L+1)(L+2)/2$ (without bias each of
    the $L+1$ weight layers contributes 1).

    **Raises:** as [`nngp_kernel`][limitlab.theory.nngp_kernel].

    **Example:**

    ```pycon
    >>> ntk_kernel("relu", 1).subs(KERNEL_VARIABLE, 1)
    2
    ```
    """
    activation = _check_activation(activation)
    depth = _check_depth(depth, activation)
    return _kernels(activation, depth, _check_bias_variance(bias_variance))[1]


# ---------------------------------------------------------------------------------------------
# Names and user strings

_NAME_KEYS = {
    "depth": "a positive integer (number of hidden layers, at most 8 for relu and 5 for erf; "
    "default 1)",
    "bias": "the bias variance sigma_b^2, a non-negative decimal or fraction (default 0)",
}
_NAME = re.compile(r"^\s*([A-Za-z_]\w*)\s*-\s*([A-Za-z_]\w*)\s*(?::(.*))?$", re.DOTALL)
_INTEGER = re.compile(r"^\d+$")
_NUMBER = re.compile(r"^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^\d+/\d+$")


def named_kernel(spec: str) -> sp.Expr:
    """A built-in kernel from its name: `"<activation>-<kind>[:key=value,...]"`.

    Activations are `relu`, `erf`; kinds `nngp`, `ntk`; keys `depth` (number of hidden layers,
    default 1) and `bias` (the bias *variance* $\\sigma_b^2$, default 0).  See
    [`nngp_kernel`][limitlab.theory.nngp_kernel] for the architecture and normalisation.

    **Arguments:**

    - `spec`: e.g. `"relu-ntk"`, `"relu-nngp:depth=2"`, `"erf-ntk:depth=3,bias=0.1"`.

    **Returns:** the kernel $h$, a sympy expression in
    [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE].

    **Raises:** `ValueError` naming an unknown activation, kind or key, a repeated key or a
    malformed value, with the allowed ones.

    **Example:**

    ```pycon
    >>> named_kernel("relu-ntk:depth=2") == ntk_kernel("relu", 2)
    True
    ```
    """
    if not isinstance(spec, str):
        raise TypeError(f"kernel name must be a string, got {type(spec).__name__}")
    allowed_form = "'<activation>-<kind>[:depth=<int>,bias=<number>]', e.g. 'relu-ntk:depth=2'"
    match = _NAME.match(spec)
    if match is None:
        raise ValueError(f"kernel name {spec!r} is not of the form {allowed_form}")
    activation, kind, options = match.groups()
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"kernel name {spec!r}: unknown activation {activation!r}; "
            f"allowed activations are {list(ACTIVATIONS)}"
        )
    if kind not in KERNEL_KINDS:
        raise ValueError(
            f"kernel name {spec!r}: unknown kernel kind {kind!r}; "
            f"allowed kinds are {list(KERNEL_KINDS)}"
        )
    values: dict[str, str] = {}
    if options is not None:
        for item in options.split(","):
            key, sep, value = (part.strip() for part in item.partition("="))
            if not sep or not key or not value:
                raise ValueError(
                    f"kernel name {spec!r}: option {item.strip()!r} is not of the form "
                    f"key=value; allowed keys are {sorted(_NAME_KEYS)}"
                )
            if key not in _NAME_KEYS:
                raise ValueError(
                    f"kernel name {spec!r}: unknown key {key!r}; allowed keys are "
                    + "; ".join(f"{k}: {v}" for k, v in _NAME_KEYS.items())
                )
            if key in values:
                raise ValueError(f"kernel name {spec!r}: key {key!r} is given twice")
            values[key] = value
    depth = 1
    if "depth" in values:
        largest = _MAX_DEPTH[activation]
        if not _INTEGER.match(values["depth"]) or not 1 <= int(values["depth"]) <= largest:
            raise ValueError(
                f"kernel name {spec!r}: depth={values['depth']!r} is not allowed; depth must "
                f"be an integer from 1 to {largest} for {activation}"
            )
        depth = int(values["depth"])
    bias = sp.Integer(0)
    if "bias" in values:
        if not _NUMBER.match(values["bias"]):
            raise ValueError(
                f"kernel name {spec!r}: bias={values['bias']!r} is not allowed; bias (the bias "
                "variance) must be a non-negative decimal such as 0.1 or a fraction such as 1/10"
            )
        bias = sp.Rational(values["bias"])
    builder = nngp_kernel if kind == "nngp" else ntk_kernel
    return builder(activation, depth, bias_variance=bias)


def _looks_like_name(text: str) -> bool:
    match = _NAME.match(text)
    if match is None:
        return False
    activation, kind, options = match.groups()
    return options is not None or activation in ACTIVATIONS or kind in KERNEL_KINDS


def _short(expr: sp.Expr, limit: int = 40) -> str:
    # Nested kernels print exponentially long (sympy prints shared subtrees repeatedly).
    if sum(1 for _ in itertools.islice(sp.preorder_traversal(expr), limit + 1)) > limit:
        return "(a long expression)"
    return str(expr)


def _free_symbols(expr: sp.Expr) -> set:
    # `Basic.free_symbols` walks the tree, not the DAG: exponential in the depth of a nested
    # kernel, whose sub-expressions are shared.  Visit each distinct node once.
    seen, stack, symbols = set(), [expr], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.is_Symbol:
            symbols.add(node)
        else:
            stack.extend(node.args)
    return symbols


def _check_kernel_symbols(h: sp.Expr, argument: str) -> sp.Expr:
    # A plain Symbol("z") (no assumptions) is the kernel variable too: sympy would treat it
    # as a different symbol, so it is replaced rather than rejected.
    symbols = _free_symbols(h)
    plain = {s for s in symbols if s.name == KERNEL_VARIABLE.name and s != z}
    if plain:
        h = h.xreplace({s: z for s in plain})
        symbols = (symbols - plain) | {z}
    extra = symbols - {z}
    if extra:
        raise ValueError(
            f"{argument} {_short(h)} has free symbols {sorted(map(str, extra))}; a kernel may "
            "depend on z only"
        )
    return h


def kernel_expression(text: str | sp.Expr) -> sp.Expr:
    """A kernel $h(z)$ from a built-in name or a formula in $z$.

    A string of the form `<activation>-<kind>[:...]` (see
    [`named_kernel`][limitlab.theory.named_kernel]) is a built-in kernel; any other string is
    parsed with the whitelist parser [`parse_expression`][limitlab.theory.parse_expression] with
    the single variable `z`.  A sympy expression is accepted as it is, provided $z$ is its only
    free symbol (a `Symbol("z")` with other assumptions is replaced by
    [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE]).

    **Arguments:**

    - `text`: e.g. `"relu-ntk:depth=2"`, `"exp(z)"`, `"(1 + z)**3 / 8"`.

    **Returns:** a sympy expression in [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE].

    **Raises:** `ValueError` for an unknown name, a disallowed construct, or a free symbol other
    than `z`.

    **Example:**

    ```pycon
    >>> kernel_expression("exp(z) / 2")
    exp(z)/2
    ```
    """
    if isinstance(text, sp.Basic):
        if not isinstance(text, sp.Expr):
            raise TypeError(f"kernel must be a string or sympy expression, got {type(text)}")
        return _check_kernel_symbols(text, "kernel")
    if not isinstance(text, str):
        raise TypeError(
            f"kernel must be a string or sympy expression, got {type(text).__name__}"
        )
    if _looks_like_name(text):
        return named_kernel(text)
    h = parse_expression(text, {"z": KERNEL_VARIABLE}, argument="kernel")
    return _check_kernel_symbols(h, "kernel")


# ---------------------------------------------------------------------------------------------
# Taylor coefficients at z = 0
#
# sympy.series on the nested kernels is far too slow (about a minute for the depth-2 ReLU NNGP
# to order 10), so the expression tree is evaluated bottom-up on truncated power series, each
# distinct sub-expression once.  Powers and exp use the O(N^2) recurrences of J. C. P. Miller
# (Knuth, TAOCP vol. 2, 4.7); a function f(u) whose derivative is algebraic or exp (asin, acos,
# atan, log, erf, ...) is integrated, f(u) = f(u_0) + int f'(u) u' dz; any other smooth
# function (sin, cos, tan, gamma, ...) by composing its Taylor series at u_0 with u - u_0.
# Coefficients live in a ring: sympy numbers (exact) or mpmath numbers (fixed precision).


class _NotAnalytic(ValueError):
    pass


class _TooLarge(Exception):
    pass


_EXACT_BUDGET = 300
_W = sp.Dummy("w")

# One-argument sympy functions whose derivative is not the analytic one (or does not exist).
_NOT_SMOOTH = (
    sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta, sp.floor, sp.ceiling, sp.frac,
    sp.Piecewise, sp.re, sp.im, sp.arg, sp.conjugate,
)


class _ExactRing:
    zero = sp.Integer(0)
    one = sp.Integer(1)

    @staticmethod
    def const(value):
        return sp.sympify(value)

    @staticmethod
    def value(func, order, at):
        """f^(order)(at) / order!, or None where it is not finite."""
        value = _derivative_expr(func, order).subs(_W, at) / sp.factorial(order)
        if value.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            return None
        return value

    @staticmethod
    def is_zero(value):
        return value.is_zero is True

    @staticmethod
    def check(values):
        # Exact coefficients of nested kernels (ReLU depth >= 2) swell into closed forms of
        # thousands of operations, and sympy then takes minutes: stop early instead.
        for value in values:
            if sp.count_ops(value) > _EXACT_BUDGET:
                raise _TooLarge

    @staticmethod
    def finish(value):
        return sp.expand_mul(value)


class _FloatRing:
    def __init__(self, digits: int):
        self.digits = digits
        self.zero = mpmath.mpf(0)
        self.one = mpmath.mpf(1)

    @staticmethod
    def const(value):
        prec = mpmath.mp.prec
        return sp.sympify(value).evalf(mpmath.libmp.prec_to_dps(prec))._to_mpmath(prec)

    @staticmethod
    def value(func, order, at):
        try:
            value = _derivative_function(func, order)(at) / math.factorial(order)
        except (ZeroDivisionError, ValueError):
            return None
        return value if mpmath.isfinite(value) else None

    @staticmethod
    def is_zero(value):
        return value == 0

    @staticmethod
    def check(values):
        pass

    def finish(self, value):
        # sp.Float(mpf(0)) is sympy's exact Zero; keep the type uniform.
        return sp.Float(value, self.digits) if value else sp.Float(0.0, self.digits)


@functools.lru_cache(maxsize=None)
def _derivative_expr(func, order: int) -> sp.Expr:
    if order == 0:
        return func(_W)
    return sp.diff(_derivative_expr(func, order - 1), _W)


@functools.lru_cache(maxsize=None)
def _derivative_function(func, order: int) -> Callable:
    return sp.lambdify(_W, _derivative_expr(func, order), modules="mpmath")


@functools.lru_cache(maxsize=None)
def _integrable(func) -> bool:
    """Whether f' contains no function application other than exp (so integration terminates)."""
    derivative = _derivative_expr(func, 1)
    return all(isinstance(f, sp.exp) for f in derivative.atoms(sp.Function))


def _nonzero(value) -> bool:
    if not isinstance(value, sp.Expr):
        return value != 0
    if value.is_zero is not None:
        return not value.is_zero
    return abs(complex(sp.N(value, 50))) > 1e-40


class _SeriesEvaluator:
    def __init__(self, n: int, ring):
        self.n = n
        self.ring = ring
        self.memo: dict = {}
        self.variables = {z}
        self.dependence: dict = {}

    def depends(self, expr) -> bool:
        # Memoised: `free_symbols` is recomputed on every access and, on the shared subtrees of
        # a nested kernel, costs time exponential in the depth.
        if expr not in self.dependence:
            if expr.is_Symbol:
                self.dependence[expr] = expr in self.variables
            else:
                self.dependence[expr] = any(self.depends(arg) for arg in expr.args)
        return self.dependence[expr]

    def constant(self, value):
        return [self.ring.const(value)] + [self.ring.zero] * (self.n - 1)

    def mul(self, a, b):
        ring = self.ring
        out = [ring.zero] * self.n
        for i, ai in enumerate(a):
            if ring.is_zero(ai):
                continue
            for j in range(self.n - i):
                if not ring.is_zero(b[j]):
                    out[i + j] = out[i + j] + ai * b[j]
        ring.check(out)
        return out

    def series(self, expr):
        if expr in self.memo:
            return self.memo[expr]
        if not self.depends(expr):
            result = self.constant(expr)
        elif expr == z:
            result = [self.ring.zero, self.ring.one] + [self.ring.zero] * (self.n - 2)
        elif isinstance(expr, sp.Add):
            parts = [self.series(arg) for arg in expr.args]
            result = [sum((p[k] for p in parts[1:]), parts[0][k]) for k in range(self.n)]
            self.ring.check(result)
        elif isinstance(expr, sp.Mul):
            parts = [self.series(arg) for arg in expr.args]
            result = parts[0]
            for p in parts[1:]:
                result = self.mul(result, p)
        elif isinstance(expr, sp.Pow):
            result = self.power(expr)
        elif isinstance(expr, sp.exp):
            result = self.exponential(expr)
        elif (
            isinstance(expr, sp.Function)
            and len(expr.args) == 1
            and not isinstance(expr, _NOT_SMOOTH)
        ):
            result = self.function(expr)
        else:
            raise _NotAnalytic(
                f"{_short(expr)} is not a smooth elementary function of z (Max, Min, Abs, "
                "Piecewise and similar have no Taylor series in general)"
            )
        self.memo[expr] = result
        return result

    def power(self, expr):
        base, exponent = expr.args
        if self.depends(exponent):
            return self.series(sp.exp(exponent * sp.log(base)))
        b = self.series(base)
        ring = self.ring
        if exponent.is_Integer and exponent >= 0:
            result, square, k = self.constant(1), b, int(exponent)
            while k:
                if k & 1:
                    result = self.mul(result, square)
                k >>= 1
                if k:
                    square = self.mul(square, square)
            return result
        if ring.is_zero(b[0]) or not _nonzero(b[0]):
            raise _NotAnalytic(f"{_short(expr)} is not analytic at z = 0 (zero base)")
        # Miller: from g' b = a g b',  g_m = sum_{k=1}^m ((a+1)k - m) b_k g_{m-k} / (m b_0).
        a = ring.const(exponent)
        g = [b[0] ** a]
        for m in range(1, self.n):
            total = ring.zero
            for k in range(1, m + 1):
                if not ring.is_zero(b[k]):
                    total = total + ((a + 1) * k - m) * b[k] * g[m - k]
            g.append(total / (m * b[0]))
        ring.check(g)
        return g

    def exponential(self, expr):
        # g = exp(u): g' = u' g, so m g_m = sum_{k=1}^m k u_k g_{m-k}.
        u = self.series(expr.args[0])
        g = [self.start_value(sp.exp, u[0], expr)]
        for m in range(1, self.n):
            total = self.ring.zero
            for k in range(1, m + 1):
                if not self.ring.is_zero(u[k]):
                    total = total + k * u[k] * g[m - k]
            g.append(total / m)
        self.ring.check(g)
        return g

    def start_value(self, func, at, expr):
        value = self.ring.value(func, 0, at)
        if value is None:
            raise _NotAnalytic(f"{_short(expr)} is not finite at z = 0")
        return value

    def function(self, expr):
        func = expr.func
        u = self.series(expr.args[0])
        if _integrable(func):
            # f(u) = f(u_0) + int f'(u) u' dz, with f'(u) expanded by the rules above.
            inner = sp.Dummy("u")
            self.variables.add(inner)
            self.memo[inner] = u
            slope = self.series(_derivative_expr(func, 1).xreplace({_W: inner}))
            du = [(k + 1) * u[k + 1] for k in range(self.n - 1)] + [self.ring.zero]
            product = self.mul(slope, du)
            head = self.start_value(func, u[0], expr)
            return [head] + [product[m - 1] / m for m in range(1, self.n)]
        # Compose the Taylor series of f at u_0 with u - u_0 (Horner): O(N^3), for the rest.
        coefficients = []
        for k in range(self.n):
            value = self.ring.value(func, k, u[0])
            if value is None:
                raise _NotAnalytic(f"{_short(expr)} is not analytic at z = 0")
            coefficients.append(value)
        shift = [self.ring.zero] + u[1:]
        out = self.constant(0)
        out[0] = coefficients[-1]
        for c in reversed(coefficients[:-1]):
            out = self.mul(out, shift)
            out[0] = out[0] + c
        return out


def kernel_taylor_coefficients(
    h: sp.Expr | str, order: int, *, digits: int | None = None
) -> tuple[sp.Expr, ...]:
    """Taylor coefficients $h_j=h^{(j)}(0)/j!$, $j=0,\\dots,$`order`, of a kernel at $z=0$.

    These feed the Funk–Hecke eigenvalues through the series of non-negative terms
    $\\lambda_{d,k}=\\sum_{m\\ge0}\\frac{h^{(k+2m)}(0)}{2^{k+2m}m!}
    \\frac{\\Gamma(d/2)}{\\Gamma(d/2+k+m)}$ (`kernel-gradient-flow.md` §3.5) [derived].  They are
    computed by truncated power-series arithmetic on the expression tree (sympy's `series` takes
    a minute on the depth-2 ReLU NNGP): exact sympy numbers by default, which works while the
    closed forms stay small (formulas such as `exp(z)`, the depth-1 built-ins with or without
    bias: rationals, $\\pi$, $\\sqrt{30}$, $\\arccos(1/11)$, ...); the nested built-ins
    (depth $\\ge2$) raise a `ValueError` asking for `digits`, which gives `digits`-digit `Float`s
    from mpmath arithmetic at `digits + 10` digits (order 200 at depth 4 in a few seconds).

    For the built-in ReLU and erf kernels every $h_j\\ge0$ [derived; checked for depth 1–4,
    $j\\le10$]: the one-layer maps
    $c\\mapsto\\frac1\\pi(\\sqrt{1-c^2}+(\\pi-\\arccos c)c)=\\frac1\\pi+\\frac c2+\\frac{c^2}{2\\pi}
    +\\frac{c^4}{24\\pi}+\\dots$ and $c\\mapsto\\frac12+\\frac{\\arcsin c}\\pi$ (ReLU, with $c$
    scaled by $q_l$ under bias), $\\arcsin$ and $(a-c^2)^{-1/2}$ (erf) have non-negative
    coefficients, a bias adds a non-negative constant, and sums, products and compositions of
    such series keep them non-negative; they sum to $h(1)<\\infty$, so the series converges
    absolutely on $[-1,1]$.  For ReLU they decay only polynomially, because of the $\\sqrt{1-z}$
    singularity at $z=1$: at depth 1, $h_{2m+2}=\\frac{a_m}{\\pi(2m+2)}$ (NNGP) and
    $h_{2m+2}=\\frac{(2m+3)a_m}{\\pi(2m+2)}$ (NTK), with $a_m=\\binom{2m}{m}4^{-m}/(2m+1)$ the
    coefficients of $\\arcsin$, the odd ones beyond $h_1$ vanish, and
    $h_j\\sim\\frac1\\pi\\sqrt{2/\\pi}\\,j^{-5/2}$ (NNGP), $\\frac1\\pi\\sqrt{2/\\pi}\\,j^{-3/2}$
    (NTK) along even $j$ [derived]; deeper networks keep the exponents $-5/2$ and $-3/2$
    [derived, checked numerically for depth 2 and 3 at $j\\le120$; compare Bietti & Bach 2021,
    "Deep equals shallow for ReLU networks in kernel regimes", literature].  In the Funk–Hecke
    series at small $d$ the tail then needs many terms.  The erf coefficients decay
    geometrically (at depth 1, $\\arcsin(2z/3)$ is singular at $z=3/2$).

    **Arguments:**

    - `h`: the kernel, a sympy expression in
      [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE] or a string for
      [`kernel_expression`][limitlab.theory.kernel_expression].
    - `order`: the largest $j$, a non-negative integer.
    - `digits`: `None` for exact coefficients, or a number of significant digits (at least 1)
      for floating-point ones.

    **Returns:** a tuple of `order + 1` sympy numbers $(h_0,\\dots,h_{\\rm order})$.

    **Raises:** `ValueError` if $h$ has another free symbol, is not analytic at $z=0$
    (`sqrt(z)`, `abs(z)`, ...), has a non-real coefficient, or (exact mode) has coefficients too
    large to be useful in closed form; `TypeError`/`ValueError` for a bad `order` or `digits`.

    **Example:**

    ```pycon
    >>> kernel_taylor_coefficients(nngp_kernel("relu", 1), 4)
    (1/pi, 1/2, 1/(2*pi), 0, 1/(24*pi))
    ```
    """
    label = repr(h) if isinstance(h, str) else _short(h)
    h = kernel_expression(h)
    if isinstance(order, bool) or not isinstance(order, int):
        raise TypeError(f"order must be an int, got {type(order).__name__}")
    if order < 0:
        raise ValueError(f"order must be a non-negative integer, got {order}")
    if digits is None:
        ring = _ExactRing()
    else:
        if isinstance(digits, bool) or not isinstance(digits, int):
            raise TypeError(f"digits must be an int or None, got {type(digits).__name__}")
        if digits < 1:
            raise ValueError(f"digits must be a positive integer or None, got {digits}")
        ring = _FloatRing(digits)
    n = order + 1
    try:
        with mpmath.workdps((digits or 15) + 10):
            coefficients = _SeriesEvaluator(max(n, 2), ring).series(h)[:n]
    except _NotAnalytic as err:
        raise ValueError(f"kernel {label}: {err}; it has no Taylor series at z = 0") from None
    except _TooLarge:
        raise ValueError(
            f"the exact Taylor coefficients of this kernel up to order {order} are closed forms "
            f"of more than {_EXACT_BUDGET} operations; pass digits=30 (for example) to get "
            "floating-point coefficients"
        ) from None
    out = []
    for j, c in enumerate(coefficients):
        if isinstance(c, mpmath.mpc):
            if abs(c.imag) > abs(c) * mpmath.mpf(10) ** (-digits):
                raise ValueError(f"kernel {label}: Taylor coefficient {j} is not real ({c})")
            c = c.real
        value = ring.finish(c)
        if digits is None:
            numeric = complex(sp.N(value, 30))
            if not cmath.isfinite(numeric) or abs(numeric.imag) > 1e-20 * max(1, abs(numeric)):
                raise ValueError(f"kernel {label}: Taylor coefficient {j} is not real ({value})")
        out.append(value)
    return tuple(out)
