"""Kernel ridge(less) regression learning curves: eigenlearning and multiple descent.

The test risk of kernel ridge regression with $n$ samples follows from one scalar equation for
the effective regulariser $\\kappa$ (eigenlearning, Simon–Dickens–Karkada–DeWeese 2023;
equivalently Bordelon–Canatar–Pehlevan 2020) [literature; `kernel-gradient-flow.md` §10].  At
$n=\\psi N(d,\\ell)$ on the sphere it reduces to an explicit formula with a peak at $\\psi=1$
when the effective ridge is small: multiple descent (§9 [derived]).

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import sympy as sp
from scipy import optimize

from ._risk_curves import (
    _check_energies,
    _check_n,
    _check_noise,
    _check_spectrum,
    _nonnegative_array,
    _real,
)
from ._spectrum import KernelSpectrum

__all__ = [
    "EigenlearningResult",
    "eigenlearning",
    "krr_boundary_expression",
    "krr_boundary_risk",
    "krr_risk_curve",
]


@dataclasses.dataclass(frozen=True)
class EigenlearningResult:
    """The eigenlearning solution for one sample size and ridge.

    **Fields:**

    - `kappa`: the effective regulariser $\\kappa\\ge0$ ($0$ only in the ridgeless
      under-parametrised case $n\\ge$ number of modes).
    - `learnabilities`: $L_k=\\lambda_k/(\\lambda_k+\\kappa)$ for the degrees $0,\\dots,k_{\\max}$.
    - `tail_learnability`: $L$ of the first degree beyond $k_{\\max}$ with a non-zero
      eigenvalue (0 if there is none or `tail=False`).
    - `overfitting`: $E_0=n/(n-\\sum_iN_iL_i^2)$ (may be $\\infty$ at the interpolation peak).
    - `test`: the test MSE including the label noise, $E_0(\\sum_k(1-L_k)^2F_k+\\sigma^2)$.
    - `train`: the train MSE, $(\\delta/(n\\kappa))^2\\cdot$test.
    - `n`, `ridge` ($\\delta$), `noise` ($\\sigma^2$): the inputs.
    """

    kappa: float
    learnabilities: tuple[float, ...]
    overfitting: float
    test: float
    train: float
    n: float
    ridge: float
    noise: float
    tail_learnability: float = 0.0

    def to_dict(self) -> dict:
        """JSON-friendly dictionary; an infinite value becomes `None`."""

        def clean(value):
            return value if math.isfinite(value) else None

        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["learnabilities"] = list(self.learnabilities)
        for key in ("overfitting", "test", "train"):
            out[key] = clean(out[key])
        return out


def _solve_levels(
    eigenvalues: np.ndarray,
    masses: np.ndarray,
    energies: np.ndarray,
    noise: float,
    n: float,
    ridge: float,
    extra_ridge: float = 0.0,
) -> tuple[float, np.ndarray, float, float, float]:
    """Eigenlearning on levels (lambda_i, mass_i = N_i lambda_i, F_i); returns
    (kappa, L, E0, test, train).

    `extra_ridge` is a level of vanishing eigenvalue and infinite multiplicity carrying that
    mass: it enters the kappa equation like a ridge but neither sum N L^2 nor the train formula.
    Working with masses N_i lambda_i keeps huge multiplicities out of float64.
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    masses = np.asarray(masses, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    positive = eigenvalues > 0
    lam, mass = eigenvalues[positive], masses[positive]
    ridge_like = ridge + extra_ridge
    modes = float(np.sum(mass / lam)) if lam.size else 0.0

    def excess(log_kappa: float) -> float:
        kappa = math.exp(log_kappa)
        return float(np.sum(mass / (lam + kappa))) + ridge_like / kappa - n

    total = float(np.sum(mass)) + ridge_like
    kappa = None
    if total == 0:
        kappa = math.inf  # no modes at all: nothing is learned
    elif ridge_like == 0 and n >= modes:
        kappa = 0.0  # ridgeless with at least as many samples as modes: interpolation limit
    else:
        upper = math.log(2 * total / n)
        if ridge_like > 0:
            lower = math.log(ridge_like / (2 * n))
        else:
            lower = upper - math.log(1e3)
            while excess(lower) <= 0:
                lower -= math.log(1e3)
                if lower < math.log(1e-300):
                    break
        if excess(lower) <= 0:
            kappa = 0.0  # n is within rounding of the number of modes
        else:
            root = optimize.brentq(excess, lower, upper, xtol=1e-15, rtol=4 * np.finfo(float).eps)
            kappa = math.exp(root)
    learn = np.zeros_like(eigenvalues)
    if kappa == 0:
        learn[positive] = 1.0
        # n - sum N L^2 = n - (number of modes) >= 0
        denominator = n - modes
    elif math.isinf(kappa):
        denominator = n
    else:
        learn[positive] = lam / (lam + kappa)
        # n - sum N L^2 = sum N L (1 - L) + (ridge + extra)/kappa, without cancellation.
        denominator = float(np.sum(mass * kappa / (lam + kappa) ** 2)) + ridge_like / kappa
    bias = float(np.sum((1 - learn) ** 2 * energies))
    numerator = bias + noise
    if denominator <= 0:
        overfitting = math.inf
        test = math.inf if numerator > 0 else 0.0
    else:
        overfitting = n / denominator
        test = overfitting * numerator
    if kappa == 0:
        factor = (n - modes) / n
    elif math.isinf(kappa):
        factor = 1.0
    else:
        factor = ridge / (n * kappa)
    train = factor**2 * test if factor else 0.0
    return kappa, learn, overfitting, test, train


def _next_level(spectrum: KernelSpectrum, after: int) -> tuple[int, float] | None:
    """(k, lambda_k) of the first degree k in (after, after + 2] with lambda_k > 0, else None.

    For a kernel with non-negative Taylor coefficients and a non-zero tail beyond `after`, one
    of the next two eigenvalues is positive (parity may zero the other).
    """
    for k in (after + 1, after + 2):
        eigenvalue = spectrum.eigenvalue(k)
        if eigenvalue > 0:
            return k, eigenvalue
    return None


def _tail_levels(spectrum: KernelSpectrum) -> tuple[tuple[float, float] | None, float, float]:
    """How the degrees > kmax enter: (next level, residual mass, residual eigenvalue).

    The next degree with a positive eigenvalue is kept exactly as `(lambda, N lambda)`; the
    mass beyond it, kappa_{>k}, is returned with the leading eigenvalue beyond it (0 if none
    was found).  Without a tail: (None, 0, 0).
    """
    kmax = spectrum.kmax
    mass = spectrum.tail(kmax)
    if mass <= 0:
        return None, 0.0, 0.0
    following = _next_level(spectrum, kmax)
    if following is None:
        return None, mass, 0.0
    k, eigenvalue = following
    level = (eigenvalue, min(spectrum.mu(k), mass))
    residual = spectrum.tail(k)
    after = _next_level(spectrum, k) if residual > 0 else None
    return level, residual, after[1] if after else 0.0


def eigenlearning(
    spectrum: KernelSpectrum, energies, noise, n, *, ridge=0.0, tail: bool = True
) -> EigenlearningResult:
    """Test and train MSE of kernel ridge regression with $n$ samples, by eigenlearning.

    Modes $i$ with operator eigenvalue $\\lambda_i$ and multiplicity $N_i$; ridge $\\delta$ in
    $(K+\\delta I)^{-1}$ with $K$ the $n\\times n$ kernel matrix [literature;
    `kernel-gradient-flow.md` §10, Simon et al. 2023]:

    $$\\sum_iN_i\\frac{\\lambda_i}{\\lambda_i+\\kappa}+\\frac\\delta\\kappa=n,\\qquad
    L_i=\\frac{\\lambda_i}{\\lambda_i+\\kappa},\\qquad E_0=\\frac n{n-\\sum_iN_iL_i^2},$$
    $$\\text{test}=E_0\\Big(\\sum_i(1-L_i)^2F_i+\\sigma^2\\Big),\\qquad
    \\text{train}=\\Big(\\frac\\delta{n\\kappa}\\Big)^2\\text{test}.$$

    The test MSE includes the label noise of the test point.  Asymptotically exact for
    Gaussian features (and, empirically, for many kernels); equivalent to
    Bordelon–Canatar–Pehlevan with $\\kappa=z/p$.  Levels: the degrees $0,\\dots,k_{\\max}$
    ($\\lambda_{d,k}$, $N(d,k)$) and, with `tail=True`, the degrees $>k_{\\max}$ carrying the
    missing trace $\\kappa_{>k_{\\max}}=h(1)-\\sum_{k\\le k_{\\max}}N_k\\lambda_k$: the first of
    them with $\\lambda_{d,k}>0$ ($k=k_{\\max}+1$, or $k_{\\max}+2$ for a kernel of definite
    parity) exactly, and the rest, $\\kappa_{>k}$, as the limit of one level of vanishing
    eigenvalue and infinite multiplicity (reference §10 [derived]: "one extra level with tiny
    eigenvalue and huge multiplicity carrying the missing trace"), which enters the
    $\\kappa$-equation as the extra ridge $\\kappa_{>k}/\\kappa$ and nothing else.  So results
    agree with a larger $k_{\\max}$ up to $O(\\lambda_{d,k+1}/\\kappa)$, i.e. once
    $N(d,k_{\\max}+2)\\gg n$, and a non-polynomial kernel never runs out of modes (this
    construction is this implementation's [derived] choice; a single finite level with the whole
    tail mass would have finitely many modes and fake an interpolation threshold).  The
    equation is solved for $\\log\\kappa$ by `scipy.optimize.brentq` on a bracket that provably
    contains the root,
    and $n-\\sum N_iL_i^2$ is evaluated as $\\sum_iN_iL_i(1-L_i)+\\delta/\\kappa$ (no
    cancellation near the interpolation peak).

    Ridgeless with at least as many samples as modes ($\\delta=0$, $n\\ge\\sum_iN_i$; possible
    only for a polynomial kernel or `tail=False`): the limit $\\kappa\\to0$, i.e. $L_i=1$,
    $E_0=n/(n-\\sum_iN_i)$ (ordinary least squares), train $=((n-\\sum N_i)/n)^2\\cdot$test;
    at $n=\\sum_iN_i$ exactly the test MSE is $\\infty$ (0 without noise).

    **Arguments:**

    - `spectrum`: a [`KernelSpectrum`][limitlab.theory.KernelSpectrum].
    - `energies`: $\\{k:F_k\\}$ for degrees $k\\le k_{\\max}$.
    - `noise`: $\\sigma^2\\ge0$.
    - `n`: the number of samples, a real number $>0$.
    - `ridge`: $\\delta\\ge0$.
    - `tail`: represent the degrees $>k_{\\max}$ by one level (default) or drop them.

    **Returns:** an [`EigenlearningResult`][limitlab.theory.EigenlearningResult].

    **Raises:** `ValueError` naming `noise`, `n`, `ridge` or `energies`.
    """
    spectrum = _check_spectrum(spectrum)
    energies = _check_energies(energies, spectrum)
    noise = _check_noise(noise)
    n = _check_n(n)
    ridge = _real(ridge, "ridge")
    return _eigenlearning(spectrum, tuple(energies.items()), noise, n, ridge, bool(tail))


@functools.lru_cache(maxsize=4096)
def _eigenlearning(spectrum, energies, noise, n, ridge, tail) -> EigenlearningResult:
    energies = dict(energies)
    kmax = spectrum.kmax
    eigenvalues = list(spectrum.eigenvalues)
    masses = [spectrum.mu(k) for k in range(kmax + 1)]
    target = [energies.get(k, 0.0) for k in range(kmax + 1)]
    extra = 0.0
    if tail:
        level, residual, _ = _tail_levels(spectrum)
        if level is not None:
            eigenvalues.append(level[0])
            masses.append(level[1])
            target.append(0.0)
        extra = residual
    kappa, learn, overfitting, test, train = _solve_levels(
        np.array(eigenvalues), np.array(masses), np.array(target), noise, n, ridge, extra
    )
    return EigenlearningResult(
        kappa=kappa,
        learnabilities=tuple(float(x) for x in learn[: kmax + 1]),
        overfitting=overfitting,
        test=test,
        train=train,
        n=n,
        ridge=ridge,
        noise=noise,
        tail_learnability=float(learn[kmax + 1]) if len(learn) > kmax + 1 else 0.0,
    )


def krr_risk_curve(ns, spectrum: KernelSpectrum, energies, noise, *, ridge=0.0) -> np.ndarray:
    """Test MSE of kernel ridge regression against the sample size: the multiple-descent curve.

    [`eigenlearning`][limitlab.theory.eigenlearning] at each $n$ [literature; §9–§10]: with a
    small ridge and a small high-degree mass $\\kappa_{>\\ell}$ the curve peaks near each
    $n\\approx N(d,\\ell)\\approx d^\\ell/\\ell!$.

    **Arguments:**

    - `ns`: sample sizes, an array (any shape) of positive finite reals.
    - `spectrum`, `energies`, `noise`, `ridge`: as in
      [`eigenlearning`][limitlab.theory.eigenlearning].

    **Returns:** the test MSE (including the noise), a float64 array of the shape of `ns`;
    $\\infty$ only at a ridgeless interpolation peak with noise.

    **Raises:** `ValueError` naming `ns`, `noise`, `ridge` or `energies`.
    """
    values = _nonnegative_array(ns, "ns", "finite positive real numbers")
    if np.any(values == 0):
        raise ValueError("ns must be finite positive real numbers, got the value 0.0")
    out = np.empty(values.shape)
    for index, n in np.ndenumerate(values):
        out[index] = eigenlearning(spectrum, energies, noise, float(n), ridge=ridge).test
    if np.any(np.isnan(out)):
        raise FloatingPointError("krr_risk_curve is not a number")
    return out


def _positive(values, name):
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be finite positive real numbers, got {values!r}")
    return array


def krr_boundary_risk(psi, zeta, F_level, F_higher, noise) -> np.ndarray:  # noqa: N803
    """Explicit KRR test risk at $n=\\psi N(d,\\ell)$ with effective ridge $\\zeta\\mu_\\ell$.

    With $\\zeta=(\\delta+\\kappa_{>\\ell})/\\mu_\\ell$, $\\mu_\\ell=N(d,\\ell)\\lambda_{d,\\ell}$
    [derived via §10; `kernel-gradient-flow.md` §9]:

    $$\\tilde s=\\frac{(1+\\zeta-\\psi)+\\sqrt{(1+\\zeta-\\psi)^2+4\\psi\\zeta}}{2\\psi},\\qquad
    L=\\frac1{1+\\tilde s},\\qquad E_0=\\frac\\psi{\\psi-L^2},$$
    $$R=\\sigma^2+E_0\\big[(1-L)^2F_\\ell+\\lVert P_{>\\ell}f_d\\rVert^2\\big]+(E_0-1)\\sigma^2
    =E_0\\big[(1-L)^2F_\\ell+\\lVert P_{>\\ell}f_d\\rVert^2+\\sigma^2\\big].$$

    It is eigenlearning with one level of $p$ modes of eigenvalue $\\mu_\\ell/p$, the lower
    degrees fully learned and the higher ones acting as the extra ridge $\\kappa_{>\\ell}$
    ($\\tilde s=p\\kappa_{\\rm EL}/\\mu_\\ell$ solves
    $\\frac1{1+\\tilde s}+\\frac\\zeta{\\tilde s}=\\psi$).
    Evaluated without cancellation: $\\tilde s=2\\zeta/(\\sqrt{\\cdot}-(1+\\zeta-\\psi))$ when
    $1+\\zeta-\\psi<0$, and $\\psi-L^2=\\tilde s/(1+\\tilde s)^2+\\zeta/\\tilde s$.  Limits:
    $\\zeta\\to0$, $\\psi<1$: $L=\\psi$, $E_0=1/(1-\\psi)$ (peak at $\\psi=1$, where $R=\\infty$
    for $\\zeta=0$); $\\psi\\to\\infty$: $R\\to\\sigma^2+\\lVert P_{>\\ell}f_d\\rVert^2$.

    **Arguments** (numpy-broadcastable):

    - `psi`: $\\psi=n/N(d,\\ell)>0$.
    - `zeta`: $\\zeta\\ge0$.
    - `F_level`: $F_\\ell\\ge0$; `F_higher`: $\\lVert P_{>\\ell}f_d\\rVert^2\\ge0$.
    - `noise`: $\\sigma^2\\ge0$.

    **Returns:** the test risk including the noise, a float64 array of the broadcast shape
    ($\\infty$ at $\\zeta=0$, $\\psi=1$ unless the bracket vanishes).

    **Raises:** `ValueError` naming the offending argument.
    """
    psi = _positive(psi, "psi")
    zeta = _nonnegative_array(zeta, "zeta", "finite non-negative real numbers")
    f_level = _nonnegative_array(F_level, "F_level", "finite non-negative real numbers")
    f_higher = _nonnegative_array(F_higher, "F_higher", "finite non-negative real numbers")
    sigma2 = _nonnegative_array(noise, "noise", "finite non-negative real numbers")
    psi, zeta, f_level, f_higher, sigma2 = np.broadcast_arrays(
        psi, zeta, f_level, f_higher, sigma2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1 + zeta - psi
        r = np.sqrt(a * a + 4 * psi * zeta)
        s = np.where(a >= 0, (a + r) / (2 * psi), 2 * zeta / (r - a))
        s = np.where((a < 0) & (zeta == 0), 0.0, s)
        learn = 1 / (1 + s)
        gap = np.where(zeta > 0, s / (1 + s) ** 2 + zeta / s, psi - learn**2)
        gap = np.where((zeta > 0) & (s == 0), psi - learn**2, gap)
        overfitting = np.where(gap > 0, psi / gap, np.inf)
        bracket = (1 - learn) ** 2 * f_level + f_higher + sigma2
        risk = np.where(bracket == 0, 0.0, overfitting * bracket)
    return risk


def krr_boundary_expression() -> sp.Expr:
    """The §9 explicit KRR test risk as a sympy expression.

    Symbols (by name): `psi` (positive), `zeta`, `F_l`, `F_high`, `sigma2` (non-negative):
    $R=E_0[(1-L)^2F_\\ell+F_{\\rm high}]+(E_0-1)\\sigma^2+\\sigma^2$ with
    $\\tilde s$, $L$, $E_0$ as in [`krr_boundary_risk`][limitlab.theory.krr_boundary_risk]
    [derived via §10; `kernel-gradient-flow.md` §9].

    **Returns:** a sympy expression in those five symbols.
    """
    psi = sp.Symbol("psi", positive=True)
    zeta, f_l, f_high, sigma2 = sp.symbols("zeta F_l F_high sigma2", nonnegative=True)
    a = 1 + zeta - psi
    s = (a + sp.sqrt(a**2 + 4 * psi * zeta)) / (2 * psi)
    learn = 1 / (1 + s)
    overfitting = psi / (psi - learn**2)
    return overfitting * ((1 - learn) ** 2 * f_l + f_high) + (overfitting - 1) * sigma2 + sigma2
