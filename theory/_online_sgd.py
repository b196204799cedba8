"""One-pass (online) SGD on a kernel model: the Oracle World at a finite step size.

Every step draws a fresh batch, so online SGD is a noisy discretisation of the Oracle-World
gradient flow with $t=\\eta\\times$steps (`kernel-gradient-flow.md` §13 [literature: Bordelon &
Pehlevan, ICLR 2022; closure derived]).

This module never imports JAX.
"""

from __future__ import annotations

import math

import numpy as np

from ._eigenlearning import _tail_levels
from ._risk_curves import (
    _check_energies,
    _check_level,
    _check_noise,
    _check_spectrum,
    _finite,
    _real,
)
from ._spectrum import KernelSpectrum

__all__ = ["online_sgd_mean_learned_fraction", "online_sgd_risk", "online_sgd_stability"]


def _check_steps(steps) -> np.ndarray:
    try:
        array = np.asarray(steps, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"steps must be an array of non-negative integers, got {steps!r}"
        ) from None
    bad = ~np.isfinite(array) | (array < 0) | (array != np.round(array))
    if np.any(bad):
        raise ValueError(
            f"steps must be non-negative integers, got the value {array[bad].ravel()[0]!r}"
        )
    if np.any(array > 2.0**62):
        raise ValueError("steps must be below 2**62")
    return array.astype(np.int64)


def _check_eta(eta) -> float:
    return _real(eta, "eta", strict=True)


def _check_batch(batch) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    return int(batch)


CLOSURES = ("sphere", "gaussian")


def _closure_sign(closure) -> float:
    """+1/b or -1/b in the diagonal (see `online_sgd_risk`): the sign of the fourth-moment term."""
    if closure not in CLOSURES:
        raise ValueError(f"closure must be one of {list(CLOSURES)}, got {closure!r}")
    return -1.0 if closure == "sphere" else 1.0


