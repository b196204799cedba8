"""Gaussian expectations of activation functions, derived symbolically.

Exact for activations that are polynomials on each half-line (ReLU, its powers, |u|, ...);
high-precision mpmath quadrature otherwise.  Source: standard Gaussian integrals [literature].
"""

from __future__ import annotations

import mpmath
import sympy as sp

__all__ = ["gaussian_expectation", "two_layer_excess_kurtosis", "two_layer_fourth_cumulant"]

_u = sp.Symbol("u", real=True)


def _half_line_moment(k: int, variance: sp.Expr, sign: int) -> sp.Expr:
    # int_0^oo u^k N(u; 0, s^2) du = s^k 2^(k/2) Gamma((k+1)/2) / (2 sqrt(pi)); mirror for u < 0.
    value = sp.sqrt(variance) ** k * 2 ** sp.Rational(k, 2) * sp.gamma(sp.Rational(k + 1, 2))
    return sp.Integer(sign) ** k * value / (2 * sp.sqrt(sp.pi))


def _half_line_expectation(expr, var, variance, sign):
    """Exact E[g(u) 1{sign*u > 0}] when g is a polynomial on that half-line, else None."""
    half = sp.Symbol("_h", positive=True)
    restricted = sp.piecewise_fold(expr.subs(var, sign * half))
    if restricted.has(sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign):
        restricted = sp.simplify(restricted)
    try:
        poly = sp.Poly(sp.expand(restricted), half)
    except sp.PolynomialError:
        return None
    if any(c.has(half) for c in poly.coeffs()):
        return None
    return sum(
        coeff * sp.Integer(sign) ** k * _half_line_moment(k, variance, sign)
        for (k,), coeff in poly.terms()
    )


def gaussian_expectation(
    expr: sp.Expr, var: sp.Symbol, variance: sp.Expr | int = 1, *, dps: int = 30
) -> sp.Expr:
    """$\\mathbb E[g(u)]$ for $u\\sim\\mathcal N(0,\\text{variance})$.

    Exact when $g$ is a polynomial on each half-line $u>0$, $u<0$ (polynomials, ReLU and its
    powers, $|u|$, leaky ReLU, ...), from the half-line moments
    $\\int_0^\\infty u^k\\,\\mathcal N(u;0,s^2)\\,du=s^k2^{k/2}\\Gamma(\\tfrac{k+1}2)/(2\\sqrt\\pi)$.
    Any other $g$ (tanh, erf, GELU, ...) is integrated numerically with `mpmath.quad` at `dps`
    digits and returned as a `sympy.Float`; a general symbolic integration is deliberately not
    attempted because sympy can take minutes on such integrands.

    **Arguments:**

    - `expr`: the sympy expression $g$ in `var`.
    - `var`: the integration variable.
    - `variance`: $s^2>0$ (a number, or a positive symbol for the exact branch).
    - `dps`: decimal digits of the numerical branch.

    **Returns:** a sympy expression, exact in the first case, a `Float` in the second.

    **Example:**

    ```pycon
    >>> u = sp.Symbol("u", real=True)
    >>> gaussian_expectation(sp.Max(u, 0) ** 4, u)
    3/2
    ```
    """
    variance = sp.sympify(variance)
    if variance.is_number and not variance > 0:
        raise ValueError(f"variance must be positive, got {variance}")
    expr = sp.sympify(expr)
    upper = _half_line_expectation(expr, var, variance, +1)
    lower = _half_line_expectation(expr, var, variance, -1) if upper is not None else None
    if upper is not None and lower is not None:
        return sp.simplify(upper + lower)
    extra = (expr.free_symbols | variance.free_symbols) - {var}
    if extra:
        raise ValueError(
            f"E[{expr}] has no piecewise-polynomial closed form and has free symbols "
            f"{sorted(map(str, extra))}: the numerical branch needs a fully numeric expression"
        )
    g = sp.lambdify(var, expr, modules="mpmath")
    with mpmath.workdps(dps + 5):
        s2 = mpmath.mpf(str(sp.N(variance, dps + 5)))
        value = mpmath.quad(
            lambda x: g(x) * mpmath.exp(-x * x / (2 * s2)) / mpmath.sqrt(2 * mpmath.pi * s2),
            [-mpmath.inf, -1, 0, 1, mpmath.inf],
        )
        return sp.Float(mpmath.nstr(value, dps + 3), dps)


