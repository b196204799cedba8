"""One round of iterative linearisation in closed form, and its Gauss–Newton analogy.

Iterative linearisation (Goldwaser & Ge, arXiv:2211.12345) trains the network linearised at
$\\theta_s$ for $K$ steps, then re-linearises.  With the **summed** squared loss
$\\tfrac12\\lVert J\\delta-r\\rVert^2$, full-batch gradient descent with step $\\eta$ from
$\\delta=0$, Jacobian $J=J_{\\theta_s}(X)\\in\\mathbb R^{N\\times P}$ and residual
$r=Y-f_{\\theta_s}(X)$, one round moves the parameters by
(`iterative-linearisation.md` §4 [derived, exact])

$$\\delta_K=\\sum_{j=0}^{K-1}(I-\\eta J^\\top J)^j\\,\\eta J^\\top r
=J^\\top g_K(JJ^\\top)\\,r,\\qquad
g_K(\\lambda)=\\frac{1-(1-\\eta\\lambda)^K}{\\lambda},\\quad g_K(0)=\\eta K.$$

Normalisation: for the mean loss $\\frac1{2N}\\lVert\\cdot\\rVert^2$ pass $\\eta/N$ as the
learning rate; for $\\frac1N\\lVert\\cdot\\rVert^2$ (no $\\tfrac12$) pass $2\\eta/N$.  With $C$
outputs, stack the rows: $J\\in\\mathbb R^{NC\\times P}$ and $r\\in\\mathbb R^{NC}$ in the same
order (every function here takes a 1-D residual).

Compared with Levenberg–Marquardt,
$\\delta_{\\rm LM}(\\lambda_d)=J^\\top(JJ^\\top+\\lambda_dI)^{-1}r$ (filter
$1/(\\lambda+\\lambda_d)$), one round is LM with the eigenvalue-dependent damping
$\\lambda_d(\\lambda)=\\lambda(1-\\eta\\lambda)^K/(1-(1-\\eta\\lambda)^K)$, which equals
$1/(\\eta K)$ at $\\lambda=0$; the constant damping $1/(\\eta K)$ is only an approximation,
whose exact error [`lm_analogy_error`][limitlab.theory.lm_analogy_error] computes.  As
$K\\to\\infty$ (with $0<\\eta\\lambda_i<2$) the round becomes the minimum-norm Gauss–Newton
step $J^+r$, and the predictions become kernel regression with the empirical NTK (§3
[derived]).  The paper calls the method "analogous to a damped version of the Gauss–Newton
algorithm" [paper, abstract].

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import numbers
import operator

import numpy as np
import sympy as sp

from ._risk_curves import _real

__all__ = [
    "GramSpectrum",
    "effective_damping",
    "effective_damping_expression",
    "gauss_newton_step",
    "gram_spectrum",
    "k_step_filter",
    "k_step_filter_expression",
    "k_step_update",
    "kernel_regression_prediction",
    "levenberg_marquardt_step",
    "lm_analogy_error",
    "lm_analogy_error_expression",
    "lm_analogy_error_from_spectrum",
]

EIGENVALUE = sp.Symbol("lam", positive=True)
LEARNING_RATE = sp.Symbol("eta", positive=True)
STEPS = sp.Symbol("K", positive=True, integer=True)

# Eigenvalues of a PSD matrix computed in float64 can come out slightly negative; values down to
# -_NEGATIVE_ROUNDOFF * max|lambda| are treated as round-off and clipped to 0.
_NEGATIVE_ROUNDOFF = 1e-12
# Steps are used as float64 multipliers; beyond 2**53 they are no longer exact integers.
_MAX_STEPS = 2**53


# --------------------------------------------------------------------------------------------
# argument checking


def _check_learning_rate(learning_rate) -> float:
    return _real(learning_rate, "learning_rate", strict=True)


def _check_steps(steps, *, array: bool) -> np.ndarray | None:
    """None, or an int64 array (0-d for a scalar) of integers in [1, 2**53]."""
    allowed = (
        "steps must be an integer >= 1"
        + (", an array of integers >= 1" if array else "")
        + " or None (K -> infinity)"
    )
    if steps is None:
        return None
    if isinstance(steps, bool | np.bool_):
        raise ValueError(f"{allowed}, got {steps!r}")
    if isinstance(steps, numbers.Integral):
        values = np.asarray(operator.index(steps), dtype=object)
    elif not array or isinstance(steps, str):
        raise ValueError(f"{allowed}, got {steps!r}")
    else:
        try:
            values = np.asarray(steps)
        except (TypeError, ValueError):
            raise ValueError(f"{allowed}, got {steps!r}") from None
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values) | (values != np.round(values))
            if np.any(bad):
                raise ValueError(f"{allowed}, got the value {values[bad].ravel()[0]!r}")
        elif values.dtype.kind not in "iu":
            raise ValueError(f"{allowed}, got {steps!r}")
    small = values < 1
    if np.any(small):
        raise ValueError(f"{allowed}, got the value {values[small].ravel()[0]!r}")
    large = values > _MAX_STEPS
    if np.any(large):
        raise ValueError(f"steps must be at most 2**53, got the value {values[large].ravel()[0]!r}")
    return values.astype(np.int64)


def _float_array(values, name: str, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {values!r}") from None
    bad = ~np.isfinite(array)
    if np.any(bad):
        raise ValueError(f"{name} must be {what}, got the value {array[bad].ravel()[0]!r}")
    return array


def _check_eigenvalues(eigenvalues, name: str = "eigenvalues") -> np.ndarray:
    """Finite, >= 0 up to round-off (relative 1e-12 of the largest |value|, then clipped)."""
    array = _float_array(eigenvalues, name, "an array of finite real numbers >= 0")
    if array.size:
        tolerance = _NEGATIVE_ROUNDOFF * float(np.max(np.abs(array)))
        negative = array < -tolerance
        if np.any(negative):
            raise ValueError(
                f"{name} must be >= 0 (eigenvalues of a positive semi-definite matrix; "
                f"round-off down to -1e-12 * max|{name}| is clipped to 0), got the value "
                f"{array[negative].ravel()[0]!r}"
            )
    return np.maximum(array, 0.0)


def _check_system(jacobian, residual) -> tuple[np.ndarray, np.ndarray]:
    J = _float_array(jacobian, "jacobian", "a finite real N x P matrix")
    if J.ndim != 2 or 0 in J.shape:
        raise ValueError(f"jacobian must be a 2-D N x P array with N, P >= 1, got shape {J.shape}")
    r = _float_array(residual, "residual", "a finite real vector of length N")
    if r.shape != (J.shape[0],):
        raise ValueError(
            f"residual must be a 1-D array of length N = {J.shape[0]} (the rows of jacobian; "
            f"flatten multi-output residuals), got shape {r.shape}"
        )
    return J, r


def _check_rtol(rtol, shape: tuple[int, int]) -> float:
    if rtol is None:
        return max(shape) * float(np.finfo(np.float64).eps)
    return _real(rtol, "rtol")


def _finite(array, what: str, hint: str = "") -> np.ndarray:
    """No silent NaN/inf: raise FloatingPointError if anything overflowed."""
    if not np.all(np.isfinite(array)):
        raise FloatingPointError(
            f"{what} is not finite (overflow or invalid operation){'; ' + hint if hint else ''}"
        )
    return array


_DIVERGENCE_HINT = (
    "for learning_rate * lambda > 2 the iteration diverges and (1 - learning_rate * lambda)^K "
    "overflows float64 at large K"
)


def _check_convergence(max_eigenvalue: float, learning_rate: float) -> None:
    product = learning_rate * max_eigenvalue
    if not product < 2:
        raise ValueError(
            "learning_rate: with steps=None (K -> infinity) gradient descent converges only if "
            "0 < learning_rate * lambda < 2 for every non-zero eigenvalue lambda of J J^T; it "
            f"diverges (or oscillates forever) here: learning_rate * lambda_max = {product!r} "
            f"(learning_rate = {learning_rate!r}, lambda_max = {max_eigenvalue!r})"
        )


# --------------------------------------------------------------------------------------------
# stable scalar kernels


def _power_and_complement(x: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """$p=(1-x)^K$ and $q=1-(1-x)^K$ for $x\\ge0$, without cancellation.

    $x<1$: $p=e^L$, $q=-\\mathrm{expm1}(L)$ with $L=K\\,\\mathrm{log1p}(-x)$, accurate for
    $x\\ll1$ where $1-x$ rounds.  $x>1$: $(1-x)^K=(-1)^K e^L$ with $L=K\\log(x-1)$, written as
    $\\mathrm{log1p}(x-2)$ ($x-2$ is exact for $1\\le x\\le4$), and for even $K$
    $q=-\\mathrm{expm1}(L)$, accurate near $x=2$.  Overflow (only for $x>2$) gives inf.
    """
    x, steps = np.broadcast_arrays(x, steps)
    k = steps.astype(np.float64)
    power = np.zeros(x.shape)
    complement = np.ones(x.shape)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        below = x < 1
        log_power = k[below] * np.log1p(-x[below])
        power[below] = np.exp(log_power)
        complement[below] = -np.expm1(log_power)
        above = x > 1
        log_power = k[above] * np.log1p(x[above] - 2)
        magnitude = np.exp(log_power)
        even = steps[above] % 2 == 0
        power[above] = np.where(even, magnitude, -magnitude)
        complement[above] = np.where(even, -np.expm1(log_power), 1 + magnitude)
    return power, complement


_LOG1P_SERIES = np.array([(-1.0) ** (n + 1) / n for n in range(2, 21)])


def _log1p_remainder(y: np.ndarray) -> np.ndarray:
    """$\\psi(y)=(\\mathrm{log1p}(y)-y)/y^2$ for $y>-1$ ($-\\tfrac12$ at $y=0$), accurately.

    For $|y|<0.1$ the Taylor series $\\sum_{n=2}^{20}(-1)^{n+1}y^{n-2}/n$ (truncation below
    $10^{-17}$ relative), which also avoids the underflow of $y^2$; elsewhere the direct
    difference loses at most a factor $2/|y|\\le20$.
    """
    y = np.asarray(y, dtype=np.float64)
    out = np.empty(y.shape)
    small = np.abs(y) < 0.1
    ys = y[small]
    acc = np.zeros(ys.shape)
    for coefficient in _LOG1P_SERIES[::-1]:
        acc = acc * ys + coefficient
    out[small] = acc
    yl = y[~small]
    out[~small] = (np.log1p(yl) - yl) / yl**2
    return out


def _scaled_filter(x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """$g_K(\\lambda)/\\eta=(1-(1-x)^K)/x$ as a function of $x=\\eta\\lambda\\ge0$ ($K$ at $x=0$).

    $x=0$ also covers eigenvalues so small that $\\eta\\lambda$ underflows.
    """
    _, complement = _power_and_complement(x, steps)
    x, steps = np.broadcast_arrays(x, steps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, complement / x, steps.astype(np.float64))


def _filter(eigenvalues: np.ndarray, learning_rate: float, steps: np.ndarray) -> np.ndarray:
    return learning_rate * _scaled_filter(learning_rate * eigenvalues, steps)


def _scaled_difference(x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The filter difference over $\\eta$ in terms of $x=\\eta\\lambda$, without cancellation.

    $(g_K(\\lambda)-1/(\\lambda+1/(\\eta K)))/\\eta=(1-(1-x)^K(1+Kx))/(x(1+Kx))$.  For $0<x<1$,
    $(1-x)^K(1+Kx)=e^a$ with $a=K\\phi(-x)+\\phi(Kx)\\le0$, $\\phi(y)=\\mathrm{log1p}(y)-y
    =y^2\\psi(y)$; both terms are $\\le0$, so $a$ and $-\\mathrm{expm1}(a)$ keep full relative
    accuracy even when $Kx\\ll1$ and the two filters agree to many digits.  $0$ at $x=0$.
    """
    power, _ = _power_and_complement(x, steps)
    x, steps = np.broadcast_arrays(x, steps)
    k = steps.astype(np.float64)
    out = np.zeros(x.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        inside = (x > 0) & (x < 1)
        xi, ki = x[inside], k[inside]
        # a = x^2 (K psi(-x) + K^2 psi(Kx)); the result is -(a/x) (expm1(a)/a) / (1 + Kx),
        # written so that neither x^2 nor a underflows for tiny x.
        a_over_x = xi * (ki * _log1p_remainder(-xi) + ki**2 * _log1p_remainder(ki * xi))
        a = xi * a_over_x
        nonzero = a != 0
        ratio = np.ones(a.shape)
        ratio[nonzero] = np.expm1(a[nonzero]) / a[nonzero]
        out[inside] = -a_over_x * ratio / (1 + ki * xi)
        outside = x >= 1
        xo, ko = x[outside], k[outside]
        out[outside] = (1 - power[outside] * (1 + ko * xo)) / (xo * (1 + ko * xo))
    return out


# --------------------------------------------------------------------------------------------
# spectral filters


def k_step_filter(eigenvalues, learning_rate, steps) -> np.ndarray:
    """The gain $g_K(\\lambda)$ of one round of $K$ gradient steps on an eigenvector of $JJ^\\top$.

    $$g_K(\\lambda)=\\frac{1-(1-\\eta\\lambda)^K}{\\lambda}
    =\\eta\\sum_{j=0}^{K-1}(1-\\eta\\lambda)^j,\\qquad g_K(0)=\\eta K,$$

    so that $\\delta_K=J^\\top g_K(JJ^\\top)r$ (`iterative-linearisation.md` §4 [derived,
    exact]; summed loss $\\tfrac12\\lVert J\\delta-r\\rVert^2$, see the module docstring for the
    mean loss).  Evaluated as $-\\mathrm{expm1}(K\\,\\mathrm{log1p}(-\\eta\\lambda))/\\lambda$ for
    $\\eta\\lambda<1$, so $\\eta\\lambda=10^{-14}$ keeps full precision (the naive
    $1-(1-\\eta\\lambda)^K$ loses it all), and as $(1-(-1)^K|1-\\eta\\lambda|^K)/\\lambda$ for
    $\\eta\\lambda>1$.  Behaviour in $K$ (§6 item 7): increasing towards $1/\\lambda$ for
    $0<\\eta\\lambda<1$ (equal to it for $\\eta\\lambda=1$), alternating around it for
    $1<\\eta\\lambda<2$ (above for odd $K$), diverging for $\\eta\\lambda>2$.

    `steps=None` is $K\\to\\infty$: $1/\\lambda$ for $\\lambda>0$ and $0$ for $\\lambda=0$ (the
    pointwise limit at $\\lambda=0$ is $\\infty$, but that direction is annihilated by $J^\\top$;
    the value $0$ makes $J^\\top g_\\infty(JJ^\\top)=J^+$, the pseudo-inverse).  It requires
    $\\eta\\lambda_{\\max}<2$.

    **Arguments:**

    - `eigenvalues`: array of eigenvalues $\\lambda\\ge0$ of $JJ^\\top$ (round-off down to
      $-10^{-12}\\max|\\lambda|$ is clipped to 0).
    - `learning_rate`: $\\eta>0$.
    - `steps`: $K$, an integer $\\ge1$ (at most $2^{53}$), an integer array broadcast against
      `eigenvalues` (e.g. `steps[:, None]` for a grid), or `None` for $K\\to\\infty$.

    **Returns:** a float64 array of the broadcast shape.

    **Raises:** `ValueError` naming `eigenvalues`, `learning_rate` or `steps` (for `None`, also
    when $\\eta\\lambda_{\\max}\\ge2$: the iteration diverges); `FloatingPointError` if $g_K$
    overflows ($\\eta\\lambda>2$ and large $K$).

    **Example:**

    ```pycon
    >>> k_step_filter([0.0, 1.0, 3.0], 0.5, 2).tolist()
    [1.0, 0.75, 0.25]
    ```
    """
    eigenvalues = _check_eigenvalues(eigenvalues)
    learning_rate = _check_learning_rate(learning_rate)
    steps = _check_steps(steps, array=True)
    if steps is None:
        if eigenvalues.size:
            _check_convergence(float(np.max(eigenvalues)), learning_rate)
        with np.errstate(divide="ignore", over="ignore"):
            inverse = np.where(eigenvalues > 0, 1.0 / eigenvalues, 0.0)
        return _finite(inverse, "1/lambda")
    return _finite(_filter(eigenvalues, learning_rate, steps), "g_K", _DIVERGENCE_HINT)


def effective_damping(eigenvalues, learning_rate, steps) -> np.ndarray:
    """The eigenvalue-dependent Levenberg–Marquardt damping that one round of $K$ steps equals.

    $$g_K(\\lambda)=\\frac1{\\lambda+\\lambda_d(\\lambda)},\\qquad
    \\lambda_d(\\lambda)=\\frac{\\lambda(1-\\eta\\lambda)^K}{1-(1-\\eta\\lambda)^K},\\qquad
    \\lambda_d(0)=\\frac1{\\eta K},\\qquad
    \\lambda_d(\\lambda)=\\frac1{\\eta K}-\\frac{K+1}{2K}\\lambda+O(\\lambda^2)$$

    (`iterative-linearisation.md` §4 [derived, exact; the value and slope at $\\lambda=0$ checked
    with sympy in the tests]).  For $\\eta\\lambda\\ll1$ and $\\eta\\lambda K\\gg1$,
    $\\lambda_d\\approx\\lambda e^{-\\eta\\lambda K}$; $\\lambda_d=0$ at $\\eta\\lambda=1$ and
    $\\lambda_d<0$ for $1<\\eta\\lambda<2$ with odd $K$ (overshoot).  `steps=None`
    ($K\\to\\infty$, requires $\\eta\\lambda_{\\max}<2$) gives $0$.

    **Arguments:** as [`k_step_filter`][limitlab.theory.k_step_filter].

    **Returns:** a float64 array of the broadcast shape.

    **Raises:** as [`k_step_filter`][limitlab.theory.k_step_filter], and `ValueError` where
    $(1-\\eta\\lambda)^K=1$ with $\\lambda>0$ ($\\eta\\lambda=2$, even $K$: $g_K=0$, the damping is
    infinite with opposite signs on either side).
    """
    eigenvalues = _check_eigenvalues(eigenvalues)
    learning_rate = _check_learning_rate(learning_rate)
    steps = _check_steps(steps, array=True)
    if steps is None:
        if eigenvalues.size:
            _check_convergence(float(np.max(eigenvalues)), learning_rate)
        return np.zeros(eigenvalues.shape)
    x = learning_rate * eigenvalues
    power, complement = _power_and_complement(x, steps)
    x, steps = np.broadcast_arrays(x, steps)
    eigenvalues = np.broadcast_to(eigenvalues, x.shape)
    singular = (x > 0) & (complement == 0)
    if np.any(singular):
        raise ValueError(
            "eigenvalues: the effective damping is undefined where (1 - learning_rate * lambda)^K"
            " = 1, i.e. learning_rate * lambda = 2 with K even (g_K = 0); got lambda = "
            f"{eigenvalues[singular].ravel()[0]!r} with K = {steps[singular].ravel()[0]!r}"
        )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        damping = np.where(
            x > 0, eigenvalues * power / complement, 1.0 / (learning_rate * steps)
        )
    return _finite(damping, "the effective damping", _DIVERGENCE_HINT)


# --------------------------------------------------------------------------------------------
# steps for a given Jacobian


@dataclasses.dataclass(frozen=True, eq=False)
class GramSpectrum:
    """The spectrum of $JJ^\\top$ and the residual in its eigenbasis.

    Built by [`gram_spectrum`][limitlab.theory.gram_spectrum] from the thin SVD
    $J=\\sum_i\\sigma_iu_iv_i^\\top$.

    **Fields:**

    - `eigenvalues`: $\\lambda_i=\\sigma_i^2$, descending, $\\min(N,P)$ of them.  For $N>P$ the
      other $N-P$ eigenvalues of $JJ^\\top$ are exactly 0 and contribute to no step (the part of
      the residual there cannot be fitted).
    - `projections`: $u_i^\\top r$.

    **Properties:** `coefficients`, $c_i=(u_i^\\top r)^2$.
    """

    eigenvalues: np.ndarray
    projections: np.ndarray

    @property
    def coefficients(self) -> np.ndarray:
        """$c_i=(u_i^\\top r)^2$."""
        return self.projections**2


def _svd(J: np.ndarray, r: np.ndarray):
    U, s, Vt = np.linalg.svd(J, full_matrices=False)
    return s, U.T @ r, Vt


def gram_spectrum(jacobian, residual) -> GramSpectrum:
    """The eigenvalues $\\lambda_i$ of $JJ^\\top$ and the residual's coordinates $u_i^\\top r$.

    From the thin SVD of $J$ (more accurate for small $\\lambda_i$ than an eigendecomposition of
    the squared matrix $JJ^\\top$).  $JJ^\\top$ is the empirical NTK Gram matrix on the training
    inputs.  Evaluate
    [`lm_analogy_error_from_spectrum`][limitlab.theory.lm_analogy_error_from_spectrum] on it
    for many $K$ at the cost of one SVD.

    **Arguments:**

    - `jacobian`: $J$, a finite $N\\times P$ array.
    - `residual`: $r$, a finite 1-D array of length $N$.

    **Returns:** a [`GramSpectrum`][limitlab.theory.GramSpectrum].

    **Raises:** `ValueError` naming `jacobian` or `residual`.
    """
    J, r = _check_system(jacobian, residual)
    s, projections, _ = _svd(J, r)
    return GramSpectrum(eigenvalues=s**2, projections=projections)


def k_step_update(jacobian, residual, learning_rate, steps, *, rtol=None) -> np.ndarray:
    """$\\delta_K$: $K$ full-batch gradient steps on $\\tfrac12\\lVert J\\delta-r\\rVert^2$ from 0.

    $$\\delta_K=\\sum_{j=0}^{K-1}(I-\\eta J^\\top J)^j\\eta J^\\top r=J^\\top g_K(JJ^\\top)r
    =\\sum_i\\sigma_ig_K(\\sigma_i^2)(u_i^\\top r)\\,v_i$$

    (`iterative-linearisation.md` §4 and §6 item 4 [derived, exact]), in the spectral form from
    the thin SVD $J=\\sum_i\\sigma_iu_iv_i^\\top$, so it holds for singular $JJ^\\top$ ($N>P$ or
    rank-deficient $J$).  The parameters after the round are $\\theta_s+\\delta_K$.  For finite
    $K$ no rank cut-off is needed ($0\\le\\sigma g_K(\\sigma^2)\\le\\sigma\\eta K$ stays bounded for
    tiny $\\sigma$).  `steps=None` ($K\\to\\infty$) is
    [`gauss_newton_step`][limitlab.theory.gauss_newton_step], $J^+r$, provided
    $\\eta\\lambda_{\\max}<2$.  Summed loss; for the mean loss $\\frac1{2N}\\lVert\\cdot\\rVert^2$
    pass $\\eta/N$.

    **Arguments:**

    - `jacobian`: $J$, a finite $N\\times P$ array (for $C$ outputs stack the $NC$ rows).
    - `residual`: $r=Y-f_{\\theta_s}(X)$, a finite 1-D array of length $N$.
    - `learning_rate`: $\\eta>0$.
    - `steps`: $K$, an integer $\\ge1$, or `None` for $K\\to\\infty$.
    - `rtol`: only for `steps=None`, the rank cut-off (singular values
      $\\le$ `rtol`$\\,\\sigma_{\\max}$ count as 0);
      default $\\max(N,P)\\,\\varepsilon_{64}$ as in `numpy.linalg.pinv`.

    **Returns:** $\\delta_K$, a float64 array of length $P$.

    **Raises:** `ValueError` naming `jacobian`, `residual`, `learning_rate` (also for
    `steps=None` with $\\eta\\lambda_{\\max}\\ge2$: divergence), `steps` or `rtol`;
    `FloatingPointError` if the iteration overflows ($\\eta\\lambda_{\\max}>2$, large $K$).
    """
    J, r = _check_system(jacobian, residual)
    learning_rate = _check_learning_rate(learning_rate)
    checked = _check_steps(steps, array=False)
    rtol = _check_rtol(rtol, J.shape)
    s, projections, Vt = _svd(J, r)
    if checked is None:
        _check_convergence(float(s[0] ** 2), learning_rate)
        return _pseudo_inverse_apply(s, projections, Vt, rtol)
    gain = s * _filter(s**2, learning_rate, checked)
    return _finite(Vt.T @ (gain * projections), "delta_K", _DIVERGENCE_HINT)


def _pseudo_inverse_apply(s, projections, Vt, rtol: float) -> np.ndarray:
    keep = s > rtol * s[0]
    with np.errstate(divide="ignore"):
        gain = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return _finite(Vt.T @ (gain * projections), "J^+ r")


def gauss_newton_step(jacobian, residual, *, rtol=None) -> np.ndarray:
    """The minimum-norm Gauss–Newton step $J^+r$: the limit $K\\to\\infty$ of one round.

    $$\\delta_\\infty=J^+r
    =\\sum_{\\sigma_i>\\text{rtol}\\,\\sigma_{\\max}}\\sigma_i^{-1}(u_i^\\top r)\\,v_i
    =\\lim_{K\\to\\infty}\\delta_K\\quad(0<\\eta\\lambda_i<2)$$

    (`iterative-linearisation.md` §4 [derived, exact]): the least-squares solution of
    $J\\delta\\approx r$ of minimum norm; for full row rank $J^\\top(JJ^\\top)^{-1}r$, for full
    column rank $(J^\\top J)^{-1}J^\\top r$.  Undamped: the outer iteration
    $\\theta\\leftarrow\\theta+J_\\theta^+(Y-f_\\theta(X))$ is Gauss–Newton.

    **Arguments:**

    - `jacobian`, `residual`: as in [`k_step_update`][limitlab.theory.k_step_update].
    - `rtol`: the rank cut-off relative to $\\sigma_{\\max}$, default
      $\\max(N,P)\\,\\varepsilon_{64}$ (the `numpy.linalg.pinv` default).

    **Returns:** a float64 array of length $P$.

    **Raises:** `ValueError` naming `jacobian`, `residual` or `rtol`.
    """
    J, r = _check_system(jacobian, residual)
    rtol = _check_rtol(rtol, J.shape)
    s, projections, Vt = _svd(J, r)
    return _pseudo_inverse_apply(s, projections, Vt, rtol)


def levenberg_marquardt_step(jacobian, residual, damping) -> np.ndarray:
    """The Levenberg–Marquardt (damped Gauss–Newton) step with damping $\\lambda_d>0$.

    $$\\delta_{\\rm LM}=(J^\\top J+\\lambda_dI)^{-1}J^\\top r=J^\\top(JJ^\\top+\\lambda_dI)^{-1}r
    =\\sum_i\\frac{\\sigma_i}{\\sigma_i^2+\\lambda_d}(u_i^\\top r)\\,v_i$$

    (`iterative-linearisation.md` §4 [literature]; the damping multiplies the identity, not
    $\\mathrm{diag}(J^\\top J)$), i.e. ridge regression on the linearised model.  One round of $K$
    gradient steps is close to $\\lambda_d=1/(\\eta K)$; see
    [`lm_analogy_error`][limitlab.theory.lm_analogy_error].  The limit $\\lambda_d\\to0$ is
    [`gauss_newton_step`][limitlab.theory.gauss_newton_step].

    **Arguments:**

    - `jacobian`, `residual`: as in [`k_step_update`][limitlab.theory.k_step_update].
    - `damping`: $\\lambda_d$, a finite real number $>0$.

    **Returns:** a float64 array of length $P$.

    **Raises:** `ValueError` naming `jacobian`, `residual` or `damping`.
    """
    J, r = _check_system(jacobian, residual)
    damping = _real(damping, "damping", strict=True)
    s, projections, Vt = _svd(J, r)
    return _finite(Vt.T @ (s / (s**2 + damping) * projections), "delta_LM")


# --------------------------------------------------------------------------------------------
# the exact error of the Levenberg–Marquardt analogy


def lm_analogy_error_from_spectrum(eigenvalues, coefficients, learning_rate, steps):
    """The relative error of "one round $\\approx$ LM with damping $1/(\\eta K)$", by spectrum.

    With $JJ^\\top=\\sum_i\\lambda_iu_iu_i^\\top$, $c_i=(u_i^\\top r)^2$ and
    $\\lVert J^\\top v\\rVert^2=v^\\top JJ^\\top v$:

    $$\\frac{\\lVert\\delta_K-\\delta_{\\rm LM}(1/(\\eta K))\\rVert}{\\lVert\\delta_K\\rVert}
    =\\left(\\frac{\\sum_i\\lambda_ic_i
    \\big(g_K(\\lambda_i)-\\frac1{\\lambda_i+1/(\\eta K)}\\big)^2}
    {\\sum_i\\lambda_ic_i\\,g_K(\\lambda_i)^2}\\right)^{1/2}$$

    [derived, exact].  The difference of the filters is evaluated as
    $\\eta\\,(1-(1-x)^K(1+Kx))/(x(1+Kx))$, $x=\\eta\\lambda$, without cancellation, so the error
    keeps its relative accuracy where the two filters agree to many digits.  For a single
    eigenvalue with $\\eta\\lambda K\\ll1$ the error is $\\approx\\eta\\lambda(K+1)/2$ (both
    filters are then $\\approx\\eta K$); the filters differ most at $\\lambda\\sim1/(\\eta K)$.
    `steps=None` gives 0 (both filters are $1/\\lambda$ on $\\lambda>0$; requires
    $\\eta\\lambda_{\\max}<2$).

    **Arguments:**

    - `eigenvalues`: 1-D array of the eigenvalues $\\lambda_i\\ge0$ of $JJ^\\top$ (zeros may be
      left out: they contribute nothing).
    - `coefficients`: 1-D array of $c_i=(u_i^\\top r)^2\\ge0$, same length.
    - `learning_rate`: $\\eta>0$.
    - `steps`: $K$, an integer $\\ge1$, an array of them (any shape: one error per entry, cheap
      for a figure over a grid of $K$), or `None`.

    **Returns:** a float64 array of the shape of `steps` (0-d for a scalar).

    **Raises:** `ValueError` naming `eigenvalues`, `coefficients`, `learning_rate` or `steps`,
    and naming `coefficients` when $\\delta_K=0$ (no residual along a non-zero eigenvalue, or
    $g_K=0$ there) so that the relative error is undefined; `FloatingPointError` on overflow.
    """
    return _analogy_error(eigenvalues, coefficients, learning_rate, steps, "coefficients")


def _analogy_error(eigenvalues, coefficients, learning_rate, steps, what: str) -> np.ndarray:
    eigenvalues = _check_eigenvalues(eigenvalues)
    if eigenvalues.ndim != 1:
        raise ValueError(f"eigenvalues must be a 1-D array, got shape {eigenvalues.shape}")
    coefficients = _float_array(
        coefficients, "coefficients", "an array of finite real numbers >= 0"
    )
    if coefficients.shape != eigenvalues.shape:
        raise ValueError(
            f"coefficients must have the shape of eigenvalues, {eigenvalues.shape}, got shape "
            f"{coefficients.shape}"
        )
    if np.any(coefficients < 0):
        raise ValueError(
            "coefficients must be >= 0 (squared projections (u_i^T r)^2), got the value "
            f"{coefficients[coefficients < 0][0]!r}"
        )
    learning_rate = _check_learning_rate(learning_rate)
    steps = _check_steps(steps, array=True)
    x = learning_rate * eigenvalues
    active = (x > 0) & (coefficients > 0)
    if not np.any(active):
        raise ValueError(
            f"{what}: the relative error is undefined because delta_K = 0: the residual has no "
            "component along an eigenvector of J J^T with a non-zero eigenvalue"
        )
    if steps is None:
        _check_convergence(float(np.max(eigenvalues)), learning_rate)
        return np.zeros(())
    # lambda g_K^2 = eta x (g_K/eta)^2 and lambda (g_K - g_LM)^2 = eta x ((g_K - g_LM)/eta)^2:
    # eta cancels in the ratio, and x/x_max, c/c_max in [0, 1] keep the sums free of
    # overflow and underflow whatever the scale of the eigenvalues and coefficients.
    x = x[active]
    weights = (x / np.max(x)) * (coefficients[active] / np.max(coefficients[active]))
    grid = steps.reshape(-1, 1)
    with np.errstate(over="ignore", invalid="ignore"):
        norm = np.sum(weights * _scaled_filter(x, grid) ** 2, axis=-1)
        differences = _finite(
            _scaled_difference(x, grid), "g_K - 1/(lambda + 1/(eta K))", _DIVERGENCE_HINT
        )
        # the differences can be ~1e-200 where their squares underflow: factor out the largest
        largest = np.max(np.abs(differences), axis=-1)
        scale = np.where(largest > 0, largest, 1.0)
        difference = np.sum(weights * (differences / scale[:, None]) ** 2, axis=-1)
    _finite(norm, "||delta_K||^2", _DIVERGENCE_HINT)
    if np.any(norm == 0):
        raise ValueError(
            f"{what}: the relative error is undefined because delta_K = 0: g_K vanishes on every "
            "eigenvalue that the residual touches (learning_rate * lambda = 2 with K even), for "
            f"K = {grid[norm == 0][0, 0]!r}"
        )
    return (largest * np.sqrt(difference / norm)).reshape(steps.shape)


def lm_analogy_error(jacobian, residual, learning_rate, steps, *, rtol=None):
    """The exact relative error of the Levenberg–Marquardt analogy for a given $J$ and $r$.

    $\\lVert\\delta_K-\\delta_{\\rm LM}(1/(\\eta K))\\rVert/\\lVert\\delta_K\\rVert$ by
    [`lm_analogy_error_from_spectrum`][limitlab.theory.lm_analogy_error_from_spectrum] on
    [`gram_spectrum`][limitlab.theory.gram_spectrum]`(jacobian, residual)`; equal, up to
    round-off, to the direct
    `norm(k_step_update(J, r, eta, K) - levenberg_marquardt_step(J, r, 1/(eta*K)))` over
    `norm(k_step_update(J, r, eta, K))` [derived, exact].  Singular values
    $\\le$ `rtol`$\\,\\sigma_{\\max}$ are round-off and count as 0 (they change the result by
    $O(\\text{rtol}^2)$); a residual whose component in the range of $J$ is at round-off level,
    $\\lVert P_{\\mathrm{range}(J)}r\\rVert\\le\\text{rtol}\\,\\lVert r\\rVert$, makes $\\delta_K$
    round-off and the relative error undefined.

    **Arguments:**

    - `jacobian`, `residual`: as in [`k_step_update`][limitlab.theory.k_step_update].
    - `learning_rate`: $\\eta>0$.
    - `steps`: $K$, an integer $\\ge1$, an array of them, or `None` (error 0).
    - `rtol`: the rank cut-off relative to $\\sigma_{\\max}$, default
      $\\max(N,P)\\,\\varepsilon_{64}$.

    **Returns:** a float64 array of the shape of `steps`.

    **Raises:** as
    [`lm_analogy_error_from_spectrum`][limitlab.theory.lm_analogy_error_from_spectrum], with
    `residual` named when $\\delta_K$ vanishes (up to round-off).
    """
    J, r = _check_system(jacobian, residual)
    rtol = _check_rtol(rtol, J.shape)
    s, projections, _ = _svd(J, r)
    keep = s > rtol * s[0]
    in_range = float(np.linalg.norm(projections[keep]))
    if not in_range > rtol * float(np.linalg.norm(r)):
        raise ValueError(
            "residual: the relative error is undefined because delta_K = 0 up to round-off: the "
            f"residual's component in the range of jacobian, {in_range!r}, is <= rtol * ||r|| = "
            f"{rtol * float(np.linalg.norm(r))!r}"
        )
    eigenvalues = np.where(keep, s**2, 0.0)
    return _analogy_error(eigenvalues, projections**2, learning_rate, steps, "residual")


# --------------------------------------------------------------------------------------------
# symbolic forms


def _symbolic(value, name: str) -> sp.Expr:
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError):
        raise ValueError(f"{name} must be a sympy expression or a number, got {value!r}") from None


