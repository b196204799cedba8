"""A loss written as a sum of squares, turned into residuals in the least-squares convention.

Label noise, minibatches and sample weights perturb the residuals $f_j(w)-y_j$ of a
least-squares loss, so they need the loss as $L=\\frac1{2n}\\sum_j(f_j-y_j)^2$
(`manifold-drift.md` §5 convention).  A user often writes the loss directly, e.g.
$L=\\tfrac12(xy-1)^2$; [`residuals_of`][limitlab.theory.residuals_of] recovers residuals from
such a loss.  This module never imports JAX.
"""

from __future__ import annotations

import sympy as sp

from ._manifold_drift import _symbols as _names_to_symbols
from ._parsing import parse_expression

__all__ = ["residuals_of"]


def _symbols(parameters, argument: str) -> tuple[sp.Symbol, ...]:
    out = _names_to_symbols(parameters, argument)
    if not out:
        raise ValueError(f"{argument} must name at least one parameter, got none")
    return out


def _square_root(term: sp.Expr, params: set[sp.Symbol]):
    """(c, r) with term == c * r**2, c > 0 free of the parameters; None if not of that form."""
    constant, root = [], []
    for factor in sp.Mul.make_args(term):
        if not factor.free_symbols & params:
            constant.append(factor)
            continue
        base, exponent = factor.as_base_exp()
        if not (exponent.is_Integer and exponent % 2 == 0):
            return None
        root.append(base ** (exponent / 2))
    c = sp.Mul(*constant)
    if not root or c.is_positive is not True:
        return None
    return c, sp.Mul(*root)


def residuals_of(loss, parameters, *, argument: str = "loss") -> tuple[sp.Expr, ...]:
    """Residuals $f_1,\\dots,f_n$ with $L=\\frac1{2n}\\sum_{j=1}^nf_j^2$ exactly, for a loss that
    is a sum of positive multiples of squares.

    The loss is read as $L=\\sum_{j=1}^nc_j\\,r_j(w)^2$ with constants $c_j>0$: its additive
    terms as sympy writes them, each a product of a positive constant and even powers of
    factors depending on the parameters (tried as written, then after `sympy.factor` of the
    term); if that fails, `sympy.factor` of the whole loss as a single term (so an expanded
    square such as `x**2*y**2 - 2*x*y + 1` is recognised).  Then
    $f_j=\\sqrt{2nc_j}\\,r_j$, the least-squares convention of `manifold-drift.md` §5 with
    labels $y_j=0$ [derived: exact identity].  The decomposition is not unique (signs,
    grouping of terms); label noise, minibatch and sample-weight noise act on these $f_j$,
    so their limits depend on it (label noise $\\hat L=\\frac1{2n}\\sum_j(f_j-\\eta_j)^2$).

    **Arguments:**

    - `loss`: a sympy expression or a string (parsed by
      [`parse_expression`][limitlab.theory.parse_expression], numbers exact).
    - `parameters`: the parameter names or symbols.
    - `argument`: the name of the argument the loss came from, for error messages.

    **Returns:** the tuple $(f_1,\\dots,f_n)$ of sympy expressions.

    **Raises:** `ValueError` naming `argument` when the loss is not such a sum of squares (a
    term that is not a positive constant times a square, or a term without parameters), or
    has unknown symbols; `TypeError` for arguments of the wrong type.

    **Example:**

    ```pycon
    >>> residuals_of("(x*y - 1)**2/2", ["x", "y"])
    (x*y - 1,)
    >>> residuals_of("x**4 + y**2", ["x", "y"])
    (2*x**2, 2*y)
    ```
    """
    params = _symbols(parameters, "parameters")
    names = {s.name: s for s in params}
    if isinstance(loss, str):
        expr = parse_expression(loss, names, argument=argument)
    elif isinstance(loss, sp.Expr):
        by_name = {s: names[s.name] for s in loss.free_symbols if s.name in names}
        expr = loss.xreplace(by_name)
        unknown = sorted(s.name for s in expr.free_symbols if s.name not in names)
        if unknown:
            raise ValueError(
                f"{argument} {loss} has unknown symbols {unknown}; allowed names are "
                f"{sorted(names)}"
            )
    else:
        raise TypeError(f"{argument} must be a sympy expression or a string, got "
                        f"{type(loss).__name__}")
    symbols = set(params)
    wanted = (
        f"{argument} must be a sum of squares c_1 r_1(w)^2 + ... + c_n r_n(w)^2 with constants "
        "c_j > 0 (e.g. '(x*y - 1)**2/2')"
    )
    if expr == 0:
        raise ValueError(f"{wanted}, got 0")
    pieces = []
    for term in sp.Add.make_args(expr):
        if not term.free_symbols & symbols:
            pieces = None
            failure = f"the term {term} does not depend on the parameters"
            break
        piece = _square_root(term, symbols)
        if piece is None:
            factored = sp.factor(term)
            piece = _square_root(factored, symbols) if factored != term else None
        if piece is None:
            pieces = None
            failure = f"the term {term} is not a positive constant times a square"
            break
        pieces.append(piece)
    if pieces is None:
        whole = sp.factor(expr)
        piece = _square_root(whole, symbols) if whole.free_symbols & symbols else None
        if piece is None:
            raise ValueError(f"{wanted}, got {expr}: {failure}")
        pieces = [piece]
    n = len(pieces)
    return tuple(sp.sqrt(2 * n * c) * r for c, r in pieces)
