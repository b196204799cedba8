"""Harmonic analysis of inner-product kernels on the sphere $\\mathbb S^{d-1}(\\sqrt d)$ and cube.

An inner-product kernel $K(x,x')=h(\\langle x,x'\\rangle/d)$ on
$\\mathbb S^{d-1}(\\sqrt d)$ (so $\\lVert x\\rVert^2=d$ and $\\mathbb Ex_i^2=1$) is diagonal in the
spherical harmonics: $L^2=\\bigoplus_{k\\ge0}V_{d,k}$, $\\dim V_{d,k}=N(d,k)$, and the integral
operator $(\\mathbb Hg)(x)=\\mathbb E_{x'}[K(x,x')g(x')]$ acts on $V_{d,k}$ as multiplication by the
Funk–Hecke eigenvalue

$$\\lambda_{d,k}=\\mathbb E_z\\big[h(z)P^{(d)}_k(z)\\big],\\qquad
z=\\langle x,x'\\rangle/d,\\quad p_d(z)=\\frac{\\Gamma(d/2)}{\\sqrt\\pi\\,\\Gamma(\\frac{d-1}2)}
(1-z^2)^{\\frac{d-3}2}\\ \\text{on }[-1,1],$$

with $P^{(d)}_k$ the Gegenbauer polynomial normalised by $P^{(d)}_k(1)=1$ [literature;
`shared/reference/kernel-gradient-flow.md` §3.1–§3.4].  The Mercer decomposition is
$h(\\langle x,x'\\rangle/d)=\\sum_k\\lambda_{d,k}N(d,k)P^{(d)}_k(\\langle x,x'\\rangle/d)$,
hence the trace identity $\\sum_kN(d,k)\\lambda_{d,k}=h(1)$.

Three ways to get $\\lambda_{d,k}$ (see
[`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue]):

- **exact** for a polynomial $h$, from the moment formula (reference §3.5 [derived]; proved
  here by $k$ integrations by parts of the Rodrigues form and checked in the tests against
  direct integration)
  $$\\mathbb E_z\\big[z^{k+2m}P^{(d)}_k(z)\\big]=\\frac{(k+2m)!}{2^{k+2m}\\,m!}\\,
  \\frac{\\Gamma(d/2)}{\\Gamma(d/2+k+m)},\\qquad \\mathbb E_z[z^jP^{(d)}_k]=0\\ \\text{if } j<k
  \\text{ or } j-k \\text{ odd};$$
- **series**: the same formula summed over the Taylor series of $h$ at 0.  When the Taylor
  coefficients that enter are non-negative every term is non-negative, so there is no
  cancellation even when $\\lambda_{d,k}\\sim d^{-k}$ is tiny;
- **quadrature**: `mpmath.quad` of the Funk–Hecke integral with the working precision raised by
  $k\\log_{10}d$ digits to absorb the cancellation of $O(d^{-k/2})$ terms into an $O(d^{-k})$
  result (reference §3.7).

The hypercube $\\{\\pm1\\}^d$ analogue uses the Walsh basis and Krawtchouk polynomials
([`hypercube_eigenvalue`][limitlab.theory.hypercube_eigenvalue]).

This module never imports JAX: only sympy and mpmath.
"""

from __future__ import annotations

import functools
import math
import operator
import warnings

import mpmath
import sympy as sp

__all__ = [
    "KERNEL_VARIABLE",
    "check_positive_definite",
    "eigenvalue_asymptotic",
    "funk_hecke_eigenvalue",
    "gegenbauer_normalised",
    "harmonic_degeneracy",
    "hypercube_degeneracy",
    "hypercube_eigenvalue",
    "kappa_tail",
    "kappa_tail_limit",
    "mu_coefficient",
]

KERNEL_VARIABLE = sp.Symbol("z", real=True)
"""The kernel variable $z=\\langle x,x'\\rangle/d\\in[-1,1]$ of $h(z)$, a real sympy symbol `z`."""

_z = KERNEL_VARIABLE
_METHODS = ("auto", "exact", "series", "quadrature")
_SERIES_DPS = 30
_QUADRATURE_DPS = 20
# Largest number of Taylor coefficients the series method computes before giving up.  The
# coefficient recurrences cost O(n^2) multiplications per node of the kernel's expression tree.
_MAX_TAYLOR_TERMS = 1024


# --------------------------------------------------------------------------------------------
# argument checking


def _integer(value, name: str, minimum: int) -> int:
    allowed = f"{name} must be an integer >= {minimum}"
    if isinstance(value, bool):
        raise ValueError(f"{allowed}, got {value!r}")
    if isinstance(value, sp.Basic):
        if not value.is_Integer:
            raise ValueError(f"{allowed}, got {value}")
        value = int(value)
    else:
        try:
            value = operator.index(value)
        except TypeError:
            raise ValueError(f"{allowed}, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{allowed}, got {value}")
    return value


def _dimension(d, *, symbolic: bool = True, minimum: int = 3):
    """An integer `d >= minimum`, or (if `symbolic`) a sympy expression with free symbols."""
    if isinstance(d, sp.Basic) and not d.is_number:
        if not symbolic:
            raise ValueError(f"d must be a numeric integer >= {minimum} here, got the symbolic {d}")
        return d
    return _integer(d, "d", minimum)


def _kernel(kernel) -> sp.Expr:
    """The kernel $h$ as a sympy expression in `KERNEL_VARIABLE`."""
    if isinstance(kernel, str):
        # Named kernels ("relu-ntk:depth=2") work wherever an expression does; the import is
        # local because _kernels builds on this module.
        from ._kernels import kernel_expression

        return kernel_expression(kernel)
    if isinstance(kernel, bool):
        raise TypeError("kernel must be a sympy expression in z or a string, got a bool")
    if isinstance(kernel, int | float):
        return sp.sympify(kernel)
    if not isinstance(kernel, sp.Expr):
        raise TypeError(
            f"kernel must be a sympy expression in z or a string, got {type(kernel).__name__}"
        )
    # Accept any symbol spelled "z" (users often build kernels with a plain Symbol("z")).
    renames = {s: _z for s in kernel.free_symbols if s.name == "z" and s != _z}
    return kernel.xreplace(renames) if renames else kernel


def _method(method: str) -> str:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}")
    return method


def _digits(dps, default: int) -> int:
    return default if dps is None else _integer(dps, "dps", 5)


def _require_numeric_kernel(h: sp.Expr, what: str) -> None:
    extra = h.free_symbols - {_z}
    if extra:
        raise ValueError(
            f"kernel {h} has free symbols {sorted(map(str, extra))} besides z; {what} needs a "
            "kernel whose only symbol is z"
        )


