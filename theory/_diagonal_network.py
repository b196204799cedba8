"""Implicit biases of noisy gradient descent on a diagonal linear network.

Model (`manifold-drift.md` §9 toy 3 [derived]): $f(x)=\\sum_iu_iv_ix_i$, $\\beta=u\\odot v$,
$L(u,v)=\\frac1{2n}\\lVert X\\beta-y\\rVert^2$, $X\\in\\mathbb R^{n\\times d}$ with $n<d$, so the zero
set $\\Gamma=\\{X(u\\odot v)=y\\}$ is a manifold of dimension $2d-n$ (where no $u_i=v_i=0$).  With
$C_i=\\lVert X_{:,i}\\rVert^2$ the squared column norms:

- **DropConnect** (inverted masks on $u$ and $v$): $\\mathrm{Reg}=\\frac1n\\sum_iC_i\\beta_i^2$
  exactly, so the fast-scale flow $-P_T\\nabla\\mathrm{Reg}$ ends at the $C$-weighted
  minimum-$\\ell_2$ interpolant
  [`weighted_min_norm_interpolant`][limitlab.theory.weighted_min_norm_interpolant];
- **label noise**: on $\\Gamma$, $\\mathrm{tr}\\,\\nabla^2L=\\frac1n\\sum_iC_i(u_i^2+v_i^2)\\ge
  \\frac2n\\sum_iC_i|\\beta_i|$ (equality iff $|u_i|=|v_i|$), so the slow-scale flow
  $-\\frac1{4n}P_T\\nabla\\mathrm{tr}\\nabla^2L$ ends, when it reaches the global minimum of the
  sharpness on $\\Gamma$, at the $C$-weighted minimum-$\\ell_1$ interpolant
  [`weighted_l1_interpolant`][limitlab.theory.weighted_l1_interpolant] (the sparse bias of LWA
  and of Pillaud-Vivien et al. [literature]).

Both end points are exact optimisation problems solved here in float64 (a linear solve and a
linear programme); whether the flows reach them is what the claims
`diagonal-network-end-points` and `diagonal-network-approach` check.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

__all__ = ["weighted_l1_interpolant", "weighted_min_norm_interpolant"]


def _problem(X, y, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("X and y must be real arrays") from None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[0] >= X.shape[1]:
        raise ValueError(f"X must have shape (n, d) with 1 <= n < d, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got shape {y.shape}")
    for name, a in (("X", X), ("y", y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite")
    if weights is None:
        weights = np.sum(X * X, axis=0)
    else:
        try:
            weights = np.asarray(weights, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("weights must be a real array") from None
    if weights.shape != (X.shape[1],) or not np.all(weights > 0):  # nan fails too
        raise ValueError(
            f"weights must be {X.shape[1]} positive numbers, got {np.asarray(weights)!r}"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("weights must be finite")
    if np.linalg.matrix_rank(X) < X.shape[0]:
        raise ValueError(f"X must have full row rank {X.shape[0]}, got rank "
                         f"{np.linalg.matrix_rank(X)}")
    return X, y, weights


def weighted_min_norm_interpolant(
    X, y, weights=None
) -> np.ndarray:
    """$\\beta^*=\\arg\\min\\{\\sum_iC_i\\beta_i^2: X\\beta=y\\}
    =C^{-1}X^\\top(XC^{-1}X^\\top)^{-1}y$ [derived, §9 toy 3]: the end point of the fast-scale
    DropConnect flow on the diagonal linear network.

    **Arguments:**

    - `X`: the inputs, shape `(n, d)` with $n<d$ and full row rank.
    - `y`: the targets, shape `(n,)`.
    - `weights`: $C_i>0$, shape `(d,)`; default the squared column norms $\\lVert X_{:,i}\\rVert^2$.

    **Returns:** $\\beta^*$, shape `(d,)`, float64.

    **Raises:** `ValueError` for shapes, non-finite values, non-positive weights or a rank-deficient
    `X`.

    **Example:**

    ```pycon
    >>> weighted_min_norm_interpolant([[1.0, 1.0]], [2.0], weights=[1.0, 3.0]).round(6)
    array([1.5, 0.5])
    ```
    """
    X, y, c = _problem(X, y, weights)
    scaled = X / c
    beta = scaled.T @ np.linalg.solve(scaled @ X.T, y)
    if not np.all(np.isfinite(beta)):
        raise FloatingPointError("the weighted minimum-norm interpolant is not finite")
    return beta


def weighted_l1_interpolant(X, y, weights=None) -> np.ndarray:
    """$\\beta^*=\\arg\\min\\{\\sum_iC_i|\\beta_i|: X\\beta=y\\}$ [derived, §9 toy 3]: the end point
    of the slow-scale label-noise flow on the diagonal linear network (when it reaches the global
    minimum of the sharpness on $\\Gamma$).

    Solved as the linear programme $\\min\\sum_iC_i(\\beta^+_i+\\beta^-_i)$ over
    $\\beta^\\pm\\ge0$, $X(\\beta^+-\\beta^-)=y$ (scipy's HiGHS), whose optimum is unique for
    data in general position; the result is then polished by solving $X_S\\beta_S=y$ on its
    support $S$ (at most $n$ coordinates at a vertex), so that it is exact to round-off.

    **Arguments:** as for
    [`weighted_min_norm_interpolant`][limitlab.theory.weighted_min_norm_interpolant].

    **Returns:** $\\beta^*$, shape `(d,)`, float64, with exact zeros off its support.

    **Raises:** `ValueError` as there; `RuntimeError` if the linear programme fails.

    **Example:**

    ```pycon
    >>> weighted_l1_interpolant([[1.0, 2.0, 0.5]], [2.0]).round(6)
    array([0., 1., 0.])
    ```
    """
    X, y, c = _problem(X, y, weights)
    n, d = X.shape
    result = optimize.linprog(np.concatenate([c, c]), A_eq=np.hstack([X, -X]), b_eq=y,
                              bounds=[(0, None)] * (2 * d), method="highs")
    if result.status != 0:
        raise RuntimeError(f"the weighted-l1 linear programme failed: {result.message}")
    beta = result.x[:d] - result.x[d:]
    support = np.flatnonzero(np.abs(beta) > 1e-9 * max(1.0, np.abs(beta).max()))
    polished = np.zeros(d)
    if support.size:
        solution, *_ = np.linalg.lstsq(X[:, support], y, rcond=None)
        polished[support] = solution
    if np.linalg.norm(X @ polished - y) <= np.linalg.norm(X @ beta - y) + 1e-12 * (
        1 + np.linalg.norm(y)
    ):
        beta = polished
    if not np.all(np.isfinite(beta)):
        raise FloatingPointError("the weighted-l1 interpolant is not finite")
    return beta
