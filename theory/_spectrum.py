"""The spectrum of an inner-product kernel on $\\mathbb S^{d-1}(\\sqrt d)$, as plain floats.

The risk curves of kernel gradient flow (oracle and empirical world, boundary regime,
eigenlearning, one-pass SGD) need, for one kernel $h$ and one dimension $d$, the Funk–Hecke
eigenvalues $\\lambda_{d,k}$, their multiplicities $N(d,k)$ and the high-degree mass
$\\kappa_{>\\ell}=h(1)-\\sum_{k\\le\\ell}N(d,k)\\lambda_{d,k}$
(`kernel-gradient-flow.md` §3.3–§3.6 [literature]).
[`kernel_spectrum`][limitlab.theory.kernel_spectrum] computes them once, in
high precision (see [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue]), and
returns a frozen [`KernelSpectrum`][limitlab.theory.KernelSpectrum] holding Python floats.

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import mpmath
import numpy as np
import sympy as sp

from ._sphere import (
    _integer,
    _kernel,
    _require_nonnegative,
    _value_at_one,
    funk_hecke_eigenvalue,
    harmonic_degeneracy,
)

__all__ = ["KernelSpectrum", "kernel_spectrum"]

# Digits of the sympy arithmetic behind the tails; the eigenvalues carry 20-30 digits.
_TAIL_DPS = 40


@functools.lru_cache(maxsize=4096)
def _eigenvalue_expression(h: sp.Expr, d: int, k: int, method: str, dps: int | None) -> sp.Expr:
    return funk_hecke_eigenvalue(h, d, k, method=method, dps=dps)


def _digits_of(value: sp.Expr) -> int | None:
    """Decimal digits of the least precise Float in `value`, None if it is exact."""
    floats = value.atoms(sp.Float)
    if not floats:
        return None
    return min(mpmath.libmp.prec_to_dps(f._prec) for f in floats)


def _as_float(value: sp.Expr) -> float:
    return float(sp.N(value, _TAIL_DPS))


@functools.lru_cache(maxsize=1024)
def _tail_expression(
    h: sp.Expr, d: int, l: int, method: str, dps: int | None  # noqa: E741
) -> sp.Expr:
    """kappa_{>l} = h(1) - sum_{k<=l} N(d,k) lambda_{d,k}, exact when every term is exact.

    The same arithmetic as `kappa_tail`, with the eigenvalues shared through the cache.
    """
    total = _value_at_one(h)
    for k in range(l + 1):
        total -= harmonic_degeneracy(d, k) * _eigenvalue_expression(h, d, k, method, dps)
    digits = _digits_of(total)
    if digits is not None:
        return sp.Float(total.evalf(digits + 5), digits)
    return total


@dataclasses.dataclass(frozen=True)
class KernelSpectrum:
    """Funk–Hecke spectrum of $K(x,x')=h(\\langle x,x'\\rangle/d)$ on the sphere.

    Degree $k$ carries the eigenvalue $\\lambda_{d,k}$ of the integral operator
    $(\\mathbb Hg)(x)=\\mathbb E_{x'}[K(x,x')g(x')]$ with multiplicity $N(d,k)$, and
    $\\sum_{k\\ge0}N(d,k)\\lambda_{d,k}=h(1)$ (trace identity; `kernel-gradient-flow.md`
    §3.3–§3.6 [literature]), on $\\mathbb S^{d-1}(\\sqrt d)$.  Build it with
    [`kernel_spectrum`][limitlab.theory.kernel_spectrum].

    **Fields:**

    - `kernel`: $h$, a sympy expression in [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE].
    - `d`: the dimension.
    - `degrees`: $(0,1,\\dots,k_{\\max})$.
    - `degeneracies`: $N(d,k)$ for those degrees, exact Python `int`s.
    - `eigenvalues`: $\\lambda_{d,k}$ for those degrees, Python floats (rounded from 20–30
      significant digits, or from exact rationals for a polynomial $h$).
    - `trace`: $h(1)=K(x,x)$.
    - `tails`: $\\kappa_{>\\ell}$ for $\\ell=0,\\dots,k_{\\max}$, computed in high precision
      (no cancellation between floats).
    - `method`, `dps`: how the eigenvalues were computed (passed to
      [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue] for degrees beyond
      $k_{\\max}$ asked for later).

    Degrees beyond $k_{\\max}$ are computed on demand by
    [`eigenvalue`][limitlab.theory.KernelSpectrum.eigenvalue],
    [`degeneracy`][limitlab.theory.KernelSpectrum.degeneracy],
    [`mu`][limitlab.theory.KernelSpectrum.mu] and [`tail`][limitlab.theory.KernelSpectrum.tail]
    (not stored; their sign is not checked).
    """

    kernel: sp.Expr
    d: int
    degrees: tuple[int, ...]
    degeneracies: tuple[int, ...]
    eigenvalues: tuple[float, ...]
    trace: float
    tails: tuple[float, ...] = dataclasses.field(default=(), repr=False)
    method: str = "auto"
    dps: int | None = None

    @property
    def kmax(self) -> int:
        """The largest stored degree $k_{\\max}$."""
        return self.degrees[-1]

    def _degree(self, k, name: str = "k") -> int:
        return _integer(k, name, 0)

    def eigenvalue(self, k: int) -> float:
        """$\\lambda_{d,k}$ as a float (computed on demand, and cached, for $k>k_{\\max}$)."""
        k = self._degree(k)
        if k <= self.kmax:
            return self.eigenvalues[k]
        return _as_float(self.eigenvalue_expression(k))

    def eigenvalue_expression(self, k: int) -> sp.Expr:
        """$\\lambda_{d,k}$ as a sympy number: exact for a polynomial $h$, else a `Float`."""
        k = self._degree(k)
        return _eigenvalue_expression(self.kernel, self.d, k, self.method, self.dps)

    def degeneracy(self, k: int) -> int:
        """$N(d,k)$, an exact `int`."""
        k = self._degree(k)
        if k <= self.kmax:
            return self.degeneracies[k]
        return harmonic_degeneracy(self.d, k)

    def mu(self, k: int) -> float:
        """The weight $N(d,k)\\lambda_{d,k}$ of degree $k$ in the trace $h(1)$, a float."""
        k = self._degree(k)
        if k <= self.kmax:
            with mpmath.workprec(64):
                return float(mpmath.mpf(self.degeneracies[k]) * self.eigenvalues[k])
        return _as_float(self.degeneracy(k) * self.eigenvalue_expression(k))

    def tail(self, l: int) -> float:  # noqa: E741 - the reference's name
        """$\\kappa_{>\\ell}=h(1)-\\sum_{k\\le\\ell}N(d,k)\\lambda_{d,k}=\\sum_{k>\\ell}N\\lambda$.

        Computed in high precision (like [`kappa_tail`][limitlab.theory.kappa_tail], whose
        value it equals), so a tail far below $h(1)$ keeps its relative accuracy; exactly 0
        for a polynomial $h$ of degree $\\le\\ell$.  Any $\\ell\\ge0$ is allowed: beyond
        $k_{\\max}$ the extra eigenvalues are computed on demand.

        **Raises:** `ValueError` for a negative or non-integer `l`.
        """
        l = self._degree(l, "l")  # noqa: E741
        if l < len(self.tails):
            return self.tails[l]
        return max(_as_float(self.tail_expression(l)), 0.0)

    def tail_expression(self, l: int) -> sp.Expr:  # noqa: E741
        """$\\kappa_{>\\ell}$ as a sympy number (exact when every eigenvalue is exact)."""
        l = self._degree(l, "l")  # noqa: E741
        return _tail_expression(self.kernel, self.d, l, self.method, self.dps)

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(degrees, degeneracies, eigenvalues)` as three float64 arrays of length $k_{\\max}+1$.

        **Raises:** `OverflowError` if a degeneracy exceeds the float64 range.
        """
        degeneracies = np.array([float(n) for n in self.degeneracies], dtype=np.float64)
        return (
            np.array(self.degrees, dtype=np.float64),
            degeneracies,
            np.array(self.eigenvalues, dtype=np.float64),
        )

    def to_dict(self) -> dict:
        """A JSON-friendly summary: kernel (string), `d`, `kmax`, per-degree lists, `trace`.

        Keys: `kernel`, `d`, `kmax`, `degrees`, `degeneracies` (exact integers),
        `eigenvalues`, `mu` ($N\\lambda$), `tails` ($\\kappa_{>\\ell}$), `trace`, `method`.
        """
        return {
            "kernel": str(self.kernel),
            "d": self.d,
            "kmax": self.kmax,
            "degrees": list(self.degrees),
            "degeneracies": list(self.degeneracies),
            "eigenvalues": list(self.eigenvalues),
            "mu": [self.mu(k) for k in self.degrees],
            "tails": [self.tail(k) for k in self.degrees],
            "trace": self.trace,
            "method": self.method,
        }


def kernel_spectrum(kernel, d: int, kmax: int, *, method: str = "auto", dps: int | None = None):
    """Funk–Hecke spectrum of $h$ in dimension $d$ for the degrees $0,\\dots,k_{\\max}$.

    $$\\lambda_{d,k}=\\mathbb E_z\\big[h(z)P^{(d)}_k(z)\\big],\\qquad N(d,k),\\qquad
    \\kappa_{>\\ell}=h(1)-\\sum_{k\\le\\ell}N(d,k)\\lambda_{d,k}$$

    [literature; `kernel-gradient-flow.md` §3.1–§3.6], each eigenvalue from
    [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue] (exact for a polynomial
    $h$, else a 30-digit Taylor series or 20-digit quadrature) and rounded to a float only at
    the end, so the floats are correct to rounding.  The tails are formed before rounding.
    Results are cached: claims may call this repeatedly with the same arguments.

    Every $\\lambda_{d,k}$, $k\\le k_{\\max}$, must be $\\ge0$ (positive semi-definiteness, checked
    as in [`check_positive_definite`][limitlab.theory.check_positive_definite]); a negative tail
    $\\kappa_{>k_{\\max}}$ (negative eigenvalues beyond $k_{\\max}$) is rejected too.  The cost
    is a few milliseconds per degree for $h=\\exp$ even at $d=10^4$.

    **Arguments:**

    - `kernel`: $h$, a string (`"exp(z)"`, or a built-in name such as `"relu-ntk:depth=2"`) or a
      sympy expression in [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE].
    - `d`: the dimension, an integer $\\ge3$.
    - `kmax`: the largest degree, an integer $\\ge0$.
    - `method`, `dps`: passed to
      [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue].

    **Returns:** a [`KernelSpectrum`][limitlab.theory.KernelSpectrum].

    **Raises:** `ValueError` for `d`, `kmax`, `method` or `dps` out of range, a kernel that
    cannot be parsed or has symbols besides `z`, $h(1)$ not finite, or a negative eigenvalue
    (the message names the degree); `TypeError` for a kernel of the wrong type.

    **Example:**

    ```pycon
    >>> s = kernel_spectrum("exp(z)", 100, 3)
    >>> s.degeneracies
    (1, 100, 5049, 171600)
    >>> round(s.tail(2), 6)
    0.21097
    ```
    """
    d = _integer(d, "d", 3)
    kmax = _integer(kmax, "kmax", 0)
    if dps is not None:
        dps = _integer(dps, "dps", 5)
    if isinstance(kernel, str | sp.Basic):
        return _kernel_spectrum(kernel, d, kmax, method, dps)
    return _kernel_spectrum(_kernel(kernel), d, kmax, method, dps)


@functools.lru_cache(maxsize=256)
def _kernel_spectrum(kernel, d: int, kmax: int, method: str, dps: int | None) -> KernelSpectrum:
    h = _kernel(kernel)
    exact = []
    for k in range(kmax + 1):
        value = _eigenvalue_expression(h, d, k, method, dps)
        # The same test and message as `check_positive_definite`, on the cached eigenvalues.
        _require_nonnegative(h, d, k, value)
        exact.append(value)
    degeneracies = tuple(harmonic_degeneracy(d, k) for k in range(kmax + 1))
    eigenvalues = tuple(_as_float(value) for value in exact)
    trace_expression = _value_at_one(h)
    trace = _as_float(trace_expression)
    if not math.isfinite(trace):
        raise ValueError(f"kernel {h} is not finite at z = 1 (h(1) = {trace_expression})")
    # Tails in sympy arithmetic: exact for exact eigenvalues, else at the eigenvalues' digits.
    tails = []
    total = trace_expression
    for k, value in enumerate(exact):
        total = total - degeneracies[k] * value
        digits = _digits_of(total)
        tail = _as_float(total if digits is None else total.evalf(digits + 5))
        tails.append(tail)
    digits = _digits_of(sp.Add(*exact)) if exact else None
    tolerance = abs(trace) * (10.0 ** (-(digits - 5)) if digits is not None else 0.0)
    if tails[-1] < -tolerance:
        raise ValueError(
            f"kernel {h} is not positive definite on S^(d-1)(sqrt d) with d={d}: the mass beyond "
            f"degree kmax={kmax} is kappa_(>{kmax}) = h(1) - sum N lambda = {tails[-1]:.6g} < 0, "
            "so some eigenvalue of degree > kmax is negative"
        )
    tails = tuple(max(t, 0.0) for t in tails)
    return KernelSpectrum(
        kernel=h,
        d=d,
        degrees=tuple(range(kmax + 1)),
        degeneracies=degeneracies,
        eigenvalues=eigenvalues,
        trace=trace,
        tails=tails,
        method=method,
        dps=dps,
    )