def _polynomial_coefficients(h: sp.Expr) -> dict[int, sp.Expr] | None:
    """{j: a_j} with h = sum_j a_j z^j, or None if h is not a polynomial in z."""
    if h.is_polynomial(_z) is not True:
        return None
    poly = sp.Poly(sp.expand(h), _z)
    return {j: c for (j,), c in poly.terms()}


_NON_ANALYTIC = (sp.acos, sp.asin, sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise, sp.Min, sp.Max)


def _singular_on_interval(h: sp.Expr) -> bool:
    """True when $h$ visibly has a singularity on $[-1,1]$: an arc-cosine/arc-sine, an absolute
    value, a step or a piecewise part, or a fractional power whose base vanishes at $z=\\pm1$
    (as $\\sqrt{1-z^2}$ in the arc-cosine kernels).  Such a Taylor series at 0 has radius at most 1
    and coefficients that decay only polynomially, so `"auto"` integrates instead: at $d=30$ the
    series route costs minutes for the two-layer ReLU NTK, quadrature under a second."""
    if h.has(*_NON_ANALYTIC):
        return True
    for power in h.atoms(sp.Pow):
        if power.exp.is_integer is not True and power.base.has(_z):
            for point in (1, -1):
                if sp.simplify(power.base.xreplace({_z: sp.Integer(point)})) == 0:
                    return True
    return False


def _parity(h: sp.Expr) -> int:
    """+1 if h is structurally even in z, -1 if odd, 0 otherwise (or unknown)."""
    mirrored = h.xreplace({_z: -_z})
    if sp.expand(mirrored - h) == 0:
        return 1
    if sp.expand(mirrored + h) == 0:
        return -1
    return 0


def _to_float(value: mpmath.mpf, dps: int) -> sp.Float:
    return sp.Float(mpmath.nstr(value, dps + 3), dps)


# --------------------------------------------------------------------------------------------
# degeneracies and Gegenbauer polynomials


def harmonic_degeneracy(d, k: int):
    """Dimension $N(d,k)$ of the degree-$k$ spherical harmonics on $\\mathbb S^{d-1}$.

    $$N(d,k)=\\frac{2k+d-2}{k}\\binom{k+d-3}{k-1}=\\binom{d+k-1}{k}-\\binom{d+k-3}{k-2},
    \\qquad N(d,0)=1,\\ N(d,1)=d$$

    [literature; reference §3.1].  At fixed $k$, $N(d,k)=\\frac{d^k}{k!}(1+O(1/d))$.

    **Arguments:**

    - `d`: the ambient dimension, an integer $\\ge3$, or a sympy symbol.
    - `k`: the degree, an integer $\\ge0$.

    **Returns:** an exact Python `int` for integer `d`; for symbolic `d`, the expanded polynomial
    in `d` (a sympy expression).

    **Raises:** `ValueError` if `d` is not an integer $\\ge3$ (or symbolic) or `k` is not an
    integer $\\ge0$.

    **Example:**

    ```pycon
    >>> harmonic_degeneracy(100, 2)
    5049
    >>> harmonic_degeneracy(sp.Symbol("d"), 2)
    d**2/2 + d/2 - 1
    ```
    """
    d = _dimension(d)
    k = _integer(k, "k", 0)
    if k == 0:
        return 1 if isinstance(d, int) else sp.S.One
    if isinstance(d, int):
        # k * N(d, k) = (2k+d-2) C(k+d-3, k-1), so the division is exact.
        return (2 * k + d - 2) * math.comb(k + d - 3, k - 1) // k
    # C(k+d-3, k-1) = (d-1)(d)...(d+k-3)/(k-1)!
    binomial = sp.Mul(*[d - 2 + i for i in range(1, k)]) / sp.factorial(k - 1)
    return sp.expand((2 * k + d - 2) * binomial / k)


def hypercube_degeneracy(d, k: int):
    """Number $\\binom dk$ of degree-$k$ Walsh monomials on the hypercube $\\{\\pm1\\}^d$.

    The monomials are $\\chi_S(x)=\\prod_{i\\in S}x_i$ with $|S|=k$; they are orthonormal for $x$
    uniform on the cube [literature; reference §2 and §3.1].

    **Arguments:**

    - `d`: the dimension, an integer $\\ge1$, or a sympy symbol.
    - `k`: the degree, an integer with $0\\le k\\le d$ (only $k\\ge0$ is checked for symbolic `d`).

    **Returns:** an exact `int`, or a polynomial in `d` for symbolic `d`.

    **Raises:** `ValueError` for a non-integer or out-of-range argument.
    """
    d = _dimension(d, minimum=1)
    k = _integer(k, "k", 0)
    if isinstance(d, int):
        if k > d:
            raise ValueError(f"k must satisfy 0 <= k <= d = {d}, got {k}")
        return math.comb(d, k)
    return sp.expand(sp.Mul(*[d - i for i in range(k)]) / sp.factorial(k))


def gegenbauer_normalised(k: int, d, z=KERNEL_VARIABLE) -> sp.Expr:
    """Gegenbauer polynomial normalised at 1: $P^{(d)}_k(z)=C^{(d/2-1)}_k(z)/C^{(d/2-1)}_k(1)$.

    Computed with the three-term recurrence of the normalised polynomials

    $$(k+d-2)\\,P_{k+1}(z)=(2k+d-2)\\,z\\,P_k(z)-k\\,P_{k-1}(z),\\qquad P_0=1,\\ P_1=z$$

    [literature; reference §3.2], never as the ratio of $C_k^{(d/2-1)}(z)$ and
    $C_k^{(d/2-1)}(1)=\\binom{k+d-3}{k}$, which are both huge at large $d$.  $d=3$ gives the
    Legendre polynomials; $P_2(z)=(dz^2-1)/(d-1)$.

    **Arguments:**

    - `k`: the degree, an integer $\\ge0$.
    - `d`: the dimension, an integer $\\ge3$ or a sympy symbol.
    - `z`: the argument, a number or sympy expression (default: `KERNEL_VARIABLE`).

    **Returns:** a sympy expression: an exact `Rational` for rational `z` and integer `d`, a
    `Float` for a float `z`, and a polynomial in `z` (rational function of `d`, in cancelled
    form) for symbolic arguments.

    **Raises:** `ValueError` for `k` or `d` out of range.

    **Example:**

    ```pycon
    >>> gegenbauer_normalised(2, 100, sp.Rational(1, 2))
    8/33
    ```
    """
    k = _integer(k, "k", 0)
    d = _dimension(d)
    z = sp.sympify(z)
    if k == 0:
        return sp.S.One
    symbolic = not (z.is_number and isinstance(d, int))
    previous, current = sp.S.One, z
    for j in range(1, k):
        following = ((2 * j + d - 2) * z * current - j * previous) / (j + d - 2)
        if symbolic:
            following = sp.cancel(following)
        previous, current = current, following
    return current