def _multiply(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(I + x)(I + y) - I."""
    return x + y + x @ y


def _power(deviation: np.ndarray, exponent: int) -> np.ndarray:
    """(I + deviation)^exponent - I by binary powering on the deviations from I.

    Squaring I + B as I + (2B + B^2) keeps the relative accuracy of the small per-step decays
    eta*lambda (which 1 - eta*lambda in float64 would round away), so 10^9 steps cost 30
    matrix products and lose no accuracy to rounding of the step matrix.
    """
    result = np.zeros_like(deviation)
    square = deviation
    while exponent:
        if exponent & 1:
            result = _multiply(result, square)
        exponent >>= 1
        if exponent:
            square = _multiply(square, square)
    return result


def _levels(spectrum: KernelSpectrum) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues, masses N lambda) of the degrees 0..kmax and the tail levels."""
    eigenvalues = list(spectrum.eigenvalues)
    masses = [spectrum.mu(k) for k in spectrum.degrees]
    level, residual, residual_eigenvalue = _tail_levels(spectrum)
    for eigenvalue, mass in (level, (residual_eigenvalue, residual)) if level else ():
        if mass > 0 and eigenvalue > 0:
            eigenvalues.append(eigenvalue)
            masses.append(mass)
    return np.array(eigenvalues), np.array(masses)


def online_sgd_stability(
    spectrum: KernelSpectrum, *, eta, batch: int = 1, closure: str = "sphere"
) -> float:
    """Noise amplification $\\rho$ of the one-pass SGD recursion: stable iff $\\rho<1$.

    The recursion of [`online_sgd_risk`][limitlab.theory.online_sgd_risk] is
    $y\\leftarrow Ay+c$ on $y_k=N_ke_k$ with $A=\\mathrm{diag}(a_k)+\\frac{\\eta^2}b\\,
    (m_k\\lambda_k)_k\\mathbf 1^\\top$, $a_k=(1-\\eta\\lambda_k)^2\\pm\\frac{\\eta^2}b
    \\lambda_k^2$ ($-$ for the exact sphere recursion, $+$ for the Gaussian closure),
    $m_k=N_k\\lambda_k$.  When all $a_k\\ge0$ the entries are non-negative, so
    (Perron–Frobenius; $I-A$ an M-matrix) its spectral radius is $<1$ iff every $a_k<1$, i.e.
    $\\eta\\lambda_k(1\\pm1/b)<2$, and

    $$\\rho=\\frac\\eta b\\sum_k\\frac{m_k}{2-\\eta\\lambda_k(1\\pm1/b)}<1$$

    [derived].  (Some $a_k<0$ is possible for the sphere with $b=1$ and
    $\\eta\\lambda_k>1/2$; then the spectral radius of $A$ is also computed numerically and
    must be $<1$.)  Then $E\\to\\rho\\sigma^2/(1-\\rho)$ as $s\\to\\infty$ (the SGD noise floor,
    with every degree learned).  Since $\\sum_km_k=h(1)$, $\\rho\\approx\\eta h(1)/(2b)$ for
    small $\\eta\\lambda_{\\max}$.  Levels (tail included) as in
    [`online_sgd_risk`][limitlab.theory.online_sgd_risk].

    **Arguments:** `spectrum`; `eta` $>0$; `batch` $b\\ge1$; `closure` as in
    [`online_sgd_risk`][limitlab.theory.online_sgd_risk].

    **Returns:** $\\rho$ (`inf` if the recursion is unstable).

    **Raises:** `ValueError` naming `eta`, `batch` or `closure`.
    """
    spectrum = _check_spectrum(spectrum)
    eta = _check_eta(eta)
    batch = _check_batch(batch)
    sign = _closure_sign(closure)
    lam, mass = _levels(spectrum)
    margin = 2 - eta * lam * (1 + sign / batch)
    if np.any(margin <= 0):
        return math.inf
    diagonal = (1 - eta * lam) ** 2 + sign * eta * eta / batch * lam**2
    if np.any(diagonal < 0):
        matrix = np.diag(diagonal) + (eta * eta / batch * mass * lam)[:, None]
        if np.max(np.abs(np.linalg.eigvals(matrix))) >= 1:
            return math.inf
    rho = float(eta / batch * np.sum(mass / margin))
    return rho if rho < 1 else math.inf


def online_sgd_risk(
    steps, spectrum: KernelSpectrum, energies, noise, *, eta, batch: int = 1,
    closure: str = "sphere",
) -> np.ndarray:
    """Expected excess risk $\\mathbb E\\lVert f_s-f_d\\rVert^2$ of one-pass SGD after $s$ steps.

    Online SGD on the per-sample loss $\\tfrac12(y-f(x))^2$ with step $\\eta$, batch $b$ and
    fresh samples every step, from $f_0=0$, in function space: $f_{s+1}=f_s-\\frac\\eta b
    \\sum_{i\\le b}K(\\cdot,x_i)(f_s(x_i)-y_i)$.  With $E_k=\\mathbb E\\lVert P_k(f_s-f_d)
    \\rVert^2$ the error in degree $k$ and $E=\\sum_kE_k$:

    - `closure="sphere"` (default), **exact** on the sphere [derived here]: by the addition
      theorem $\\lVert P_kK(\\cdot,x)\\rVert^2=\\lambda_k^2N_kP_k(1)=\\lambda_k^2N_k$ for
      every $x$, and $\\langle P_kg,P_kK(\\cdot,x)\\rangle=\\lambda_k(P_kg)(x)$, so expanding
      the square of one step and averaging over the fresh batch gives

      $$E_k\\leftarrow\\Big((1-\\eta\\lambda_k)^2-\\frac{\\eta^2}b\\lambda_k^2\\Big)E_k
      +\\frac{\\eta^2}b\\lambda_k^2N_k\\big(E+\\sigma^2\\big),\\qquad E_k(0)=F_k,$$

      with no approximation (the recursion is linear in $E_k$ and $E$, so it holds for the
      means).
    - `closure="gaussian"`: the reference's §13 (Bordelon & Pehlevan 2022 [literature]),
      which closes the recursion by assuming Gaussian fourth moments of the features,
      $e_k\\leftarrow(1-\\eta\\lambda_k)^2e_k+\\frac{\\eta^2}{b}\\lambda_k^2(e_k+E+\\sigma^2)$
      with $E_k=N_ke_k$: the sign of the $\\frac{\\eta^2}b\\lambda_k^2E_k$ term is $+$.  On the
      sphere it is wrong, badly so at $b=1$ through the constant mode ($\\lambda_0\\approx
      h(0)$, $N_0=1$, which has no fluctuation at all, while a Gaussian feature would): e.g.
      $h=\\exp$, $d=50$, $\\eta=1/2$, $b=1$, $F_1=F_2=1$, $\\sigma^2=1/4$ after 400 steps the
      simulated excess risk is $2.18\\pm0.07$, the exact recursion gives $2.09$ and the
      Gaussian closure $4.85$ (claim `online-sgd-risk`).

    As $\\eta\\to0$ at fixed $t=\\eta s$ it tends to the Oracle-World excess
    risk $\\sum_ke^{-2\\lambda_kt}F_k$ ([`oracle_risk`][limitlab.theory.oracle_risk] minus
    $\\sigma^2$), with an $O(\\eta)$ error.  It stays bounded iff
    [`online_sgd_stability`][limitlab.theory.online_sgd_stability] $<1$ (roughly
    $\\eta\\,h(1)<2b$); beyond, it grows geometrically.

    Levels: the degrees $0,\\dots,k_{\\max}$ plus the degrees beyond, which carry the
    remaining trace $\\kappa_{>k_{\\max}}=h(1)-\\sum_{k\\le k_{\\max}}N_k\\lambda_k$ (no target
    energy there): the first of them with $\\lambda_{d,k}>0$ exactly, and the mass beyond it,
    $\\kappa_{>k}$, as one level with the leading eigenvalue $\\lambda_\\star$ after $k$
    [derived, this implementation; the same split as in
    [`eigenlearning`][limitlab.theory.eigenlearning]].  That last level's noise injection
    $\\frac{\\eta^2}b\\lambda_\\star\\kappa_{>k}(E+\\sigma^2)$ bounds the true
    $\\frac{\\eta^2}b\\sum_{j>k}N_j\\lambda_j^2(E+\\sigma^2)$ from above when the eigenvalues
    decrease with the degree; choose $k_{\\max}$ so that it is negligible on the time scale of
    interest.

    The recursion is affine in $(N_ke_k)_k$ with a constant step matrix, so the value after
    $s$ steps is computed exactly by binary powering ($O(\\log s)$ small matrix products).

    **Arguments:**

    - `steps`: step counts $s$, an array (any shape) of non-negative integers.
    - `spectrum`: a [`KernelSpectrum`][limitlab.theory.KernelSpectrum].
    - `energies`: $\\{k:F_k\\}$ for degrees $k\\le k_{\\max}$.
    - `noise`: $\\sigma^2\\ge0$ (label noise of the training samples).
    - `eta`: the step size $\\eta>0$; `batch`: $b\\ge1$.
    - `closure`: `"sphere"` (exact, default) or `"gaussian"` (the reference's §13).

    **Returns:** the excess risk $E$ (no noise), a float64 array of the shape of `steps`.

    **Raises:** `ValueError` naming `steps`, `eta`, `batch`, `closure`, `noise` or `energies`;
    `FloatingPointError` if the recursion overflows (step size far beyond stability).
    """
    steps = _check_steps(steps)
    spectrum = _check_spectrum(spectrum)
    energies = _check_energies(energies, spectrum)
    noise = _check_noise(noise)
    eta = _check_eta(eta)
    batch = _check_batch(batch)
    sign = _closure_sign(closure)
    lam, mass = _levels(spectrum)
    start = [energies.get(k, 0.0) for k in spectrum.degrees]
    start += [0.0] * (lam.size - len(start))
    levels = lam.size
    # State y = (N_k e_k)_k, 1.  N_k e_k <- a_k N_k e_k + g m_k lam_k (E + sigma^2) with
    # a_k = (1 - eta lam_k)^2 +- g lam_k^2, g = eta^2/b, m_k = N_k lam_k, E = sum_k N_k e_k.
    gain = eta * eta / batch
    step = eta * lam
    deviation = np.zeros((levels + 1, levels + 1))
    # a_k - 1 = -2 eta lam + (eta lam)^2 (1 +- 1/b), formed without rounding 1 - eta*lam.
    deviation[np.arange(levels), np.arange(levels)] = step * (step * (1 + sign / batch) - 2)
    coupling = gain * mass * lam
    deviation[:levels, :levels] += coupling[:, None]
    deviation[:levels, levels] = coupling * noise
    state = np.append(np.array(start), 1.0)
    out = np.empty(steps.shape)
    cache: dict[int, float] = {}
    with np.errstate(over="raise", invalid="raise"):
        try:
            for index, count in np.ndenumerate(steps):
                count = int(count)
                if count not in cache:
                    transfer = _power(deviation, count)
                    cache[count] = float(np.sum((state + transfer @ state)[:levels]))
                out[index] = cache[count]
        except FloatingPointError:
            raise FloatingPointError(
                f"online_sgd_risk overflowed: eta={eta} is far beyond the stability limit"
            ) from None
    return _finite(out, "online_sgd_risk")


def online_sgd_mean_learned_fraction(
    steps, spectrum: KernelSpectrum, k: int, *, eta
) -> np.ndarray:
    """Fraction $1-(1-\\eta\\lambda_k)^s$ of a degree-$k$ target harmonic in the mean SGD iterate.

    For one-pass SGD from $f_0=0$ on $\\tfrac12(y-f(x))^2$ with fresh samples (any batch size,
    any noise), the sample of step $s$ is independent of $f_s$, so the mean obeys
    $\\mathbb Ef_{s+1}=\\mathbb Ef_s-\\eta\\mathbb H(\\mathbb Ef_s-f_d)$ and
    $\\mathbb Ef_s=\\big(I-(I-\\eta\\mathbb H)^s\\big)f_d$.  Hence for a target
    $f_d=\\sqrt{F_k}\\,Y$ with $Y$ a unit-norm degree-$k$ harmonic,
    $\\langle\\mathbb Ef_s,Y\\rangle/\\sqrt{F_k}=1-(1-\\eta\\lambda_{d,k})^s$.  **Exact** (no
    Gaussian closure, no large-$d$ limit) [derived; `kernel-gradient-flow.md` §13]; it tends to
    the Oracle-World $1-e^{-\\lambda_kt}$ with $t=\\eta s$.  Computed as
    $-\\mathrm{expm1}(s\\log(1-\\eta\\lambda_k))$ for $\\eta\\lambda_k<1$.

    **Arguments:**

    - `steps`: step counts $s$, an array of non-negative integers.
    - `spectrum`: a [`KernelSpectrum`][limitlab.theory.KernelSpectrum].
    - `k`: the degree, an integer $\\ge0$ (beyond $k_{\\max}$ the eigenvalue is computed).
    - `eta`: the step size $\\eta>0$.

    **Returns:** a float64 array of the shape of `steps`.

    **Raises:** `ValueError` naming `steps`, `k` or `eta`; `FloatingPointError` if
    $|1-\\eta\\lambda_k|>1$ makes it overflow.
    """
    steps = _check_steps(steps)
    spectrum = _check_spectrum(spectrum)
    k = _check_level(k, "k")
    eta = _check_eta(eta)
    rate = eta * spectrum.eigenvalue(k)
    counts = steps.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if rate < 1:
            fraction = -np.expm1(counts * math.log1p(-rate))
        else:
            fraction = 1.0 - np.power(1.0 - rate, counts)
    return _finite(fraction, "online_sgd_mean_learned_fraction")
