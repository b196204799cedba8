"""Kernel gradient flow in the boundary regime $n=\\psi N(d,\\ell)$: Marchenko–Pastur formulas.

When $n$ is comparable with the number $p=N(d,\\ell)$ of degree-$\\ell$ harmonics, the stage-1|2
boundary ($t\\asymp n$) coincides with the learning time of degree $\\ell$ ($t\\asymp d^\\ell$) and
the curves depend on $\\tau=t/n$ through the spectrum of a $p$-feature Gram matrix, whose limit
is the Marchenko–Pastur law (`kernel-gradient-flow.md` §8 [derived]).

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
from scipy import integrate

from ._risk_curves import (
    _check_energies,
    _check_level,
    _check_n,
    _check_noise,
    _check_spectrum,
    _check_times,
    _finite,
    _real,
)
from ._sphere import harmonic_degeneracy
from ._spectrum import KernelSpectrum

__all__ = [
    "BoundaryRegime",
    "boundary_level",
    "boundary_regime",
    "boundary_regime_risk",
    "marchenko_pastur_atom",
    "marchenko_pastur_density",
]

_EPSREL = 1e-12
_TARGET = 1e-9  # warn when quad's error estimate exceeds this, relative to the value


def _check_psi(psi) -> float:
    return _real(psi, "psi", strict=True)


def marchenko_pastur_density(omega, psi) -> np.ndarray:
    """Density of the continuous part of the Marchenko–Pastur law of ratio $\\psi$ (mean 1).

    $G$ is the limiting eigenvalue distribution of the $n\\times n$ matrix $ZZ^\\top/p$,
    $Z\\in\\mathbb R^{n\\times p}$ with i.i.d. standard entries, $n/p\\to\\psi$ [literature;
    `kernel-gradient-flow.md` §8]:

    $$dG(\\omega)=\\Big(1-\\tfrac1\\psi\\Big)_+\\delta_0
    +\\frac{\\sqrt{(\\omega_+-\\omega)(\\omega-\\omega_-)}}{2\\pi\\psi\\,\\omega}
    \\mathbf 1_{[\\omega_-,\\omega_+]}(\\omega)\\,d\\omega,\\qquad
    \\omega_\\pm=(1\\pm\\sqrt\\psi)^2 .$$

    The continuous part has mass $\\min(1,1/\\psi)$ and $\\int\\omega\\,dG=1$.  At $\\psi=1$ it
    diverges like $\\omega^{-1/2}$ at 0.

    **Arguments:**

    - `omega`: $\\omega$, an array of reals (0 is returned outside $[\\omega_-,\\omega_+]$).
    - `psi`: $\\psi=n/p>0$.

    **Returns:** the density, a float64 array of the shape of `omega` (the atom excluded; see
    [`marchenko_pastur_atom`][limitlab.theory.marchenko_pastur_atom]).

    **Raises:** `ValueError` for $\\psi$ not finite and positive.
    """
    psi = _check_psi(psi)
    omega = np.asarray(omega, dtype=np.float64)
    root = math.sqrt(psi)
    lower, upper = (1 - root) ** 2, (1 + root) ** 2
    inside = (omega > lower) & (omega < upper) & (omega > 0)
    safe = np.where(inside, omega, 1.0)
    value = np.sqrt(np.maximum((upper - safe) * (safe - lower), 0.0)) / (2 * math.pi * psi * safe)
    return np.where(inside, value, 0.0)


def marchenko_pastur_atom(psi) -> float:
    """Mass $(1-1/\\psi)_+$ of the Marchenko–Pastur law at $\\omega=0$ ($n-p$ zero eigenvalues).

    **Arguments:** `psi`: $\\psi=n/p>0$.

    **Returns:** a float in $[0,1)$.

    **Raises:** `ValueError` for $\\psi$ not finite and positive.
    """
    psi = _check_psi(psi)
    return max(1.0 - 1.0 / psi, 0.0)


def _theta_grid(psi: float):
    """omega(theta) and the weight w(theta) with dG_continuous = w dtheta on (0, pi).

    omega = 1 + psi - 2 sqrt(psi) cos(theta) maps (0, pi) onto the support; then
    sqrt((w+ - w)(w - w-)) = 2 sqrt(psi) sin(theta), d omega = 2 sqrt(psi) sin(theta) d theta and
    dG = (2/pi) sin^2(theta) / omega d theta: smooth at both edges, and at psi = 1, where
    omega = 4 sin^2(theta/2), the weight is (2/pi) cos^2(theta/2) (the omega^(-1/2) singularity
    is gone).  omega is written without cancellation near the lower edge.
    """
    root = math.sqrt(psi)
    base = (1 - root) ** 2

    def omega(theta):
        half = math.sin(theta / 2)
        return base + 4 * root * half * half

    def weight(theta):
        half_sin, half_cos = math.sin(theta / 2), math.cos(theta / 2)
        sin2 = 4 * half_sin * half_sin * half_cos * half_cos
        return 2 / math.pi * sin2 / (base + 4 * root * half_sin * half_sin)

    return omega, weight


def _theta_at(omega_value: float, psi: float) -> float | None:
    """theta in (0, pi) with omega(theta) = omega_value, or None outside the support."""
    root = math.sqrt(psi)
    s = (omega_value - (1 - root) ** 2) / (4 * root)
    if not 0 < s < 1:
        return None
    return 2 * math.asin(math.sqrt(s))


def _continuous_integral(f, psi: float, scales: list[float], what: str) -> float:
    """int f(omega) dG over the continuous part, by quad in theta with break points.

    `scales` are omega-offsets above the lower edge where f changes (1/(tau mu), kappa/mu):
    quad gets break points there so narrow features near the edge are resolved.
    """
    omega, weight = _theta_grid(psi)
    lower = (1 - math.sqrt(psi)) ** 2
    points = set()
    for scale in scales:
        if scale > 0 and math.isfinite(scale):
            for factor in (0.1, 1.0, 10.0):
                theta = _theta_at(lower + factor * scale, psi)
                if theta is not None and 1e-12 < theta < math.pi - 1e-12:
                    points.add(theta)
    value, error = integrate.quad(
        lambda theta: f(omega(theta)) * weight(theta),
        0.0,
        math.pi,
        points=sorted(points) or None,
        epsabs=0.0,
        epsrel=_EPSREL,
        limit=1000,
    )
    if error > _TARGET * abs(value) and error > 1e-300:
        warnings.warn(
            f"boundary regime: quadrature of the {what} integral has estimated relative error "
            f"{error / abs(value) if value else math.inf:.2g} > {_TARGET:g}",
            RuntimeWarning,
            stacklevel=3,
        )
    return value


def boundary_level(d: int, n) -> int:
    """The level $\\ell$ whose $N(d,\\ell)$ is closest to $n$ in log scale.

    $\\ell=\\arg\\min_{\\ell\\ge0}|\\log N(d,\\ell)-\\log n|$ (the smaller $\\ell$ on a tie): the
    degree whose $p=N(d,\\ell)$ harmonics compete with the $n$ samples in the boundary regime
    $n=\\psi N(d,\\ell)$, $\\psi$ of order one (`kernel-gradient-flow.md` §8).

    **Arguments:** `d`: an integer $\\ge3$; `n`: a real number $>0$.

    **Returns:** $\\ell$, an `int`.

    **Raises:** `ValueError` for bad `d` or `n`.

    **Example:**

    ```pycon
    >>> boundary_level(300, 150), boundary_level(300, 40_000), boundary_level(300, 2e6)
    (1, 2, 3)
    ```
    """
    n = _check_n(n)
    level = 0
    previous = harmonic_degeneracy(d, 0)  # validates d
    while True:
        following = harmonic_degeneracy(d, level + 1)
        if following > n:
            # N(d, level) <= n < N(d, level + 1) (or level = 0 with n < 1): compare log distances.
            below = math.log(n) - math.log(previous)
            above = math.log(following) - math.log(n)
            return level if below <= above else level + 1
        level, previous = level + 1, following


@dataclasses.dataclass(frozen=True)
class BoundaryRegime:
    """Parameters of the Gaussian-equivalent model of the boundary regime (§8).

    **Fields:** `level` $\\ell$; `p` $=N(d,\\ell)$; `psi` $=n/p$; `mu`
    $=N(d,\\ell)\\lambda_{d,\\ell}$; `kappa` $=\\kappa_{>\\ell}$; `energy` $=F_\\ell$; `higher`
    $=\\lVert P_{>\\ell}f_d\\rVert^2$; `noise` $=\\sigma^2$; `effective_noise`
    $=\\sigma^2_{\\rm eff}=\\sigma^2+\\lVert P_{>\\ell}f_d\\rVert^2$; `n`.
    """

    level: int
    p: int
    psi: float
    mu: float
    kappa: float
    energy: float
    higher: float
    noise: float
    effective_noise: float
    n: float


def boundary_regime(
    spectrum: KernelSpectrum, energies, noise, n, *, level: int | None = None
) -> BoundaryRegime:
    """The exact finite-$d$ parameters $p,\\psi,\\mu,\\kappa,\\sigma^2_{\\rm eff}$ of §8.

    $p=N(d,\\ell)$, $\\psi=n/p$, $\\mu=N(d,\\ell)\\lambda_{d,\\ell}$, $\\kappa=\\kappa_{>\\ell}$,
    $\\sigma^2_{\\rm eff}=\\sigma^2+\\sum_{k>\\ell}F_k$ [derived; `kernel-gradient-flow.md` §8].

    **Arguments:** as [`boundary_regime_risk`][limitlab.theory.boundary_regime_risk].

    **Returns:** a [`BoundaryRegime`][limitlab.theory.BoundaryRegime].

    **Raises:** `ValueError` naming `noise`, `n`, `level` or `energies`, or if
    $\\lambda_{d,\\ell}=0$.
    """
    spectrum = _check_spectrum(spectrum)
    energies = _check_energies(energies, spectrum)
    noise = _check_noise(noise)
    n = _check_n(n)
    level = boundary_level(spectrum.d, n) if level is None else _check_level(level)
    mu = spectrum.mu(level)
    if not mu > 0:
        raise ValueError(
            f"level {level} has lambda_(d={spectrum.d},{level}) = 0: the boundary regime needs "
            "a learnable level; pass another level"
        )
    p = spectrum.degeneracy(level)
    higher = sum((energy for k, energy in energies.items() if k > level), 0.0)
    return BoundaryRegime(
        level=level,
        p=p,
        psi=n / p,
        mu=mu,
        kappa=spectrum.tail(level),
        energy=energies.get(level, 0.0),
        higher=higher,
        noise=noise,
        effective_noise=noise + higher,
        n=n,
    )


def boundary_regime_risk(
    taus, spectrum: KernelSpectrum, energies, noise, n, *, level: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Empirical World train and test risk at $n=\\psi N(d,\\ell)$ as functions of $\\tau=t/n$.

    Gaussian-equivalent model [derived; `kernel-gradient-flow.md` §8]: degree $\\ell$ is linear
    regression on $p=N(d,\\ell)$ isotropic features with per-feature kernel eigenvalue $\\mu/p$,
    $\\mu=N(d,\\ell)\\lambda_{d,\\ell}$, coefficient vector of squared norm $F_\\ell$; the degrees
    $>\\ell$ add the isotropic kernel term $\\kappa=\\kappa_{>\\ell}$ and act as noise,
    $\\sigma_{\\rm eff}^2=\\sigma^2+\\lVert P_{>\\ell}f_d\\rVert^2$.  With $\\psi=n/p$, $G$ the
    Marchenko–Pastur law ([`marchenko_pastur_density`][limitlab.theory.marchenko_pastur_density])
    and, with $r(\\omega)=\\mu\\omega+\\kappa$,
    $g(\\omega)=\\frac{\\mu\\omega}{r(\\omega)}\\big(1-e^{-\\tau r(\\omega)}\\big)$:

    $$R(\\hat f_{\\tau n})=\\sigma^2+\\lVert P_{>\\ell}f_d\\rVert^2
    +F_\\ell\\Big[\\psi\\!\\int_{\\omega>0}(1-g)^2dG+(1-\\psi)_+\\Big]
    +\\sigma_{\\rm eff}^2\\,\\psi\\!\\int_{\\omega>0}
    \\frac{\\mu^2\\omega\\big(1-e^{-\\tau(\\mu\\omega+\\kappa)}\\big)^2}{(\\mu\\omega+\\kappa)^2}dG
    +\\sum_{k<\\ell}e^{-2\\lambda_k\\tau n}F_k,$$
    $$\\hat R_n(\\hat f_{\\tau n})=\\int e^{-2\\tau(\\mu\\omega+\\kappa)}
    \\big(F_\\ell\\,\\omega+\\sigma_{\\rm eff}^2\\big)dG(\\omega)
    +\\sum_{k<\\ell}e^{-2\\lambda_k\\tau n}F_k$$

    (the train integral includes the atom $(1-1/\\psi)_+$ at $\\omega=0$).  The reference drops
    the degrees $k<\\ell$ ("learned instantly": $\\lambda_k\\tau n\\to\\infty$); here they enter
    as in §5, with their Oracle-World decay, which vanishes in that limit and makes $\\tau=0$
    exact: $R=\\hat R_n=\\sigma^2+\\sum_kF_k$ [derived, this implementation].  The degrees
    $>\\ell$ are not learned on this time scale.  As $\\tau\\to\\infty$ the test risk is that of
    ridgeless kernel regression with effective ridge $\\kappa$
    ([`krr_boundary_risk`][limitlab.theory.krr_boundary_risk], §9).  $t=\\tau n$ is gradient-flow
    time on $\\frac1{2n}\\sum_i(y_i-f(x_i))^2$.  Exact finite-$d$ values of $p$, $\\mu$, $\\kappa$
    are used; the formula is asymptotic ($d\\to\\infty$ at fixed $\\psi$).

    Numerics: the integrals over the continuous part are done by `scipy.integrate.quad` after
    the substitution $\\omega=1+\\psi-2\\sqrt\\psi\\cos\\theta$, $\\theta\\in(0,\\pi)$, under which
    $dG=\\frac2\\pi\\frac{\\sin^2\\theta}{\\omega}d\\theta$ is smooth at both edges, also at
    $\\psi=1$ (where the density has an $\\omega^{-1/2}$ singularity), with break points where the
    integrand varies fast; relative accuracy about $10^{-10}$ (a `RuntimeWarning` if quad's
    estimate exceeds $10^{-9}$).

    **Arguments:**

    - `taus`: $\\tau=t/n$, an array (any shape) of finite non-negative floats.
    - `spectrum`: a [`KernelSpectrum`][limitlab.theory.KernelSpectrum].
    - `energies`: $\\{k:F_k\\}$ for degrees $k\\le k_{\\max}$.
    - `noise`: $\\sigma^2\\ge0$.
    - `n`: the number of samples, $>0$.
    - `level`: $\\ell$; default [`boundary_level(d, n)`][limitlab.theory.boundary_level], the
      level whose $N(d,\\ell)$ is closest to $n$ in log scale.

    **Returns:** `(train, test)`, float64 arrays of the shape of `taus`, both including the
    noise $\\sigma^2$.

    **Raises:** `ValueError` naming `taus`, `noise`, `n`, `level` or `energies`, or for a level
    with $\\lambda_{d,\\ell}=0$; `FloatingPointError` for a non-finite result.
    """
    taus = _check_times(taus, "taus")
    spectrum = _check_spectrum(spectrum)
    regime = boundary_regime(spectrum, energies, noise, n, level=level)
    energies = _check_energies(energies, spectrum)
    psi, mu, kappa = regime.psi, regime.mu, regime.kappa
    energy, sigma_eff = regime.energy, regime.effective_noise
    atom = marchenko_pastur_atom(psi)
    lower_part = np.zeros(taus.shape)
    for k, value in energies.items():
        if k < regime.level:
            decay = np.exp(-2.0 * spectrum.eigenvalues[k] * taus * regime.n)
            lower_part = lower_part + value * decay
    train = np.empty(taus.shape)
    test = np.empty(taus.shape)
    for index, tau in np.ndenumerate(taus):
        tau = float(tau)
        scales = [kappa / mu]
        if tau > 0:
            scales.append(1.0 / (tau * mu))

        def unlearned(omega, tau=tau):
            # 1 - g = kappa/(mu w + kappa) + mu w/(mu w + kappa) e^{-tau(mu w + kappa)}
            rate = mu * omega + kappa
            return (kappa + mu * omega * math.exp(-tau * rate)) / rate

        def variance(omega, tau=tau):
            rate = mu * omega + kappa
            return mu * mu * omega * math.expm1(-tau * rate) ** 2 / (rate * rate)

        def fit(omega, tau=tau):
            return math.exp(-2 * tau * (mu * omega + kappa)) * (energy * omega + sigma_eff)

        bias = 0.0
        if energy:
            bias = energy * (
                psi * _continuous_integral(lambda w: unlearned(w) ** 2, psi, scales, "bias")
                + max(1.0 - psi, 0.0)
            )
        spread = 0.0
        if sigma_eff and tau > 0:
            spread = sigma_eff * psi * _continuous_integral(variance, psi, scales, "variance")
        test[index] = regime.noise + regime.higher + bias + spread
        train[index] = (
            _continuous_integral(fit, psi, scales, "train") if (energy or sigma_eff) else 0.0
        ) + atom * math.exp(-2 * tau * kappa) * sigma_eff
    train = train + lower_part
    test = test + lower_part
    return _finite(train, "boundary-regime train risk"), _finite(test, "boundary-regime test risk")