def _gegenbauer_recurrence(k: int, d: int) -> list[tuple]:
    """mpf pairs (a_j, b_j) with P_{j+1} = a_j z P_j - b_j P_{j-1}, in the current precision."""
    return [
        (mpmath.mpf(2 * j + d - 2) / (j + d - 2), mpmath.mpf(j) / (j + d - 2)) for j in range(1, k)
    ]


def _gegenbauer_mp(k: int, t, recurrence: list[tuple]):
    """Normalised Gegenbauer $P^{(d)}_k(t)$ in mpmath, from `_gegenbauer_recurrence(k, d)`."""
    if k == 0:
        return mpmath.mpf(1)
    previous, current = mpmath.mpf(1), t
    for a, b in recurrence:
        previous, current = current, a * t * current - b * previous
    return current


# --------------------------------------------------------------------------------------------
# Funk–Hecke eigenvalues


def funk_hecke_eigenvalue(kernel, d, k: int, *, method: str = "auto", dps: int | None = None):
    """Eigenvalue $\\lambda_{d,k}$ of $K(x,x')=h(\\langle x,x'\\rangle/d)$ on degree-$k$ harmonics.

    $$\\lambda_{d,k}=\\mathbb E_z\\big[h(z)P^{(d)}_k(z)\\big]
    =\\frac{\\Gamma(d/2)}{\\sqrt\\pi\\,\\Gamma(\\frac{d-1}2)}\\int_{-1}^1h(z)P^{(d)}_k(z)
    (1-z^2)^{\\frac{d-3}2}\\,dz$$

    for $x,x'$ independent and uniform on $\\mathbb S^{d-1}(\\sqrt d)$ [literature; reference
    §3.4].  The eigenvalue has multiplicity $N(d,k)$ and $\\sum_kN(d,k)\\lambda_{d,k}=h(1)$.  With
    $c_j=h^{(j)}(0)/j!$ the Taylor coefficients,

    $$\\lambda_{d,k}=\\sum_{m\\ge0}\\frac{h^{(k+2m)}(0)}{2^{k+2m}\\,m!}\\,
    \\frac{\\Gamma(d/2)}{\\Gamma(d/2+k+m)}
    =\\frac{h^{(k)}(0)}{d^k}\\big(1+O(1/d)\\big)$$

    [derived, reference §3.5; proved by integrating the Rodrigues form by parts and checked in
    the tests against direct integration].

    Methods:

    - `"exact"`: polynomial $h$ only; the finite sum above in exact arithmetic.  A `Rational` for
      integer `d` and rational coefficients, a rational function of `d` for symbolic `d`; other
      symbols in the coefficients are kept.
    - `"series"`: $h$ analytic at 0; the series is summed in mpmath until a rigorous bound on its
      tail is below $10^{-\\text{dps}}$ times the partial sum.  The bound uses that the Taylor
      coefficients of the parity of $k$ are non-negative (checked up to the order computed, at
      most 1024; a later negative one shows up as partial sums exceeding $h_\\pm(1)$, an
      error): the tail is at most (largest remaining
      moment weight) $\\times\\big(h_\\pm(1)-\\sum_{j\\le J}c_j\\big)$, with
      $h_\\pm(1)=\\frac12(h(1)\\pm h(-1))$.  If one of those coefficients is negative the result
      comes from `"quadrature"` instead (terms of both signs cancel); if the bound does not reach
      the tolerance within 1024 Taylor coefficients (e.g. $h=\\arcsin$ at small $d$, whose
      coefficients decay only like $j^{-3/2}$), `ValueError`.
    - `"quadrature"`: any $h$ that is piecewise smooth with kinks at most at $z=0$;
      `mpmath.quad` (tanh–sinh) over $[-1,1]$ split at $0$ and $\\pm3\\cdot2^i/\\sqrt d$, where the
      density lives, with the normaliser from `mpmath.loggamma` and the working precision raised
      to $\\text{dps}+k\\log_{10}d+10$ digits against the cancellation.  A `RuntimeWarning` is
      issued if mpmath's error estimate exceeds $10^{-\\text{dps}}|\\lambda|$.
    - `"auto"` (default): `"exact"` for a polynomial; `"quadrature"` for a kernel with a visible
      singularity on $[-1,1]$ (arc-cosine or arc-sine, absolute value, steps, or a fractional
      power of a base that vanishes at $z=\\pm1$, as in the ReLU kernels: their Taylor
      coefficients decay only polynomially); else `"series"`, falling back to `"quadrature"`.

    For the numerical methods an $h$ that is structurally even (odd) in $z$ gives an exact 0 for
    odd (even) $k$.

    **Arguments:**

    - `kernel`: $h$, a sympy expression in `KERNEL_VARIABLE` (any symbol named `z` is accepted) or
      a string such as `"exp(z)"`, parsed with
      [`parse_expression`][limitlab.theory.parse_expression].
    - `d`: the dimension, an integer $\\ge3$; a sympy symbol only with the exact method.
    - `k`: the degree, an integer $\\ge0$.
    - `method`: `"auto"`, `"exact"`, `"series"` or `"quadrature"`.
    - `dps`: significant digits of a numerical result (default 30 for `"series"`, 20 for
      `"quadrature"`); ignored by `"exact"`.

    **Returns:** a sympy expression: exact (see above) or a `Float` with `dps` digits.

    **Raises:** `ValueError` for `d`, `k`, `method`, `dps` out of range, an unknown name in a
    kernel string, a non-polynomial kernel with `"exact"`, symbolic `d` or extra symbols with a
    numerical method, or a series that does not converge with `"series"`.

    **Example:**

    ```pycon
    >>> funk_hecke_eigenvalue("z**2", sp.Symbol("d"), 2)
    2/(d*(d + 2))
    >>> funk_hecke_eigenvalue("exp(z)", 3, 1, dps=15)
    0.367879441171442
    ```
    """
    h = _kernel(kernel)
    d = _dimension(d)
    k = _integer(k, "k", 0)
    method = _method(method)
    if dps is not None:
        _digits(dps, 0)
    coefficients = _polynomial_coefficients(h)
    if method == "exact" or (method == "auto" and coefficients is not None):
        if coefficients is None:
            raise ValueError(
                f"method='exact' needs a polynomial kernel, got {h}; use 'series' or 'quadrature'"
            )
        return _exact_eigenvalue(coefficients, d, k)
    if not isinstance(d, int):
        raise ValueError(
            f"d must be a numeric integer >= 3 with method={method!r}, got the symbolic {d} "
            "(symbolic d needs a polynomial kernel and the exact method)"
        )
    _require_numeric_kernel(h, f"method={method!r}")
    parity = _parity(h)
    if (parity == 1 and k % 2 == 1) or (parity == -1 and k % 2 == 0):
        return sp.S.Zero
    if method == "series" or (method == "auto" and not _singular_on_interval(h)):
        try:
            return _series_eigenvalue(h, d, k, _digits(dps, _SERIES_DPS))
        except _NegativeCoefficient:
            pass
        except _SeriesFailure as err:
            if method == "series":
                raise ValueError(str(err)) from None
    return _quadrature_eigenvalue(h, d, k, _digits(dps, _QUADRATURE_DPS))


