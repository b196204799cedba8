"""Classical orthogonal polynomials by their three-term recurrences, in JAX.

`jax.scipy.special` has no Gegenbauer or Legendre evaluator (ecosystem.md §1.3 [derived]), so
these are evaluated by the standard recurrences [literature: DLMF 18.9.1]:

- Gegenbauer: $nC_n^{(a)}(x)=2x(n+a-1)C_{n-1}^{(a)}(x)-(n+2a-2)C_{n-2}^{(a)}(x)$, $C_0=1$, $C_1=2ax$.
- Legendre: $P_n=C_n^{(1/2)}$.
- Hermite (physicists'): $H_{n+1}=2xH_n-2nH_{n-1}$, $H_0=1$, $H_1=2x$.
- Chebyshev: $T_{n+1}=2xT_n-T_{n-1}$ ($T_1=x$), $U_{n+1}=2xU_n-U_{n-1}$ ($U_1=2x$).
- Laguerre: $(n+1)L_{n+1}=(2n+1-x)L_n-nL_{n-1}$, $L_0=1$, $L_1=1-x$.
- Normalised Gegenbauer on $\\mathbb S^{d-1}(\\sqrt d)$ (kernel-gradient-flow.md §3.2
  [derived, checked]): $(k+d-2)P_{k+1}^{(d)}(z)=(2k+d-2)zP_k^{(d)}(z)-kP_{k-1}^{(d)}(z)$,
  $P_0=1$, $P_1=z$, so that $P_k^{(d)}(1)=1$ without ever forming the huge $C_k^{(d/2-1)}(1)$.

The degree may be a Python integer (a static loop, differentiable in every other argument) or
a traced integer array (a `while_loop`, vectorised over the broadcast shape; forward-mode only).
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp
from jax import lax

__all__ = [
    "chebyshev_t",
    "chebyshev_u",
    "gegenbauer",
    "gegenbauer_normalised",
    "hermite",
    "laguerre",
    "legendre",
]


def _static_degree(n) -> int | None:
    if isinstance(n, numbers.Integral) and not isinstance(n, bool):
        if n < 0:
            raise ValueError(f"degree must be a non-negative integer, got {n}")
        return int(n)
    return None


def _float(x):
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


def _evaluate(n, args, first, second, step):
    """Degree-n member of the family with p_0 = first(*args), p_1 = second(*args) and
    p_{k+1} = step(k, p_k, p_{k-1}, *args)."""
    args = jnp.broadcast_arrays(*(_float(a) for a in args))

    def run(degree, *params, static=False):
        p0, p1 = first(*params), second(*params)

        def body(k, carry):
            return carry[1], step(k, carry[1], carry[0], *params)

        if static:
            return p0 if degree == 0 else lax.fori_loop(1, degree, body, (p0, p1))[1]
        degree = degree.astype(jnp.int32)
        out = lax.fori_loop(1, jnp.maximum(degree, 1), body, (p0, p1))[1]
        return jnp.where(degree == 0, p0, out)

    static = _static_degree(n)
    if static is not None:
        return run(static, *args, static=True)
    n = jnp.asarray(n)
    if jnp.issubdtype(n.dtype, jnp.floating):
        n = jnp.round(n).astype(jnp.int32)
    elif not jnp.issubdtype(n.dtype, jnp.integer):
        raise TypeError(f"degree must be an integer array, got dtype {n.dtype}")
    return jnp.vectorize(run)(n, *args)


def gegenbauer(n, a, x):
    """Gegenbauer polynomial $C_n^{(a)}(x)$ (sympy's `gegenbauer(n, a, x)`), $a>-1/2$, $a\\neq0$."""
    return _evaluate(
        n,
        (a, x),
        lambda a, x: jnp.ones_like(x),
        lambda a, x: 2 * a * x,
        lambda k, pk, pkm1, a, x: (2 * x * (k + a) * pk - (k + 2 * a - 1) * pkm1) / (k + 1),
    )


def legendre(n, x):
    """Legendre polynomial $P_n(x)=C_n^{(1/2)}(x)$."""
    return _evaluate(
        n,
        (x,),
        jnp.ones_like,
        lambda x: x,
        lambda k, pk, pkm1, x: ((2 * k + 1) * x * pk - k * pkm1) / (k + 1),
    )


def gegenbauer_normalised(k, d, z):
    """Normalised Gegenbauer $P_k^{(d)}(z)=C_k^{(d/2-1)}(z)/C_k^{(d/2-1)}(1)$, $d\\ge3$.

    Evaluated by the normalised recurrence (kernel-gradient-flow.md §3.2 [derived, checked]),
    stable for large $d$ where the ratio of two huge numbers is not.
    """
    return _evaluate(
        k,
        (d, z),
        lambda d, z: jnp.ones_like(z),
        lambda d, z: z,
        lambda j, pk, pkm1, d, z: ((2 * j + d - 2) * z * pk - j * pkm1) / (j + d - 2),
    )


def hermite(n, x):
    """Physicists' Hermite polynomial $H_n(x)$ (sympy's `hermite`)."""
    return _evaluate(
        n, (x,), jnp.ones_like, lambda x: 2 * x, lambda k, pk, pkm1, x: 2 * x * pk - 2 * k * pkm1
    )


def chebyshev_t(n, x):
    """Chebyshev polynomial of the first kind $T_n(x)$."""
    return _evaluate(n, (x,), jnp.ones_like, lambda x: x, lambda k, pk, pkm1, x: 2 * x * pk - pkm1)


def chebyshev_u(n, x):
    """Chebyshev polynomial of the second kind $U_n(x)$."""
    return _evaluate(
        n, (x,), jnp.ones_like, lambda x: 2 * x, lambda k, pk, pkm1, x: 2 * x * pk - pkm1
    )


def laguerre(n, x):
    """Laguerre polynomial $L_n(x)$."""
    return _evaluate(
        n,
        (x,),
        jnp.ones_like,
        lambda x: 1 - x,
        lambda k, pk, pkm1, x: ((2 * k + 1 - x) * pk - k * pkm1) / (k + 1),
    )