def k_step_filter_expression(
    eigenvalue=EIGENVALUE, learning_rate=LEARNING_RATE, steps=STEPS
) -> sp.Expr:
    """[`k_step_filter`][limitlab.theory.k_step_filter] as a sympy expression.

    $$g_K(\\lambda)=\\frac{1-(1-\\eta\\lambda)^K}{\\lambda}$$ [derived, exact]; at $\\lambda=0$
    it is $0/0$ with limit $\\eta K$.

    **Arguments:** sympy expressions or numbers (an integer `steps` expands the power):
    `eigenvalue` (default `Symbol("lam", positive=True)`), `learning_rate` (default
    `Symbol("eta", positive=True)`), `steps` (default `Symbol("K", positive=True, integer=True)`).

    **Returns:** a sympy expression.

    **Raises:** `ValueError` naming an argument that sympy cannot read.

    **Example:**

    ```pycon
    >>> k_step_filter_expression(steps=2)
    (1 - (-eta*lam + 1)**2)/lam
    ```
    """
    lam = _symbolic(eigenvalue, "eigenvalue")
    eta = _symbolic(learning_rate, "learning_rate")
    k = _symbolic(steps, "steps")
    return (1 - (1 - eta * lam) ** k) / lam


def effective_damping_expression(
    eigenvalue=EIGENVALUE, learning_rate=LEARNING_RATE, steps=STEPS
) -> sp.Expr:
    """[`effective_damping`][limitlab.theory.effective_damping] as a sympy expression.

    $$\\lambda_d(\\lambda)=\\frac{\\lambda(1-\\eta\\lambda)^K}{1-(1-\\eta\\lambda)^K}$$
    [derived, exact], so that $g_K=1/(\\lambda+\\lambda_d)$ identically; its limit at
    $\\lambda=0$ is $1/(\\eta K)$, its expansion
    $1/(\\eta K)-\\frac{K+1}{2K}\\lambda+O(\\lambda^2)$.

    **Arguments, Returns, Raises:** as
    [`k_step_filter_expression`][limitlab.theory.k_step_filter_expression].
    """
    lam = _symbolic(eigenvalue, "eigenvalue")
    eta = _symbolic(learning_rate, "learning_rate")
    k = _symbolic(steps, "steps")
    power = (1 - eta * lam) ** k
    return lam * power / (1 - power)