def _moment_weight(d, k: int, m: int) -> sp.Expr:
    """E_z[z^(k+2m) P_k(z)] = (k+2m)! / (2^(k+2m) m!) / (d/2)_(k+m), exactly."""
    half = sp.Rational(d, 2) if isinstance(d, int) else d / 2
    rising = sp.Mul(*[half + i for i in range(k + m)])
    return sp.factorial(k + 2 * m) / (2 ** (k + 2 * m) * sp.factorial(m) * rising)


def _exact_eigenvalue(coefficients: dict[int, sp.Expr], d, k: int) -> sp.Expr:
    total = sp.S.Zero
    for j, coefficient in coefficients.items():
        if j >= k and (j - k) % 2 == 0:
            total += coefficient * _moment_weight(d, k, (j - k) // 2)
    if isinstance(total, sp.Number):
        return total
    return sp.factor(sp.cancel(total)) if not isinstance(d, int) else sp.expand(total)


class _SeriesFailure(Exception):
    """The Taylor series route cannot deliver the eigenvalue (not analytic, too slow, ...)."""


class _NegativeCoefficient(Exception):
    """A Taylor coefficient that enters lambda_{d,k} is negative: use quadrature."""


class _NotAnalytic(Exception):
    """The kernel has no usable Taylor expansion at z = 0."""


def _series_eigenvalue(h: sp.Expr, d: int, k: int, dps: int) -> sp.Float:
    tolerance = mpmath.mpf(10) ** (-dps)
    wp = dps + 20
    # A power of two, so that the cached Taylor coefficients serve every degree k < n - 64.
    n = 128
    while n < k + 64:
        n *= 2
    history: list[tuple[int, mpmath.mpf]] = []
    for _ in range(40):
        with mpmath.workdps(wp):
            status, value, info = _series_pass(h, d, k, n, wp, tolerance)
            if status == "done":
                return sp.S.Zero if value == 0 else _to_float(value, dps)
            if status == "precision":
                wp += info
                continue
            # status == "terms": the tail bound `info` is still too large; extrapolate its decay
            # per Taylor coefficient from the previous pass before paying for a bigger one.
            target = tolerance * value
            if history and info > 0 and value > 0:
                n_old, bound_old = history[-1]
                rate = (info / bound_old) ** (mpmath.mpf(1) / (n - n_old)) if bound_old > 0 else 1
                needed = math.inf
                if rate < 1:
                    needed = n + float(mpmath.log(target / info) / mpmath.log(rate))
                if needed > _MAX_TAYLOR_TERMS:
                    raise _SeriesFailure(_slow_series_message(h, d, k, n, info, value))
            if 2 * n > _MAX_TAYLOR_TERMS:
                raise _SeriesFailure(_slow_series_message(h, d, k, n, info, value))
            history.append((n, info))
            n *= 2
    raise _SeriesFailure(f"the Taylor series of kernel {h} did not settle (d={d}, k={k})")


def _slow_series_message(h, d, k, n, bound, value) -> str:
    relative = mpmath.nstr(bound / value, 3) if value > 0 else "inf"
    return (
        f"the Taylor series of kernel {h} converges too slowly for lambda_(d={d}, k={k}): after "
        f"{n} Taylor coefficients the tail bound is {relative} relative to the sum, and the "
        f"requested tolerance is not reachable within {_MAX_TAYLOR_TERMS} coefficients; "
        "use method='quadrature'"
    )


def _series_pass(h, d, k, n, wp, tolerance):
    """One attempt with Taylor coefficients c_0..c_{n-1} at `wp` digits.

    Returns ("done", value, None), ("precision", value, extra_digits) or ("terms", sum, bound).
    """
    try:
        coefficients = _taylor_coefficients(h, n, mpmath.mp.prec)
    except _NotAnalytic as err:
        raise _SeriesFailure(f"kernel {h} has no usable Taylor series at z = 0 ({err})") from None
    sign = 1 if k % 2 == 0 else -1
    h_plus, h_minus = _real_value_at(h, 1), _real_value_at(h, -1)
    parity_at_one = (h_plus + sign * h_minus) / 2
    eps = mpmath.mpf(10) ** (-(wp - 10))
    coefficient_noise = eps * max(abs(c) for c in coefficients)
    # Moment weights w_m = E[z^(k+2m) P_k]; w_{m+1}/w_m <= 1 once
    # (2d-2) m + 2d - 2 + k - k^2 >= 0, so a suffix maximum taken past that index bounds every
    # later weight.
    terms = (n - 1 - k) // 2 + 1
    monotone_from = max(0, math.ceil((k * k - k - 2 * d + 2) / (2 * d - 2)))
    count = max(terms, monotone_from + 1) + 1
    half = mpmath.mpf(d) / 2
    weights = [mpmath.factorial(k) / (2**k * mpmath.rf(half, k))]
    for m in range(count - 1):
        ratio = mpmath.mpf((k + 2 * m + 1) * (k + 2 * m + 2)) / (4 * (m + 1) * (half + k + m))
        weights.append(weights[-1] * ratio)
    suffix_max = weights[:]
    for m in range(count - 2, -1, -1):
        suffix_max[m] = max(suffix_max[m], suffix_max[m + 1])
    # Parity-class coefficients below k contribute nothing to lambda but are part of h_pm(1).
    partial = mpmath.fsum(coefficients[j] for j in range(k % 2, k, 2))
    absolute = mpmath.fsum(abs(coefficients[j]) for j in range(k % 2, k, 2)) + abs(parity_at_one)
    total = mpmath.mpf(0)
    bound = mpmath.inf
    for m in range(terms):
        c = coefficients[k + 2 * m]
        if c < -coefficient_noise:
            raise _NegativeCoefficient
        c = max(c, 0)
        total += c * weights[m]
        partial += c
        absolute += c
        difference = parity_at_one - partial
        noise = eps * absolute
        if difference < -noise:
            raise _SeriesFailure(
                f"the Taylor series of kernel {h} at 0 does not converge to h(+-1): its partial "
                "sums exceed (h(1) +- h(-1))/2, so either a later coefficient is negative or the "
                "series diverges inside [-1, 1]"
            )
        bound = suffix_max[m + 1] * (max(difference, 0) + noise)
        if total > 0 and bound <= tolerance * total:
            return "done", total, None
    if max(difference, 0) <= noise:
        # The remaining coefficients are zero to working precision.
        if total == 0:
            return "done", total, None
        floor = suffix_max[terms] * noise
        extra = int(mpmath.ceil(mpmath.log10(floor / (tolerance * total)))) + 5
        return "precision", total, max(extra, 10)
    return "terms", total, bound


def _real_value_at(h: sp.Expr, point: int) -> mpmath.mpf:
    value = h.xreplace({_z: sp.Integer(point)}).evalf(mpmath.mp.dps + 5)
    if not (value.is_real and value.is_finite):
        raise _SeriesFailure(f"kernel {h} is not finite and real at z = {point}: got {value}")
    return mpmath.mpf(sp.Float(value, mpmath.mp.dps + 5)._mpf_)


def _quadrature_eigenvalue(h: sp.Expr, d: int, k: int, dps: int) -> sp.Float:
    # lambda ~ d^-k comes out of integrand values ~ d^-(k/2): raise the precision by k log10 d.
    wp = dps + math.ceil(k * math.log10(d)) + 10
    with mpmath.workdps(wp):
        f = sp.lambdify(_z, h, modules="mpmath")
        beta = mpmath.mpf(d - 3) / 2
        recurrence = _gegenbauer_recurrence(k, d)
        normaliser = mpmath.exp(
            mpmath.loggamma(mpmath.mpf(d) / 2) - mpmath.loggamma(mpmath.mpf(d - 1) / 2)
        ) / mpmath.sqrt(mpmath.pi)

        def integrand(t):
            # (1-t)(1+t) keeps the weight accurate near the endpoints; power(0, 0) = 1 at d = 3.
            return f(t) * _gegenbauer_mp(k, t, recurrence) * mpmath.power((1 - t) * (1 + t), beta)

        value, error = mpmath.quad(integrand, _quadrature_points(d), error=True)
        value, error = normaliser * value, normaliser * error
        if isinstance(value, mpmath.mpc):
            if abs(value.imag) > mpmath.mpf(10) ** (-dps) * abs(value):
                raise ValueError(f"kernel {h} is not real on [-1, 1] (eigenvalue {value})")
            value = value.real
        # |h P_k| <= max|h| on [-1, 1] (|P_k| <= 1), and the working precision carries
        # k log10 d + 10 digits beyond dps: a value below 10^-(wp - 5) max|h| is a zero
        # eigenvalue (e.g. the odd degrees k >= 3 of the one-layer ReLU NTK, whose odd part is
        # exactly z) that rounding made +-1e-39, and its sign means nothing
        scale = max(abs(f(mpmath.mpf(t))) for t in (-1, 0, 1))
        if abs(value) <= mpmath.mpf(10) ** (5 - wp) * scale:
            return sp.S.Zero
        if value != 0 and error > mpmath.mpf(10) ** (-dps) * abs(value):
            warnings.warn(
                f"quadrature of lambda_(d={d}, k={k}) for kernel {h}: estimated relative error "
                f"{mpmath.nstr(error / abs(value), 3)} exceeds 1e-{dps} (is the kernel smooth "
                "away from z = 0?)",
                RuntimeWarning,
                stacklevel=3,
            )
        return _to_float(value, dps)


def _quadrature_points(d: int) -> list:
    """Split points 0, +-3*2^i/sqrt(d) (< 1), +-1: the density lives in |z| <~ several/sqrt(d)."""
    root = mpmath.sqrt(d)
    inner = []
    scale = 3
    while scale < root:
        inner.append(scale / root)
        scale *= 2
    return [-1, *[-t for t in reversed(inner)], 0, *inner, 1]


# --------------------------------------------------------------------------------------------
# Taylor coefficients by power-series arithmetic (automatic differentiation on truncated series)


@functools.lru_cache(maxsize=64)
def _taylor_coefficients(h: sp.Expr, n: int, prec: int) -> tuple:
    """c_0..c_{n-1} of h at z = 0, c_j = h^(j)(0)/j!, in mpmath at binary precision `prec`."""
    with mpmath.workprec(prec):
        return tuple(_jet(h, n))


def _constant(e: sp.Expr):
    value = e.evalf(mpmath.mp.dps + 5)
    if not (value.is_real and value.is_finite):
        raise _NotAnalytic(f"the constant {e} is not a finite real number")
    return mpmath.mpf(sp.Float(value, mpmath.mp.dps + 5)._mpf_)


def _times(a: list, b: list) -> list:
    if all(x == 0 for x in a[1:]):
        return [a[0] * x for x in b]
    if all(x == 0 for x in b[1:]):
        return [b[0] * x for x in a]
    return [mpmath.fdot(a[: i + 1], b[i::-1]) for i in range(len(a))]


def _reciprocal(f: list) -> list:
    if f[0] == 0:
        raise _NotAnalytic("a denominator vanishes at z = 0")
    g = [1 / f[0]]
    for m in range(1, len(f)):
        g.append(-mpmath.fdot(f[1 : m + 1], g[m - 1 :: -1]) / f[0])
    return g


def _integer_power(f: list, p: int) -> list:
    if p < 0:
        return _integer_power(_reciprocal(f), -p)
    result = [mpmath.mpf(1)] + [mpmath.mpf(0)] * (len(f) - 1)
    base = f
    while p:
        if p & 1:
            result = _times(result, base)
        p >>= 1
        if p:
            base = _times(base, base)
    return result


def _real_power(f: list, alpha) -> list:
    # f g' = alpha f' g  =>  m f_0 g_m = sum_{j=1}^m ((alpha+1) j - m) f_j g_{m-j}.
    if f[0] <= 0:
        raise _NotAnalytic("a non-integer power of a quantity that is <= 0 at z = 0")
    g = [mpmath.power(f[0], alpha)]
    for m in range(1, len(f)):
        factors = [((alpha + 1) * j - m) * f[j] for j in range(1, m + 1)]
        g.append(mpmath.fdot(factors, g[m - 1 :: -1]) / (m * f[0]))
    return g


def _integral(f: list, u: list, g0) -> list:
    """Series of g with g(0) = g0 and g' = f' u:  m g_m = sum_{j=1}^m j f_j u_{m-j}."""
    jf = [j * f[j] for j in range(len(f))]
    g = [g0]
    for m in range(1, len(f)):
        g.append(mpmath.fdot(jf[1 : m + 1], u[m - 1 :: -1]) / m)
    return g


def _exp(f: list) -> list:
    jf = [j * f[j] for j in range(len(f))]
    g = [mpmath.exp(f[0])]
    for m in range(1, len(f)):
        g.append(mpmath.fdot(jf[1 : m + 1], g[m - 1 :: -1]) / m)
    return g


def _log(f: list) -> list:
    if f[0] <= 0:
        raise _NotAnalytic("the logarithm of a quantity that is <= 0 at z = 0")
    g = [mpmath.log(f[0])]
    for m in range(1, len(f)):
        jg = [j * g[j] for j in range(1, m)]
        g.append((f[m] - mpmath.fdot(jg, f[m - 1 : 0 : -1]) / m) / f[0])
    return g


def _sin_cos(f: list, hyperbolic: bool) -> tuple[list, list]:
    jf = [j * f[j] for j in range(len(f))]
    if hyperbolic:
        s, c = [mpmath.sinh(f[0])], [mpmath.cosh(f[0])]
    else:
        s, c = [mpmath.sin(f[0])], [mpmath.cos(f[0])]
    sign = 1 if hyperbolic else -1
    for m in range(1, len(f)):
        s.append(mpmath.fdot(jf[1 : m + 1], c[m - 1 :: -1]) / m)
        c.append(sign * mpmath.fdot(jf[1 : m + 1], s[m - 1 :: -1]) / m)
    return s, c


def _shifted(f: list, constant, sign: int) -> list:
    """constant + sign * f."""
    return [constant + sign * f[0]] + [sign * x for x in f[1:]]


def _jet_function(e: sp.Expr, f: list) -> list:
    one = mpmath.mpf(1)
    if isinstance(e, sp.exp):
        return _exp(f)
    if isinstance(e, sp.log):
        return _log(f)
    if isinstance(e, (sp.sin, sp.cos, sp.tan)):
        s, c = _sin_cos(f, hyperbolic=False)
        if isinstance(e, sp.tan):
            return _times(s, _reciprocal(c))
        return s if isinstance(e, sp.sin) else c
    if isinstance(e, (sp.sinh, sp.cosh, sp.tanh)):
        s, c = _sin_cos(f, hyperbolic=True)
        if isinstance(e, sp.tanh):
            return _times(s, _reciprocal(c))
        return s if isinstance(e, sp.sinh) else c
    square = _times(f, f)
    if isinstance(e, (sp.asin, sp.acos)):
        if not abs(f[0]) < 1:
            raise _NotAnalytic(f"{e.func.__name__} at its branch point")
        u = _real_power(_shifted(square, one, -1), -one / 2)
        if isinstance(e, sp.asin):
            return _integral(f, u, mpmath.asin(f[0]))
        return _integral(f, [-x for x in u], mpmath.acos(f[0]))
    if isinstance(e, sp.atan):
        return _integral(f, _reciprocal(_shifted(square, one, 1)), mpmath.atan(f[0]))
    if isinstance(e, sp.atanh):
        if not abs(f[0]) < 1:
            raise _NotAnalytic("atanh at its branch point")
        return _integral(f, _reciprocal(_shifted(square, one, -1)), mpmath.atanh(f[0]))
    if isinstance(e, sp.asinh):
        return _integral(f, _real_power(_shifted(square, one, 1), -one / 2), mpmath.asinh(f[0]))
    if isinstance(e, (sp.erf, sp.erfc)):
        u = [2 / mpmath.sqrt(mpmath.pi) * x for x in _exp([-x for x in square])]
        g = _integral(f, u, mpmath.erf(f[0]))
        return g if isinstance(e, sp.erf) else _shifted(g, one, -1)
    raise LookupError


def _jet(e: sp.Expr, n: int) -> list:
    zero = mpmath.mpf(0)
    if not e.has(_z):
        return [_constant(e)] + [zero] * (n - 1)
    if e == _z:
        return [zero, mpmath.mpf(1)] + [zero] * (n - 2)
    if e.is_Add:
        parts = [_jet(a, n) for a in e.args]
        return [mpmath.fsum(column) for column in zip(*parts, strict=True)]
    if e.is_Mul:
        result = _jet(e.args[0], n)
        for a in e.args[1:]:
            result = _times(result, _jet(a, n))
        return result
    if e.is_Pow:
        base, exponent = e.args
        if exponent.has(_z):
            return _exp(_jet(exponent * sp.log(base), n))
        if exponent.is_Integer:
            return _integer_power(_jet(base, n), int(exponent))
        return _real_power(_jet(base, n), _constant(exponent))
    if isinstance(e, sp.Abs):
        f = _jet(e.args[0], n)
        if f[0] == 0:
            raise _NotAnalytic(f"{e} has a kink at z = 0")
        return f if f[0] > 0 else [-x for x in f]
    if isinstance(e, (sp.Max, sp.Min)):
        jets = [_jet(a, n) for a in e.args]
        values = [f[0] for f in jets]
        best = max(values) if isinstance(e, sp.Max) else min(values)
        if values.count(best) > 1:
            raise _NotAnalytic(f"{e} has a kink at z = 0")
        return jets[values.index(best)]
    if len(e.args) == 1:
        try:
            return _jet_function(e, _jet(e.args[0], n))
        except LookupError:
            pass
    return _sympy_series_jet(e, n)


def _sympy_series_jet(e: sp.Expr, n: int) -> list:
    # Functions without a recurrence above (gamma, cot, Piecewise, ...): ask sympy, which is
    # slow at high order but general; any failure means "no usable Taylor series".
    try:
        polynomial = sp.series(e, _z, 0, n).removeO()
        coefficients = sp.Poly(polynomial, _z).all_coeffs()[::-1]
    except Exception as err:  # noqa: BLE001 - sympy raises many types here
        raise _NotAnalytic(f"sympy cannot expand {e} at z = 0 ({type(err).__name__})") from None
    if any(c.has(_z) for c in coefficients):
        raise _NotAnalytic(f"{e} is not analytic at z = 0")
    values = [_constant(c) for c in coefficients[:n]]
    return values + [mpmath.mpf(0)] * (n - len(values))


# --------------------------------------------------------------------------------------------
# asymptotics and tails


def _derivative_at_zero(h: sp.Expr, k: int) -> sp.Expr:
    derivative = sp.diff(h, _z, k)
    kinks = sp.Heaviside, sp.DiracDelta, sp.sign, sp.Abs, sp.Max, sp.Min
    for atom in derivative.atoms(*kinks) if k > 0 else ():
        at_zero = [a.xreplace({_z: 0}) for a in atom.args]
        kinked = (
            len(set(at_zero)) < len(at_zero)
            if isinstance(atom, (sp.Max, sp.Min))
            else at_zero[0] == 0
        )
        if kinked:
            raise ValueError(f"kernel {h} is not {k} times differentiable at z = 0")
    value = derivative.xreplace({_z: sp.Integer(0)})
    if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo, sp.Subs, sp.Derivative):
        raise ValueError(f"kernel {h} is not {k} times differentiable at z = 0 (got {value})")
    return value if isinstance(value, sp.Number) else sp.simplify(value)


