"""sympy expression -> jit-able JAX function, through an explicit whitelist.

`sympy.lambdify(..., modules="jax")` prints `erf`, `gamma`, `loggamma` as scalar `math.*` calls
and leaves `hyper`, `besselj` or a Gegenbauer polynomial of symbolic degree undefined
(ecosystem.md §2.2 [derived]).  This module therefore does not generate source code at all: it
walks the expression tree once and builds a closure of `jax.numpy` / `jax.scipy.special`
calls from one table, [`SUPPORTED_FUNCTIONS`][limitlab.numerics.SUPPORTED_FUNCTIONS].  The
closure contains no sympy objects, so after `jax.jit` the hot path never touches sympy.
Anything outside the table raises [`UnsupportedExpressionError`][limitlab.numerics.UnsupportedExpressionError]
naming it, at lambdify time rather than at call time.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import jax.scipy.special as jss
import sympy as sp

from . import _orthopoly

__all__ = ["SUPPORTED_FUNCTIONS", "UnsupportedExpressionError", "lambdify"]


class UnsupportedExpressionError(ValueError):
    """A sympy expression contains a function or construct with no JAX translation."""


def _hyper(ap, bq, z):
    if len(ap) == 2 and len(bq) == 1:
        return jss.hyp2f1(ap[0], ap[1], bq[0], z)
    if len(ap) == 1 and len(bq) == 1:
        return jss.hyp1f1(ap[0], bq[0], z)
    raise UnsupportedExpressionError(
        f"hyper with {len(ap)} upper and {len(bq)} lower parameters: only 2F1 and 1F1 "
        "have JAX implementations"
    )


def _heaviside(x, h0=0.5):
    return jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, h0))


def _beta(a, b):
    # jax.scipy.special.beta/betaln lose accuracy (about 1e-6 relative at (8, 2) in jax
    # 0.10.2, found by our tests against mpmath); the log-gamma route is accurate to ~1e-15.
    sign = jss.gammasgn(a) * jss.gammasgn(b) * jss.gammasgn(a + b)
    return sign * jnp.exp(jss.gammaln(a) + jss.gammaln(b) - jss.gammaln(a + b))


def _binomial(n, k):
    return jnp.exp(jss.gammaln(n + 1) - jss.gammaln(k + 1) - jss.gammaln(n - k + 1))


def _bessel_i(nu, x):
    # jax.scipy.special only has the orders 0 and 1 of the modified Bessel function.
    if nu == 0:
        return jss.i0(x)
    if nu == 1:
        return jss.i1(x)
    raise UnsupportedExpressionError(f"besseli of order {nu}: only orders 0 and 1 are supported")


SUPPORTED_FUNCTIONS: dict[type, Callable] = {
    sp.exp: jnp.exp,
    sp.log: jnp.log,
    sp.sin: jnp.sin,
    sp.cos: jnp.cos,
    sp.tan: jnp.tan,
    sp.asin: jnp.arcsin,
    sp.acos: jnp.arccos,
    sp.atan: jnp.arctan,
    sp.atan2: jnp.arctan2,
    sp.sinh: jnp.sinh,
    sp.cosh: jnp.cosh,
    sp.tanh: jnp.tanh,
    sp.asinh: jnp.arcsinh,
    sp.acosh: jnp.arccosh,
    sp.atanh: jnp.arctanh,
    sp.Abs: jnp.abs,
    sp.sign: jnp.sign,
    sp.floor: jnp.floor,
    sp.ceiling: jnp.ceil,
    sp.Heaviside: _heaviside,
    sp.erf: jss.erf,
    sp.erfc: jss.erfc,
    sp.erfinv: jss.erfinv,
    sp.gamma: jss.gamma,
    sp.loggamma: jss.gammaln,
    sp.digamma: jss.digamma,
    sp.polygamma: jss.polygamma,
    sp.beta: _beta,
    sp.zeta: lambda s, q=1.0: jss.zeta(s, q),  # Riemann zeta is Hurwitz zeta at q = 1
    sp.factorial: lambda n: jss.gamma(n + 1),
    sp.binomial: _binomial,
    sp.RisingFactorial: jss.poch,
    sp.besseli: _bessel_i,
    sp.gegenbauer: _orthopoly.gegenbauer,
    sp.legendre: _orthopoly.legendre,
    sp.hermite: _orthopoly.hermite,
    sp.chebyshevt: _orthopoly.chebyshev_t,
    sp.chebyshevu: _orthopoly.chebyshev_u,
    sp.laguerre: _orthopoly.laguerre,
}
"""The whitelist: sympy function class -> JAX implementation (same argument order as sympy)."""


_RELATIONS = {
    sp.StrictLessThan: operator.lt,
    sp.LessThan: operator.le,
    sp.StrictGreaterThan: operator.gt,
    sp.GreaterThan: operator.ge,
    sp.Equality: operator.eq,
    sp.Unequality: operator.ne,
}


def _const(value):
    return lambda env: value


class _Compiler:
    def __init__(self, names: dict[sp.Symbol, int]):
        self.names = names

    def __call__(self, expr):  # noqa: C901 - one dispatch table, kept in one place
        if isinstance(expr, sp.Symbol):
            index = self.names[expr]
            return lambda env: env[index]
        if expr is sp.S.true or expr is sp.S.false:
            return _const(bool(expr))
        if isinstance(expr, sp.Number) or expr in (sp.pi, sp.E, sp.EulerGamma, sp.Catalan):
            if expr.is_integer:
                return _const(int(expr))
            if expr.is_real is False or expr.has(sp.I):
                raise UnsupportedExpressionError(f"complex constant {expr} is not supported")
            if expr.is_infinite:
                return _const(float("inf") if expr.is_positive else float("-inf"))
            return _const(float(expr))
        if expr is sp.I:
            raise UnsupportedExpressionError("the imaginary unit I is not supported (real only)")
        if isinstance(expr, sp.Add):
            parts = [self(a) for a in expr.args]
            return lambda env: functools.reduce(operator.add, (p(env) for p in parts))
        if isinstance(expr, sp.Mul):
            parts = [self(a) for a in expr.args]
            return lambda env: functools.reduce(operator.mul, (p(env) for p in parts))
        if isinstance(expr, sp.Pow):
            return self._pow(expr)
        if isinstance(expr, sp.Piecewise):
            pieces = [(self(e), self(c)) for e, c in expr.args]

            def piecewise(env):
                values = [e(env) for e, _ in pieces]
                conds = [c(env) for _, c in pieces]
                out = values[-1]
                for value, cond in zip(values[-2::-1], conds[-2::-1], strict=True):
                    out = jnp.where(cond, value, out)
                if expr.args[-1][1] is not sp.S.true:
                    out = jnp.where(conds[-1], out, jnp.nan)
                return out

            return piecewise
        if type(expr) in _RELATIONS:
            op = _RELATIONS[type(expr)]
            lhs, rhs = self(expr.lhs), self(expr.rhs)
            return lambda env: op(lhs(env), rhs(env))
        if isinstance(expr, sp.And | sp.Or | sp.Not):
            parts = [self(a) for a in expr.args]
            if isinstance(expr, sp.Not):
                return lambda env: jnp.logical_not(parts[0](env))
            op = jnp.logical_and if isinstance(expr, sp.And) else jnp.logical_or
            return lambda env: functools.reduce(op, (p(env) for p in parts))
        if isinstance(expr, sp.Max | sp.Min):
            parts = [self(a) for a in expr.args]
            op = jnp.maximum if isinstance(expr, sp.Max) else jnp.minimum
            return lambda env: functools.reduce(op, (p(env) for p in parts))
        if isinstance(expr, sp.hyper):
            ap = [self(a) for a in expr.ap]
            bq = [self(b) for b in expr.bq]
            z = self(expr.argument)
            if not (len(ap), len(bq)) in ((2, 1), (1, 1)):
                _hyper(ap, bq, None)  # raises with the explanation
            return lambda env: _hyper([a(env) for a in ap], [b(env) for b in bq], z(env))
        func = type(expr)
        if func in SUPPORTED_FUNCTIONS:
            impl = SUPPORTED_FUNCTIONS[func]
            parts = [self(a) for a in expr.args]
            if func is sp.besseli and not (expr.args[0] in (0, 1)):
                raise UnsupportedExpressionError(
                    f"besseli of order {expr.args[0]}: only orders 0 and 1 are supported"
                )
            if func is sp.Heaviside and len(parts) == 1:
                return lambda env: impl(parts[0](env))
            return lambda env: impl(*(p(env) for p in parts))
        name = getattr(func, "__name__", str(func))
        raise UnsupportedExpressionError(
            f"function {name!r} (in {expr}) has no JAX translation; supported: "
            + ", ".join(sorted({f.__name__ for f in SUPPORTED_FUNCTIONS} | _STRUCTURAL))
        )

    def _pow(self, expr):
        base = self(expr.base)
        exponent = expr.exp
        if exponent.is_Integer:
            k = int(exponent)
            if k >= 0:
                return lambda env: jnp.asarray(base(env)) ** k
            return lambda env: 1.0 / jnp.asarray(base(env)) ** (-k)
        if exponent == sp.Rational(1, 2):
            return lambda env: jnp.sqrt(base(env))
        if exponent == sp.Rational(-1, 2):
            return lambda env: 1.0 / jnp.sqrt(base(env))
        power = self(exponent)
        return lambda env: jnp.power(base(env), power(env))


_STRUCTURAL = {"Add", "Mul", "Pow", "Piecewise", "Max", "Min", "hyper (2F1, 1F1)", "relations"}


def lambdify(args: Sequence[sp.Symbol | str] | sp.Symbol | str, expr) -> Callable:
    """Translate a sympy expression into a JAX function of the given arguments.

    The result is a plain Python function `f(*arrays)` built from `jax.numpy` and
    `jax.scipy.special`; wrap it in `jax.jit` (it is traceable), `jax.vmap` or `jax.grad`.
    Arguments broadcast like numpy.  Rational constants become Python floats, so the result
    is float64 inside [`float64()`][limitlab.numerics.float64] and float32 otherwise.
    Orthogonal polynomials of symbolic degree (`gegenbauer(n, a, x)`, `legendre(n, x)`, ...)
    are evaluated by their three-term recurrences; with a traced degree they are
    forward-differentiable only.

    **Arguments:**

    - `args`: the argument symbols (or names), in call order; a single symbol is allowed.
    - `expr`: a sympy expression (or a list/tuple of them, giving a tuple of outputs).

    **Returns:** the JAX function.

    **Raises:** [`UnsupportedExpressionError`][limitlab.numerics.UnsupportedExpressionError]
    (a `ValueError`) naming the first unsupported function, and `ValueError` if `expr` has free
    symbols that are not among `args`.

    **Example:**

    ```pycon
    >>> import sympy as sp, jax
    >>> x = sp.Symbol("x")
    >>> f = jax.jit(lambdify([x], sp.erf(x) + sp.gamma(x)))
    >>> round(float(f(1.5)), 6)
    1.852332
    ```
    """
    if isinstance(args, sp.Symbol | str):
        args = [args]
    symbols = [sp.Symbol(a) if isinstance(a, str) else a for a in args]
    for s in symbols:
        if not isinstance(s, sp.Symbol):
            raise TypeError(f"args must be sympy Symbols or names, got {s!r}")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"args contain a repeated symbol: {symbols}")
    multiple = isinstance(expr, list | tuple)
    exprs = [sp.sympify(e) for e in (expr if multiple else [expr])]
    by_name = {s.name: s for s in symbols}
    names: dict[sp.Symbol, int] = {s: i for i, s in enumerate(symbols)}
    for e in exprs:
        for free in e.free_symbols:
            if free in names:
                continue
            # Symbols with the same name but other assumptions are the same variable to a user.
            if free.name in by_name:
                names[free] = names[by_name[free.name]]
                continue
            raise ValueError(
                f"expression has free symbol {free.name!r} that is not among args "
                f"{[s.name for s in symbols]}"
            )
    compiler = _Compiler(names)
    compiled = [compiler(e) for e in exprs]
    n_args = len(symbols)

    def function(*values):
        if len(values) != n_args:
            raise TypeError(f"expected {n_args} argument(s) {[s.name for s in symbols]}, "
                            f"got {len(values)}")
        out = [jnp.asarray(c(values)) for c in compiled]
        return tuple(out) if multiple else out[0]

    function.__doc__ = f"JAX translation of {exprs if multiple else exprs[0]}"
    return function