def lm_analogy_error_expression(
    eigenvalues, coefficients=None, *, learning_rate=LEARNING_RATE, steps=STEPS
) -> sp.Expr:
    """The exact error of the Levenberg–Marquardt analogy as a sympy expression.

    [`lm_analogy_error_from_spectrum`][limitlab.theory.lm_analogy_error_from_spectrum] in closed
    form:

    $$\\left(\\frac{\\sum_i\\lambda_ic_i
    \\big(g_K(\\lambda_i)-\\frac1{\\lambda_i+1/(\\eta K)}\\big)^2}
    {\\sum_i\\lambda_ic_i\\,g_K(\\lambda_i)^2}\\right)^{1/2},\\qquad
    g_K(\\lambda)=\\frac{1-(1-\\eta\\lambda)^K}{\\lambda}$$

    [derived, exact]: the exact error of the Levenberg–Marquardt analogy as a function of the
    spectrum of $JJ^\\top$, symbolic in the eigenvalues and the coefficients
    $c_i=(u_i^\\top r)^2$, or exact for given numbers.  Terms with an eigenvalue that is exactly
    zero are dropped (they carry the factor $\\lambda_i=0$).

    **Arguments:**

    - `eigenvalues`: an integer $n\\ge1$ for the symbols `lam_1`, ..., `lam_n`
      (`positive=True`), or a sequence of sympy expressions / numbers.
    - `coefficients`: `None` for the symbols `c_1`, ..., `c_n` (`nonnegative=True`), or a
      sequence of the same length.
    - `learning_rate`, `steps`: as in
      [`k_step_filter_expression`][limitlab.theory.k_step_filter_expression].

    **Returns:** a sympy expression.

    **Raises:** `ValueError` naming `eigenvalues`, `coefficients`, `learning_rate` or `steps`.
    """
    if isinstance(eigenvalues, numbers.Integral) and not isinstance(eigenvalues, bool):
        if eigenvalues < 1:
            raise ValueError(
                "eigenvalues must be an integer n >= 1 or a sequence of expressions, got "
                f"{eigenvalues!r}"
            )
        n = int(eigenvalues)
        lams = sp.symbols(f"lam_1:{n + 1}", positive=True)
    elif isinstance(eigenvalues, str | bool) or not hasattr(eigenvalues, "__len__"):
        raise ValueError(
            "eigenvalues must be an integer n >= 1 or a sequence of expressions, got "
            f"{eigenvalues!r}"
        )
    else:
        lams = tuple(_symbolic(value, "eigenvalues") for value in eigenvalues)
        n = len(lams)
        if n == 0:
            raise ValueError("eigenvalues must not be empty, got an empty sequence")
    if coefficients is None:
        cs = sp.symbols(f"c_1:{n + 1}", nonnegative=True)
    else:
        if isinstance(coefficients, str) or not hasattr(coefficients, "__len__"):
            raise ValueError(
                f"coefficients must be None or a sequence of length {n}, got {coefficients!r}"
            )
        cs = tuple(_symbolic(value, "coefficients") for value in coefficients)
        if len(cs) != n:
            raise ValueError(
                f"coefficients must have the length of eigenvalues, {n}, got length {len(cs)}"
            )
    eta = _symbolic(learning_rate, "learning_rate")
    k = _symbolic(steps, "steps")
    damping = 1 / (eta * k)
    numerator, denominator = [], []
    for lam, c in zip(lams, cs, strict=True):
        if lam.is_zero:
            continue
        gain = k_step_filter_expression(lam, eta, k)
        numerator.append(lam * c * (gain - 1 / (lam + damping)) ** 2)
        denominator.append(lam * c * gain**2)
    if not denominator:
        raise ValueError("eigenvalues: all are zero, so delta_K = 0 and the error is undefined")
    return sp.sqrt(sp.Add(*numerator) / sp.Add(*denominator))