def eigenvalue_asymptotic(kernel, d, k: int) -> sp.Expr:
    """Leading large-$d$ behaviour $h^{(k)}(0)/d^k$ of $\\lambda_{d,k}$.

    $\\lambda_{d,k}=\\frac{h^{(k)}(0)}{d^k}\\big(1+O(1/d)\\big)$ at fixed $k$ [literature;
    reference §3.6].  From the series of §3.5 the relative correction is
    $\\big(\\frac{h^{(k+2)}(0)}{2h^{(k)}(0)}-k(k-1)\\big)/d+O(d^{-2})$ [derived].

    **Arguments:**

    - `kernel`: $h$, a sympy expression in `z` or a string.
    - `d`: an integer $\\ge3$ or a sympy symbol.
    - `k`: an integer $\\ge0$.

    **Returns:** the exact sympy expression $h^{(k)}(0)/d^k$.

    **Raises:** `ValueError` for bad `d`, `k`, or a kernel not $k$ times differentiable at 0.
    """
    h = _kernel(kernel)
    d = _dimension(d)
    k = _integer(k, "k", 0)
    return _derivative_at_zero(h, k) / sp.sympify(d) ** k


def mu_coefficient(kernel, k: int) -> sp.Expr:
    """Large-$d$ degree weight $\\mu_k=\\lim_{d\\to\\infty}N(d,k)\\lambda_{d,k}=h^{(k)}(0)/k!$.

    The total weight of degree $k$ in the trace $h(1)=\\sum_kN(d,k)\\lambda_{d,k}$ as
    $d\\to\\infty$ [literature; reference §3.6].

    **Arguments:**

    - `kernel`: $h$, a sympy expression in `z` or a string.
    - `k`: an integer $\\ge0$.

    **Returns:** the exact sympy expression $h^{(k)}(0)/k!$.

    **Raises:** `ValueError` for a bad `k` or a kernel not $k$ times differentiable at 0.
    """
    h = _kernel(kernel)
    k = _integer(k, "k", 0)
    return _derivative_at_zero(h, k) / sp.factorial(k)