def two_layer_excess_kurtosis(
    activation: sp.Expr, width: sp.Expr | int, var: sp.Symbol | None = None
) -> sp.Expr:
    """Excess kurtosis of the output of a random two-layer network at initialisation.

    $f(x)=n^{-1/2}\\sum_{i=1}^n a_i\\,\\phi(w_i\\cdot x/\\sqrt d)$ with $a_i\\sim\\mathcal N(0,1)$,
    $w_i\\sim\\mathcal N(0,I_d)$ independent and $\\lVert x\\rVert^2=d$, so that the pre-activations are
    i.i.d. $\\mathcal N(0,1)$.  The summands $Z_i=a_i\\phi(u_i)$ are i.i.d. with $\\mathbb EZ=0$,
    $\\mathbb EZ^2=\\mathbb E\\phi^2$, $\\mathbb EZ^4=3\\mathbb E\\phi^4$; cumulants of a normalised
    sum of $n$ i.i.d. terms give the exact identity (every $n\\ge1$)

    $$\\frac{\\kappa_4(f)}{\\operatorname{Var}(f)^2}=\\frac{3}{n}\\Big(\\frac{\\mathbb E\\phi(u)^4}{(\\mathbb E\\phi(u)^2)^2}-1\\Big),$$

    which vanishes as $n\\to\\infty$: the output tends to the Gaussian process (NNGP) limit at rate
    $1/n$ in this statistic [derived, exact].  For ReLU it equals $15/n$.

    **Arguments:**

    - `activation`: $\\phi$ as a sympy expression in `var`.
    - `width`: $n$ (a positive integer or a sympy symbol).
    - `var`: the symbol of `activation` (default: a real symbol `u`).

    **Returns:** the excess kurtosis as a sympy expression (exact where the Gaussian moments are).
    """
    second, cumulant = two_layer_fourth_cumulant(activation, width, var)
    if second == 0:
        raise ValueError(f"activation {activation} has E[phi^2] = 0: the output is identically 0")
    return sp.simplify(cumulant / second**2)


def two_layer_fourth_cumulant(
    activation: sp.Expr, width: sp.Expr | int, var: sp.Symbol | None = None
) -> tuple[sp.Expr, sp.Expr]:
    """Fourth cumulant $\\kappa_4(f)=\\mathbb Ef^4-3(\\mathbb Ef^2)^2$ of the random two-layer output.

    Same network as [`two_layer_excess_kurtosis`][limitlab.theory.two_layer_excess_kurtosis];
    with $\\mathbb Ef^2=\\mathbb E\\phi(u)^2$ at every width,

    $$\\kappa_4(f)=\\frac{3}{n}\\Big(\\mathbb E\\phi(u)^4-(\\mathbb E\\phi(u)^2)^2\\Big)=\\frac3n\\operatorname{Var}\\big(\\phi(u)^2\\big)$$

    [derived, exact for every $n\\ge1$].  For ReLU: $\\mathbb Ef^2=1/2$, $\\kappa_4=15/(4n)$.

    **Arguments:**

    - `activation`: $\\phi$ as a sympy expression in `var`.
    - `width`: $n$ (a positive integer or a sympy symbol).
    - `var`: the symbol of `activation` (default: a real symbol `u`).

    **Returns:** `(second_moment, fourth_cumulant)` as sympy expressions.
    """
    var = _u if var is None else var
    width = sp.sympify(width)
    if width.is_number and not (width.is_integer and width >= 1):
        raise ValueError(f"width must be a positive integer, got {width}")
    m2 = gaussian_expectation(activation**2, var)
    m4 = gaussian_expectation(activation**4, var)
    return m2, sp.simplify(3 * (m4 - m2**2) / width)