# --------------------------------------------------------------------------------------------
# the kernel-regression limit


def kernel_regression_prediction(
    ntk_test_train, ntk_train_train, f0_test, f0_train, y_train
) -> np.ndarray:
    """Predictions of the linearised model trained to convergence: NTK kernel regression.

    $$f_\\infty(x)=f_0(x)+\\Theta(x,X)\\,\\Theta(X,X)^{-1}\\big(Y-f_0(X)\\big)$$

    (`iterative-linearisation.md` §3 and §6 item 3 [derived, exact]): full-batch GD on the MSE
    with the features frozen at $\\theta_0$ ($K=\\infty$, step small enough to converge) reaches
    the minimum-norm interpolant $\\theta_0+J^\\top(JJ^\\top)^{-1}(Y-f_0(X))$ with
    $\\Theta=JJ^\\top$, independently of the loss normalisation and of $\\eta$.  With $C$ outputs
    the same kernel acts on every output column (a block-diagonal NTK, $\\Theta\\otimes I_C$).
    Requires $\\Theta(X,X)$ invertible (generically $P\\ge NC$).  Solved by an eigendecomposition
    of the symmetrised $\\Theta(X,X)$, after checking that its smallest eigenvalue exceeds
    $N\\varepsilon_{64}$ times its largest.

    **Arguments:**

    - `ntk_test_train`: $\\Theta(x_{\\rm test},X)$, an $M\\times N$ array.
    - `ntk_train_train`: $\\Theta(X,X)$, a symmetric positive definite $N\\times N$ array.
    - `f0_test`: $f_0$ at the test inputs, shape $(M,)$ or $(M,C)$ like `y_train`.
    - `f0_train`: $f_0(X)$, the shape of `y_train`.
    - `y_train`: $Y$, shape $(N,)$ or $(N,C)$.

    **Returns:** the predictions, shape $(M,)$ or $(M,C)$.

    **Raises:** `ValueError` naming the argument for non-finite values, wrong shapes, or an
    `ntk_train_train` that is not symmetric or not (numerically) positive definite.
    """
    theta = _float_array(ntk_train_train, "ntk_train_train", "a finite symmetric N x N matrix")
    if theta.ndim != 2 or theta.shape[0] != theta.shape[1] or theta.shape[0] == 0:
        raise ValueError(
            f"ntk_train_train must be a square N x N array with N >= 1, got shape {theta.shape}"
        )
    n = theta.shape[0]
    y = _float_array(y_train, "y_train", "a finite array of shape (N,) or (N, C)")
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(
            f"y_train must have shape ({n},) or ({n}, C) (N from ntk_train_train), got shape "
            f"{y.shape}"
        )
    f0_train = _float_array(f0_train, "f0_train", "a finite array of the shape of y_train")
    if f0_train.shape != y.shape:
        raise ValueError(
            f"f0_train must have the shape of y_train, {y.shape}, got shape {f0_train.shape}"
        )
    cross = _float_array(ntk_test_train, "ntk_test_train", "a finite M x N matrix")
    if cross.ndim != 2 or cross.shape[1] != n:
        raise ValueError(f"ntk_test_train must have shape (M, {n}), got shape {cross.shape}")
    f0_test = _float_array(f0_test, "f0_test", "a finite array of shape (M,) or (M, C)")
    expected = (cross.shape[0], *y.shape[1:])
    if f0_test.shape != expected:
        raise ValueError(f"f0_test must have shape {expected}, got shape {f0_test.shape}")
    scale = float(np.max(np.abs(theta)))
    asymmetry = float(np.max(np.abs(theta - theta.T)))
    if asymmetry > 1e-10 * scale:
        raise ValueError(
            "ntk_train_train must be symmetric (up to 1e-10 relative), got "
            f"max|Theta - Theta^T| = {asymmetry!r} with max|Theta| = {scale!r}"
        )
    w, V = np.linalg.eigh((theta + theta.T) / 2)
    if not w[0] > n * np.finfo(np.float64).eps * w[-1]:
        raise ValueError(
            "ntk_train_train must be positive definite (invertible; generically P >= N C), got "
            f"smallest eigenvalue {float(w[0])!r} and largest {float(w[-1])!r} (required: "
            "smallest > N * eps * largest)"
        )
    coefficients = V @ ((V.T @ (y - f0_train)) / (w if y.ndim == 1 else w[:, None]))
    return _finite(f0_test + cross @ coefficients, "the kernel-regression prediction")