def _value_at_one(h: sp.Expr) -> sp.Expr:
    value = h.xreplace({_z: sp.Integer(1)})
    if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise ValueError(f"kernel {h} is not finite at z = 1 (K(x, x) = h(1) = {value})")
    return value


def kappa_tail(kernel, d, l: int, *, method: str = "auto", dps: int | None = None) -> sp.Expr:
    """High-degree mass $\\kappa_{>\\ell}=\\sum_{k>\\ell}N(d,k)\\lambda_{d,k}$ at finite $d$.

    $\\kappa_{>\\ell}=h(1)-\\sum_{k\\le\\ell}N(d,k)\\lambda_{d,k}$, exact at finite $d$ by the trace
    identity [literature; reference §3.4 and §3.6].  It is the effective ridge of the kernel
    matrix in the regime $d^{\\ell}\\ll n\\ll d^{\\ell+1}$ (§3.9) and tends to
    [`kappa_tail_limit`][limitlab.theory.kappa_tail_limit] with $O(1/d)$ corrections.

    **Arguments:**

    - `kernel`: $h$, a sympy expression in `z` or a string.
    - `d`: an integer $\\ge3$; a sympy symbol for a polynomial kernel.
    - `l`: $\\ell$, an integer $\\ge0$.
    - `method`, `dps`: passed to
      [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue].

    **Returns:** an exact expression when every $\\lambda_{d,k}$ is exact, else a `Float`.

    **Raises:** `ValueError` as [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue],
    or if $h(1)$ is not finite.
    """
    h = _kernel(kernel)
    d = _dimension(d)
    l = _integer(l, "l", 0)  # noqa: E741 - the reference's name
    total = _value_at_one(h)
    for k in range(l + 1):
        eigenvalue = funk_hecke_eigenvalue(h, d, k, method=method, dps=dps)
        total -= harmonic_degeneracy(d, k) * eigenvalue
    floats = total.atoms(sp.Float)
    if floats:
        digits = min(mpmath.libmp.prec_to_dps(f._prec) for f in floats)
        return sp.Float(total.evalf(digits + 5), digits)
    return sp.factor(sp.cancel(total)) if not isinstance(d, int) else total


def kappa_tail_limit(kernel, l: int) -> sp.Expr:
    """Large-$d$ limit $\\lim_{d\\to\\infty}\\kappa_{>\\ell}=h(1)-\\sum_{k\\le\\ell}h^{(k)}(0)/k!$.

    [literature; reference §3.6].  For $h=\\exp$: $e-2\\approx0.71828$ ($\\ell=1$),
    $e-5/2\\approx0.21828$ ($\\ell=2$), $e-8/3\\approx0.05162$ ($\\ell=3$).

    **Arguments:**

    - `kernel`: $h$, a sympy expression in `z` or a string.
    - `l`: $\\ell$, an integer $\\ge0$.

    **Returns:** the exact sympy expression.

    **Raises:** `ValueError` for a bad `l`, $h(1)$ not finite, or $h$ not smooth at 0.
    """
    h = _kernel(kernel)
    l = _integer(l, "l", 0)  # noqa: E741 - the reference's name
    return _value_at_one(h) - sum(mu_coefficient(h, k) for k in range(l + 1))


def _require_nonnegative(h: sp.Expr, d, k: int, eigenvalue: sp.Expr) -> None:
    """The positive-definiteness test on one eigenvalue: `ValueError` naming the degree."""
    negative = eigenvalue.is_negative
    if negative is None:
        raise ValueError(f"cannot decide the sign of lambda_(d={d}, k={k}) = {eigenvalue}")
    if negative:
        raise ValueError(
            f"kernel {h} is not positive definite on S^(d-1)(sqrt d) with d={d}: "
            f"lambda_(d,{k}) = {eigenvalue} < 0 (degree k={k})"
        )


def check_positive_definite(
    kernel, d, kmax: int, *, method: str = "auto", dps: int | None = None
) -> list:
    """Check $\\lambda_{d,k}\\ge0$ for $k\\le k_{\\max}$: positive semi-definiteness on the sphere.

    $K$ is positive semi-definite on the sphere in dimension $d$ iff every $\\lambda_{d,k}\\ge0$;
    on every sphere iff every $h^{(k)}(0)\\ge0$ (Schoenberg) [literature; reference §2].  This
    checks the degrees up to `kmax` only.  Example: $h=z^2-\\frac1{10}$ has
    $\\lambda_{d,0}=\\frac1d-\\frac1{10}$, non-negative for $d\\le10$ and negative beyond.

    **Arguments:**

    - `kernel`: $h$, a sympy expression in `z` or a string.
    - `d`: an integer $\\ge3$.
    - `kmax`: the largest degree checked, an integer $\\ge0$.
    - `method`, `dps`: passed to
      [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue].

    **Returns:** the list $[\\lambda_{d,0},\\dots,\\lambda_{d,k_{\\max}}]$.

    **Raises:** `ValueError` naming the first degree with a negative eigenvalue and its value
    (or one whose sign cannot be decided), and for bad arguments.
    """
    h = _kernel(kernel)
    d = _dimension(d, symbolic=False)
    kmax = _integer(kmax, "kmax", 0)
    eigenvalues = []
    for k in range(kmax + 1):
        eigenvalue = funk_hecke_eigenvalue(h, d, k, method=method, dps=dps)
        _require_nonnegative(h, d, k, eigenvalue)
        eigenvalues.append(eigenvalue)
    return eigenvalues


# --------------------------------------------------------------------------------------------
# hypercube


def _krawtchouk_level_sums(d: int, k: int) -> list[int]:
    """W_j = sum of chi_S(u) over the C(d, j) points u with j coordinates -1, for |S| = k.

    sum_j W_j t^j = (1 - t)^k (1 + t)^(d-k), i.e. W_j = sum_i (-1)^i C(k,i) C(d-k, j-i)
    = C(d,j) K_k(j; d) / C(d,k) with K_k(j; d) = sum_i (-1)^i C(j,i) C(d-j, k-i).
    """
    coefficients = [math.comb(d - k, j) for j in range(d - k + 1)] + [0] * k
    for _ in range(k):
        # multiply by (1 - t)
        for j in range(d, 0, -1):
            coefficients[j] -= coefficients[j - 1]
    return coefficients


def hypercube_eigenvalue(kernel, d, k: int, *, dps: int | None = None) -> sp.Expr:
    """Eigenvalue $\\lambda_k$ of $K=h(\\langle x,x'\\rangle/d)$ on $\\{\\pm1\\}^d$ at degree $k$.

    With $x$ uniform on the cube the Walsh monomials $\\chi_S(x)=\\prod_{i\\in S}x_i$ are an
    orthonormal eigenbasis and $\\lambda_S$ depends only on $k=|S|$ (multiplicity $\\binom dk$).
    Writing $u=x\\circ x'$ (uniform), $\\lambda_k=\\mathbb E_u[h(\\sum_iu_i/d)\\chi_S(u)]$; grouping
    the $u$ by their number $j$ of $-1$ coordinates,

    $$\\lambda_k=2^{-d}\\sum_{j=0}^d W_j\\,h\\Big(\\frac{d-2j}d\\Big),\\qquad
    W_j=\\sum_i(-1)^i\\binom ki\\binom{d-k}{j-i}=\\frac{\\binom dj}{\\binom dk}K_k(j;d),$$

    with the Krawtchouk polynomial $K_k(j;d)=\\sum_i(-1)^i\\binom ji\\binom{d-j}{k-i}$ [derived
    here; checked in the tests against brute-force enumeration and the kernel matrix spectrum].
    Note the factor $1/\\binom dk$: $2^{-d}\\sum_j\\binom djh(\\cdot)K_k(j;d)$ alone is
    $\\binom dk\\lambda_k$, the total weight of degree $k$.  Trace identity:
    $\\sum_k\\binom dk\\lambda_k=h(1)$.

    **Arguments:**

    - `kernel`: $h$, a sympy expression in `z` or a string.
    - `d`: the dimension, an integer $\\ge1$.
    - `k`: the degree, an integer with $0\\le k\\le d$.
    - `dps`: digits of a numerical result (default 30).

    **Returns:** an exact sympy expression (a `Rational` for rational coefficients) when $h$ is a
    polynomial; otherwise a `Float`, summed in mpmath with the precision raised until the
    cancellation between the terms is covered.

    **Raises:** `ValueError` for bad arguments or extra symbols in a non-polynomial kernel.
    """
    h = _kernel(kernel)
    d = _integer(d, "d", 1)
    k = _integer(k, "k", 0)
    if k > d:
        raise ValueError(f"k must satisfy 0 <= k <= d = {d}, got {k}")
    dps = _digits(dps, _SERIES_DPS)
    weights = _krawtchouk_level_sums(d, k)
    coefficients = _polynomial_coefficients(h)
    if coefficients is not None:
        total = sp.S.Zero
        for power, coefficient in coefficients.items():
            moment = sum(w * (d - 2 * j) ** power for j, w in enumerate(weights) if w)
            total += coefficient * sp.Rational(moment, d**power * 2**d)
        return total if isinstance(total, sp.Number) else sp.expand(total)
    _require_numeric_kernel(h, "the hypercube eigenvalue of a non-polynomial kernel")
    f = sp.lambdify(_z, h, modules="mpmath")
    wp = dps + math.ceil(k * math.log10(max(d, 2))) + 10
    for _ in range(6):
        with mpmath.workdps(wp):
            terms = [w * f(mpmath.mpf(d - 2 * j) / d) for j, w in enumerate(weights) if w]
            value = mpmath.fsum(terms) / mpmath.mpf(2) ** d
            magnitude = mpmath.fsum(abs(t) for t in terms) / mpmath.mpf(2) ** d
            if value == 0:
                return sp.S.Zero
            lost = int(mpmath.ceil(mpmath.log10(magnitude / abs(value))))
            if wp - lost >= dps + 8:
                return _to_float(value, dps)
            wp = dps + lost + 15
    raise ValueError(f"hypercube eigenvalue of kernel {h} (d={d}, k={k}) did not stabilise")
