"""The limiting flow of noisy gradient descent on the manifold of minimisers, by automatic
differentiation.

The same formulas as the symbolic side (manifold-drift.md §3-§8 [derived]), evaluated with JAX
derivatives at a point $w$ of $\\Gamma=\\{L=0\\}$ (for least squares $\\{r=0\\}$), for any
[`Objective`][limitlab.numerics.Objective] and [`NoiseModel`][limitlab.numerics.NoiseModel]:

* $H=\\nabla^2L(w)$ (`jax.hessian`), $k=\\mathrm{codim}\\,\\Gamma=\\mathrm{rank}\\,H$ on $\\Gamma$;
  $P_N$ the projection onto the top-$k$ eigenvectors of $H$, or for least squares $P_N=J^+J$ from
  the residual Jacobian (no Hessian, §8); $P_T=I-P_N$ (projection onto $T_w\\Gamma=\\ker H$);
  $H^+$ the rank-$k$ pseudo-inverse.
* $\\partial^2(\\nabla L)(w)[M]_k=\\sum_{ij}\\partial_{ijk}L\\,M_{ij}$: the gradient of
  $x\\mapsto\\langle M,\\nabla^2L(x)\\rangle$ with $M$ fixed (§8).
* $\\mathcal L_H^{-1}(S)$: the inverse of $X\\mapsto HX+XH$ on pairs of eigendirections with
  $\\lambda_i+\\lambda_j>0$ (§7 eigen-formula).
* $\\partial^2\\Phi(w)[\\Sigma]=-H^+\\partial^2(\\nabla L)[P_T\\Sigma P_T]-P_T\\,\\partial^2(\\nabla L)
  [\\mathcal L_H^{-1}(\\Sigma-P_T\\Sigma P_T)]$ (§7, boxed) for the flow-limit map
  $\\Phi(x)=\\lim_{t\\to\\infty}\\varphi(x,t)$, $\\dot\\varphi=-\\nabla L(\\varphi)$; $\\partial\\Phi=P_T$.
* Regulariser (§2): $\\mathrm{Reg}(w)=\\tfrac12\\mathrm{tr}\\big(C\\,\\nabla^2_\\eta\\hat L(w,0)\\big)$,
  exact for every noise kind by AD in the noise variable.
* Noise covariance (§4): $\\Sigma=ACA^\\top$, $A=\\partial_\\eta\\nabla_w\\hat L(w,0)$
  ($\\sigma^2$ factored out: the per-step fluctuation is $-\\alpha\\sigma A\\xi$).
* Fast scale, $\\tau=k\\alpha\\sigma^2$: $\\frac{dW}{d\\tau}=-P_T\\nabla\\mathrm{Reg}(W)$ (§4).
* Slow scale, $\\tau=k\\alpha^2\\sigma^2$:
  $dW=\\tfrac12\\partial^2\\Phi(W)[\\Sigma(W)]\\,d\\tau+P_T\\Sigma^{1/2}(W)\\,dB_\\tau$ (§4, §7),
  deterministic when the noise is normal to $\\Gamma$ (label noise: $\\Sigma=\\nabla^2L/n$ on
  $\\Gamma$, drift $-\\frac1{4n}P_T\\nabla\\mathrm{tr}\\nabla^2L$; minibatches and sample weights
  under interpolation: $\\Sigma=0$).

$\\sigma^2$ per kind is that of [`NoiseModel.sigma_squared`][limitlab.numerics.NoiseModel]
(label noise $\\mathrm{Var}\\,\\varepsilon$; DropConnect $p/(1-p)$; minibatches $(n-B)/B$ with
$C=(nI-\\mathbb 1\\mathbb 1^\\top)/(n-1)$).  None of the drifts depend on $\\sigma$, $p$ or $B$,
so the functions here take the noise kind by name or a `NoiseModel`.  The derivative formulas
are exact on $\\Gamma$; the limit theorems they feed are asymptotic ($\\alpha\\to0$, and
$\\sigma\\to0$ on the fast scale), with $O(\\alpha)$ and $O(\\sigma^2)$ deviations (§8).

Cost: dense $D\\times D$ Hessians and eigendecompositions, meant for $D$ up to a few hundred.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, ArrayLike, Float, Key
from ._noisy_gd import (
    _NORMAL_NOISE_KINDS,
    NOISE_KINDS,
    LeastSquares,
    NoiseModel,
    Objective,
    _check_key,
    _check_noise_for_problem,
    _check_problem,
    _positive_finite,
)

__all__ = [
    "diffusion",
    "fast_drift",
    "flow_limit",
    "flow_map_second_derivative",
    "limiting_flow",
    "loss_hessian",
    "lyapunov_inverse",
    "noise_covariance",
    "regulariser",
    "retract",
    "slow_drift",
    "tangent_projector",
    "third_derivative_action",
]

#: Relative threshold below which a singular value of $J$ (eigenvalue of $H$) counts as zero
#: when the codimension is not given.
RANK_RTOL = 1e-8
_RETRACT_ITERATIONS = 6


# --------------------------------------------------------------------------------------------
# arguments


def _point(name: str, w, dim: int | None = None) -> Array:
    try:
        w = jnp.asarray(w, jnp.result_type(float))
    except TypeError:
        raise ValueError(f"{name} must be a real vector, got {type(w).__name__}") from None
    if w.ndim != 1 or w.shape[0] < 1 or (dim is not None and w.shape[0] != dim):
        wanted = "(D,)" if dim is None else f"(D,) = ({dim},)"
        raise ValueError(f"{name} must have shape {wanted}, got shape {w.shape}")
    return w


def _noise_structure(noise) -> NoiseModel:
    """The kind of `noise` (a name or a NoiseModel) with placeholder parameters: the drifts do
    not depend on sigma, p or the batch size."""
    kind = noise.kind if isinstance(noise, NoiseModel) else noise
    if not isinstance(kind, str) or kind not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS} or a NoiseModel, got {noise!r}")
    if isinstance(noise, NoiseModel):
        return noise._structure()
    return NoiseModel(
        kind,
        sigma=1.0 if kind in ("label", "perturbed", "sample_weights", "additive") else None,
        p=0.5 if kind == "dropconnect" else None,
        batch=1 if kind == "minibatch" else None,
    )


def _setup(problem, w, noise=None, name="w"):
    w = _point(name, w)
    n = _check_problem(problem, w.shape[0], w.dtype)
    model = None
    if noise is not None:
        model = _noise_structure(noise)
        _check_noise_for_problem(model, problem, n)
    return w, n, model


def _check_codim(codim, dim: int) -> int | None:
    if codim is None:
        return None
    if isinstance(codim, bool) or not isinstance(codim, numbers.Integral) or not 0 <= codim <= dim:
        raise ValueError(f"codim must be an integer in [0, D] = [0, {dim}], got {codim!r}")
    return int(codim)


def _concrete(x) -> np.ndarray:
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        raise ValueError(
            "codim=None needs a concrete point to read the rank from; pass codim explicitly "
            "inside jit/vmap"
        ) from None


def _residual_jacobian(problem: LeastSquares, w):
    return jax.jacfwd(problem.residual_vector)(w)


def _hessian(problem, w):
    return jax.hessian(problem.loss)(w)


_jit_residual_jacobian = jax.jit(_residual_jacobian, static_argnums=0)
_jit_hessian = jax.jit(_hessian, static_argnums=0)


def _rank(values: np.ndarray, rtol: float) -> int:
    values = np.abs(values)
    top = values.max(initial=0.0)
    return int(np.sum(values > rtol * top)) if top > 0 else 0


def _codimension(problem, w, codim, rtol=RANK_RTOL) -> int:
    """`codim`, or the rank of J (least squares) or of H at the concrete point `w`."""
    codim = _check_codim(codim, w.shape[0])
    if codim is not None:
        return codim
    if isinstance(problem, LeastSquares):
        s = np.linalg.svd(_concrete(_jit_residual_jacobian(problem, w)), compute_uv=False)
        return _rank(s, rtol)
    return _rank(np.linalg.eigvalsh(_concrete(_jit_hessian(problem, w))), rtol)


# --------------------------------------------------------------------------------------------
# building blocks (traceable; `codim` static)


def _hessian_basis(problem, w, codim):
    """Eigenpairs of H = hessian(L)(w), ascending, and the mask of the top-`codim` (normal)."""
    lam, vec = jnp.linalg.eigh(jax.hessian(problem.loss)(w))
    normal = jnp.arange(w.shape[0]) >= w.shape[0] - codim
    return lam, vec, normal


def _normal_basis(problem, w, codim):
    """An orthonormal basis (D, codim) of the normal space: right singular vectors of J for
    least squares, top eigenvectors of H otherwise."""
    if isinstance(problem, LeastSquares):
        _, _, vt = jnp.linalg.svd(_residual_jacobian(problem, w), full_matrices=False)
        return vt[:codim].T
    _, vec, _ = _hessian_basis(problem, w, codim)
    return vec[:, w.shape[0] - codim :]


def _tangent_projector(problem, w, codim):
    basis = _normal_basis(problem, w, codim)
    return jnp.eye(w.shape[0], dtype=w.dtype) - basis @ basis.T


def _third(problem, w, m):
    m = 0.5 * (m + m.T)
    return jax.grad(lambda x: jnp.vdot(m, jax.hessian(problem.loss)(x)))(w)


def _lyapunov_inverse(lam, vec, normal, s):
    s_eig = vec.T @ s @ vec
    keep = normal[:, None] | normal[None, :]
    lam = jnp.where(normal, lam, 0.0)
    denom = jnp.where(keep, lam[:, None] + lam[None, :], 1.0)
    return vec @ jnp.where(keep, s_eig / denom, 0.0) @ vec.T


def _second_derivative(problem, w, sigma, codim):
    lam, vec, normal = _hessian_basis(problem, w, codim)
    vn = jnp.where(normal[None, :], vec, 0.0)
    p_t = jnp.eye(w.shape[0], dtype=w.dtype) - vn @ vn.T
    inv = jnp.where(normal, 1.0 / jnp.where(normal, lam, 1.0), 0.0)
    h_plus = (vec * inv) @ vec.T
    sigma = 0.5 * (sigma + sigma.T)
    s_par = p_t @ sigma @ p_t
    rest = _lyapunov_inverse(lam, vec, normal, sigma - s_par)
    # Both contractions d2(grad L)[.] from one Hessian and one reverse pass.
    both = jnp.stack([s_par, 0.5 * (rest + rest.T)])
    third = jax.jacrev(lambda x: jnp.einsum("kij,ij->k", both, jax.hessian(problem.loss)(x)))(w)
    return -h_plus @ third[0] - p_t @ third[1]


def _noise_arrays(noise: NoiseModel, dim, n, dtype):
    m = noise.noise_dim(dim, n)
    return jnp.zeros((m,), dtype), jnp.asarray(noise.covariance(dim, n), dtype)


def _regulariser(problem, noise, n, w):
    eta0, c = _noise_arrays(noise, w.shape[0], n, w.dtype)
    if eta0.shape[0] == 0:
        return jnp.zeros((), w.dtype)
    hess = jax.hessian(lambda eta: noise.noisy_loss(problem, w, eta))(eta0)
    return 0.5 * jnp.vdot(c, hess)


def _noise_covariance(problem, noise, n, w):
    eta0, c = _noise_arrays(noise, w.shape[0], n, w.dtype)
    if eta0.shape[0] == 0:
        return jnp.zeros((w.shape[0], w.shape[0]), w.dtype)
    a = jax.jacfwd(lambda eta: jax.grad(noise.noisy_loss, argnums=1)(problem, w, eta))(eta0)
    return a @ c @ a.T


def _fast_drift(problem, noise, n, codim, w):
    grad = jax.grad(lambda x: _regulariser(problem, noise, n, x))(w)
    return -_tangent_projector(problem, w, codim) @ grad


def _slow_drift(problem, noise, n, codim, w):
    return 0.5 * _second_derivative(problem, w, _noise_covariance(problem, noise, n, w), codim)


def _sqrtm_psd(s):
    lam, vec = jnp.linalg.eigh(0.5 * (s + s.T))
    return (vec * jnp.sqrt(jnp.clip(lam, 0.0))) @ vec.T


def _diffusion(problem, noise, n, codim, w):
    return _tangent_projector(problem, w, codim) @ _sqrtm_psd(
        _noise_covariance(problem, noise, n, w)
    )


def _retract(problem, codim, iterations, w):
    """Newton projection onto Gamma: w <- w - J_k^+ r(w) (Gauss-Newton, least squares) or
    w <- w - H_k^+ grad L(w) (top-k eigenpairs of H), `iterations` times."""
    if codim == 0:
        return w

    def gauss_newton(_, w):
        u, s, vt = jnp.linalg.svd(_residual_jacobian(problem, w), full_matrices=False)
        r = problem.residual_vector(w)
        return w - vt[:codim].T @ ((u[:, :codim].T @ r) / s[:codim])

    def newton(_, w):
        lam, vec = jnp.linalg.eigh(jax.hessian(problem.loss)(w))
        vn, ln = vec[:, w.shape[0] - codim :], lam[w.shape[0] - codim :]
        return w - vn @ ((vn.T @ jax.grad(problem.loss)(w)) / ln)

    body = gauss_newton if isinstance(problem, LeastSquares) else newton
    return jax.lax.fori_loop(0, iterations, body, w)


# Compiled once per (problem, noise kind, n, codim); the public functions below call these.
_jit_tangent_projector = jax.jit(_tangent_projector, static_argnums=(0, 2))
_jit_second_derivative = jax.jit(_second_derivative, static_argnums=(0, 3))
_jit_regulariser = jax.jit(_regulariser, static_argnums=(0, 1, 2))
_jit_noise_covariance = jax.jit(_noise_covariance, static_argnums=(0, 1, 2))
_jit_fast_drift = jax.jit(_fast_drift, static_argnums=(0, 1, 2, 3))
_jit_slow_drift = jax.jit(_slow_drift, static_argnums=(0, 1, 2, 3))
_jit_diffusion = jax.jit(_diffusion, static_argnums=(0, 1, 2, 3))
_jit_retract = jax.jit(_retract, static_argnums=(0, 1, 2))
_jit_third = jax.jit(_third, static_argnums=(0,))


# --------------------------------------------------------------------------------------------
# public pointwise functions


def loss_hessian(problem: Objective, w: Float[ArrayLike, " D"]) -> Float[Array, "D D"]:
    """$H=\\nabla^2L(w)$ by `jax.hessian` ($L$ of the problem, $\\frac1{2n}\\sum_jr_j^2$ for
    least squares)."""
    w, _, _ = _setup(problem, w)
    return _jit_hessian(problem, w)


def tangent_projector(
    problem: Objective, w: Float[ArrayLike, " D"], *, codim: int | None = None
) -> Float[Array, "D D"]:
    """$P_T=I-P_N$, the orthogonal projection onto $T_w\\Gamma=\\ker\\nabla^2L(w)$, at $w\\in\\Gamma$.

    $P_N=V_kV_k^\\top$ with $V_k$ the top-$k$ right singular vectors of the residual Jacobian
    $J$ for [`LeastSquares`][limitlab.numerics.LeastSquares] ($P_N=J^+J$, no Hessian: §8), or the
    top-$k$ eigenvectors of $H$ for a [`Loss`][limitlab.numerics.Loss].  `codim` $=k$; default
    the numerical rank of $J$ (or $H$) at `w` (singular values or eigenvalues above $10^{-8}$
    times the largest; `w` must then be concrete).
    Exact on $\\Gamma$; off $\\Gamma$ a smooth extension.
    """
    w, _, _ = _setup(problem, w)
    return _jit_tangent_projector(problem, w, _codimension(problem, w, codim))


def third_derivative_action(
    problem: Objective, w: Float[ArrayLike, " D"], m: Float[ArrayLike, "D D"]
) -> Float[Array, " D"]:
    """$\\partial^2(\\nabla L)(w)[M]_k=\\sum_{ij}\\partial_i\\partial_j\\partial_kL(w)\\,M_{ij}$, the
    gradient of $x\\mapsto\\langle M,\\nabla^2L(x)\\rangle$ at $w$ (§7 notation, §8 recipe).  Only
    the symmetric part of $M$ matters.  Exact (AD)."""
    w, _, _ = _setup(problem, w)
    m = jnp.asarray(m, w.dtype)
    if m.shape != (w.shape[0], w.shape[0]):
        raise ValueError(f"m must have shape (D, D) = ({w.shape[0]}, {w.shape[0]}), got {m.shape}")
    return _jit_third(problem, w, m)


def lyapunov_inverse(
    h: Float[ArrayLike, "D D"], s: Float[ArrayLike, "D D"], *, codim: int | None = None
) -> Float[Array, "D D"]:
    """$\\mathcal L_H^{-1}(S)$, the solution $X$ of $HX+XH=S$ on the pairs of eigendirections of
    the symmetric PSD $H$ with $\\lambda_i+\\lambda_j>0$ (§7 eigen-formula):
    $\\sum_{\\lambda_i+\\lambda_j>0}\\frac{v_i^\\top Sv_j}{\\lambda_i+\\lambda_j}v_iv_j^\\top$.

    `codim`: the number of positive eigenvalues (the rank of $H$); default the numerical rank.
    Exact.  $\\mathcal L_H^{-1}(H)=\\tfrac12P_N$ and $\\mathcal L_H^{-1}(P_N)=\\tfrac12H^+$.
    """
    dtype = jnp.result_type(float)
    h, s = jnp.asarray(h, dtype), jnp.asarray(s, dtype)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or s.shape != h.shape:
        raise ValueError(f"h and s must be square of the same shape, got {h.shape} and {s.shape}")
    dim = h.shape[0]
    lam, vec = jnp.linalg.eigh(0.5 * (h + h.T))
    codim = _check_codim(codim, dim)
    if codim is None:
        codim = _rank(_concrete(lam), RANK_RTOL)
    normal = jnp.arange(dim) >= dim - codim
    return _lyapunov_inverse(lam, vec, normal, s)


def flow_map_second_derivative(
    problem: Objective,
    w: Float[ArrayLike, " D"],
    sigma: Float[ArrayLike, "D D"],
    *,
    codim: int | None = None,
) -> Float[Array, " D"]:
    """$\\partial^2\\Phi(w)[\\Sigma]=\\sum_{ij}\\partial_i\\partial_j\\Phi(w)\\Sigma_{ij}$ at $w\\in\\Gamma$
    by the boxed formula of §7 [derived, checked numerically]:

    $$\\partial^2\\Phi[\\Sigma]=-H^+\\,\\partial^2(\\nabla L)[P_T\\Sigma P_T]-P_T\\,\\partial^2(\\nabla L)
    \\big[\\mathcal L_H^{-1}(\\Sigma-P_T\\Sigma P_T)\\big],$$

    $H$, $P_T$, $H^+$ from the eigendecomposition of $\\nabla^2L(w)$ truncated to its top `codim`
    eigenpairs.  `sigma` is symmetrised.  Exact on $\\Gamma$ (AD), for the gradient-flow
    limit map $\\Phi$ of [`flow_limit`][limitlab.numerics.flow_limit].
    """
    w, _, _ = _setup(problem, w)
    sigma = jnp.asarray(sigma, w.dtype)
    if sigma.shape != (w.shape[0], w.shape[0]):
        raise ValueError(
            f"sigma must have shape (D, D) = ({w.shape[0]}, {w.shape[0]}), got {sigma.shape}"
        )
    return _jit_second_derivative(problem, w, sigma, _codimension(problem, w, codim))


def regulariser(
    problem: Objective, w: Float[ArrayLike, " D"], *, noise: str | NoiseModel
) -> Float[Array, ""]:
    """$\\mathrm{Reg}(w)=\\tfrac12\\mathrm{tr}\\big(C\\,\\nabla^2_\\eta\\hat L(w,0)\\big)$ (§2; exact, AD
    in the noise variable), so that $\\mathbb E\\nabla_w\\hat L(w,\\sigma\\xi)=\\nabla L+\\sigma^2
    \\nabla\\mathrm{Reg}+O(\\sigma^3)$.  Label noise $\\tfrac12$; perturbed GD
    $\\tfrac12\\mathrm{tr}\\nabla^2L$; DropConnect $\\tfrac12\\sum_iw_i^2\\partial_{ii}L$; minibatch,
    sample weights, additive 0 (§5).  Differentiable in `w` (`jax.grad` gives $\\nabla\\mathrm{Reg}$).
    """
    w, n, model = _setup(problem, w, noise)
    return _jit_regulariser(problem, model, n, w)


def noise_covariance(
    problem: Objective, w: Float[ArrayLike, " D"], *, noise: str | NoiseModel
) -> Float[Array, "D D"]:
    """$\\Sigma=ACA^\\top$, $A=\\partial_\\eta\\nabla_w\\hat L(w,0)$: the covariance of the
    per-step gradient noise divided by $\\sigma^2$, to leading order in $\\sigma$ (§3, §4).
    Label noise $\\frac1{n^2}J^\\top J$ ($=\\nabla^2L/n$ on $\\Gamma$); additive $I$; minibatches
    and sample weights 0 on $\\Gamma$ (interpolation)."""
    w, n, model = _setup(problem, w, noise)
    return _jit_noise_covariance(problem, model, n, w)


def fast_drift(
    problem: Objective,
    w: Float[ArrayLike, " D"],
    *,
    noise: str | NoiseModel,
    codim: int | None = None,
) -> Float[Array, " D"]:
    """The fast-scale drift $-P_T\\nabla\\mathrm{Reg}(w)$ per unit $\\tau=k\\alpha\\sigma^2$ (§4).
    Perturbed GD on toy 1: $-\\frac{x^4-1}{x^4+1}(x,-y)$ on $xy=1$ (§9)."""
    w, n, model = _setup(problem, w, noise)
    return _jit_fast_drift(problem, model, n, _codimension(problem, w, codim), w)


def slow_drift(
    problem: Objective,
    w: Float[ArrayLike, " D"],
    *,
    noise: str | NoiseModel,
    codim: int | None = None,
) -> Float[Array, " D"]:
    """The slow-scale drift $\\tfrac12\\partial^2\\Phi(w)[\\Sigma(w)]$ per unit
    $\\tau=k\\alpha^2\\sigma^2$ (§4, §7), with $\\Sigma$ of
    [`noise_covariance`][limitlab.numerics.noise_covariance].  Label noise:
    $-\\frac1{4n}P_T\\nabla\\mathrm{tr}\\nabla^2L$; on toy 1 $-\\frac12\\frac{x^4-1}{x^4+1}(x,-y)$."""
    w, n, model = _setup(problem, w, noise)
    return _jit_slow_drift(problem, model, n, _codimension(problem, w, codim), w)


def diffusion(
    problem: Objective,
    w: Float[ArrayLike, " D"],
    *,
    noise: str | NoiseModel,
    codim: int | None = None,
) -> Float[Array, "D D"]:
    """The slow-scale diffusion matrix $P_T\\Sigma^{1/2}(w)$ ($\\Sigma^{1/2}$ the symmetric PSD
    square root), driving a $D$-dimensional Brownian motion in $\\tau=k\\alpha^2\\sigma^2$ (§4, §7).
    Zero for label noise (normal noise) and under interpolation for minibatches."""
    w, n, model = _setup(problem, w, noise)
    return _jit_diffusion(problem, model, n, _codimension(problem, w, codim), w)


def retract(
    problem: Objective,
    w: Float[ArrayLike, " D"],
    *,
    codim: int | None = None,
    iterations: int = _RETRACT_ITERATIONS,
) -> Float[Array, " D"]:
    """Newton projection of a point near $\\Gamma$ onto $\\Gamma$.

    Least squares: Gauss-Newton $w\\leftarrow w-J^+r(w)$ (minimum-norm, rank-`codim`
    pseudo-inverse); a general loss: $w\\leftarrow w-H_k^+\\nabla L(w)$ with the top-`codim`
    eigenpairs of $H(w)$ (a Newton step on $\\nabla L$ restricted to the normal space).  Both
    converge quadratically and land within $O(\\mathrm{dist}^2)$ of the orthogonal projection.
    `codim` defaults to the rank at `w` (then `w` must be concrete and close to $\\Gamma$).
    """
    w, _, _ = _setup(problem, w)
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, numbers.Integral)
        or iterations < 0
    ):
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    return _jit_retract(problem, _codimension(problem, w, codim), int(iterations), w)


# --------------------------------------------------------------------------------------------
# flows


class _Retracted(diffrax.AbstractWrappedSolver):
    """Wraps a diffrax solver and retracts every accepted step onto Gamma.

    The wrapped step is told `made_jump=True` so that an FSAL method re-evaluates the vector
    field at the retracted point; the error estimate is the wrapped solver's.
    """

    solver: diffrax.AbstractSolver
    retraction: Callable = eqx.field(static=True)

    @property
    def term_structure(self):
        return self.solver.term_structure

    @property
    def interpolation_cls(self):  # pyright: ignore
        return self.solver.interpolation_cls

    @property
    def term_compatible_contr_kwargs(self):
        return self.solver.term_compatible_contr_kwargs

    def order(self, terms):
        return self.solver.order(terms)

    def strong_order(self, terms):
        return self.solver.strong_order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    def init(self, terms, t0, t1, y0, args):
        return self.solver.init(terms, t0, t1, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, y_error, dense_info, solver_state, result = self.solver.step(
            terms, t0, t1, y0, args, solver_state, True
        )
        y1 = self.retraction(y1)
        if "y1" in dense_info:
            dense_info = dict(dense_info, y1=y1)
        return y1, y_error, dense_info, solver_state, result

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, args)


@functools.partial(jax.jit, static_argnums=0)
def _jit_gradient_rms(problem, w):
    g = jax.grad(problem.loss)(w)
    return jnp.sqrt(jnp.mean(g * g))


@functools.partial(jax.jit, static_argnames=("problem", "max_steps"))
def _gradient_flow(problem, w0, rtol, atol, gtol, *, max_steps):
    term = diffrax.ODETerm(lambda t, w, args: -jax.grad(problem.loss)(w))
    # Stop once |grad L| < gtol (RMS): the remaining distance to Gamma is then about
    # gtol / lambda_min, and the Newton polish that follows is accurate to its square.  An
    # explicit solver hovers at its stability limit with errors ~ rtol |w| + atol, so gtol must
    # exceed lambda_max (rtol |w| + atol) or the event never fires.
    event = diffrax.Event(diffrax.steady_state_event(rtol=0.0, atol=gtol))
    sol = diffrax.diffeqsolve(
        term,
        diffrax.Tsit5(),
        0.0,
        jnp.inf,
        None,
        w0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=event,
        max_steps=max_steps,
    )
    return sol.ys[-1]


def flow_limit(
    problem: Objective,
    w0: Float[ArrayLike, " D"] | Float[ArrayLike, "B D"],
    *,
    codim: int | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    gtol: float = 1e-8,
    max_steps: int = 100_000,
) -> Float[Array, " D"] | Float[Array, "B D"]:
    """$\\Phi(w_0)=\\lim_{t\\to\\infty}\\varphi(w_0,t)$, $\\dot\\varphi=-\\nabla L(\\varphi)$: the
    gradient-flow limit map (§2), numerically.

    The flow is integrated with diffrax (Tsit5, PID step-size controller with `rtol`, `atol`)
    until the RMS norm of $\\nabla L$ is below `gtol` (which must exceed
    $\\lambda_{\\max}(\\mathrm{rtol}\\,\\lVert w\\rVert+\\mathrm{atol})$, the level at which an
    explicit solver hovers at its stability limit), then polished by
    [`retract`][limitlab.numerics.retract] (Newton projection; moves the point by the remaining
    $O(\\mathrm{gtol})$ distance, and off the exact limit only by its square).  A batch of
    starts `(B, D)` is solved point by point by the same compiled program.  `codim` defaults
    to the rank at the (first) end point.

    **Raises:** `ValueError` for a bad `w0`, tolerance or `max_steps`; diffrax's error if the
    flow does not reach `gtol` within `max_steps` steps.
    """
    dtype = jnp.result_type(float)
    w0 = jnp.asarray(w0, dtype)
    if w0.ndim not in (1, 2) or w0.shape[-1] < 1:
        raise ValueError(f"w0 must have shape (D,) or (B, D), got shape {w0.shape}")
    _check_problem(problem, w0.shape[-1], dtype)
    for name, value in (("rtol", rtol), ("atol", atol), ("gtol", gtol)):
        _positive_finite(name, value)
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    # Point by point through one compiled single-point program: batches of any size share it.
    # A start that already meets the stopping rule skips the flow (and its compilation).
    ends = [
        w if float(_jit_gradient_rms(problem, w)) < gtol
        else _gradient_flow(problem, w, rtol, atol, gtol, max_steps=max_steps)
        for w in w0.reshape(-1, w0.shape[-1])
    ]
    k = _codimension(problem, ends[0], codim)
    out = jnp.stack([_jit_retract(problem, k, _RETRACT_ITERATIONS, w) for w in ends])
    return out.reshape(w0.shape)


@functools.partial(
    jax.jit, static_argnames=("problem", "noise", "n", "codim", "scale", "max_steps")
)
def _solve_ode(problem, w_start, taus, rtol, atol, *, noise, n, codim, scale, max_steps):
    if scale == "fast":
        field = functools.partial(_fast_drift, problem, noise, n, codim)
    else:
        field = functools.partial(_slow_drift, problem, noise, n, codim)
    retraction = functools.partial(_retract, problem, codim, _RETRACT_ITERATIONS)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, w, args: field(w)),
        _Retracted(diffrax.Tsit5(), retraction),
        0.0,
        taus[-1],
        None,
        w_start,
        saveat=diffrax.SaveAt(ts=taus),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    # Dense output between steps is not retracted; the saved points are.
    return jax.vmap(retraction)(sol.ys)


@functools.partial(
    jax.jit, static_argnames=("problem", "noise", "n", "codim", "max_steps")
)
def _solve_sde(problem, w_start, taus, grid, keys, *, noise, n, codim, max_steps):
    drift = functools.partial(_slow_drift, problem, noise, n, codim)
    diff = functools.partial(_diffusion, problem, noise, n, codim)
    retraction = functools.partial(_retract, problem, codim, _RETRACT_ITERATIONS)
    dim = w_start.shape[0]
    tol = 0.5 * jnp.min(jnp.diff(grid))

    def one(key):
        brownian = diffrax.VirtualBrownianTree(
            0.0, grid[-1], tol=tol, shape=jax.ShapeDtypeStruct((dim,), w_start.dtype), key=key
        )
        terms = diffrax.MultiTerm(
            diffrax.ODETerm(lambda t, w, args: drift(w)),
            diffrax.ControlTerm(lambda t, w, args: diff(w), brownian),
        )
        sol = diffrax.diffeqsolve(
            terms,
            _Retracted(diffrax.Euler(), retraction),
            0.0,
            grid[-1],
            None,
            w_start,
            saveat=diffrax.SaveAt(ts=taus),
            stepsize_controller=diffrax.StepTo(ts=grid),
            max_steps=max_steps,
        )
        return jax.vmap(retraction)(sol.ys)

    return jax.vmap(one, out_axes=1)(keys)


def limiting_flow(
    problem: Objective,
    w0: Float[ArrayLike, " D"],
    *,
    noise: str | NoiseModel,
    taus: Sequence[float] | Float[ArrayLike, " T"],
    scale: str | None = None,
    stochastic: bool | None = None,
    key: Key | None = None,
    paths: int = 1,
    dt: float = 1e-3,
    codim: int | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = 100_000,
) -> dict[str, Array | str | int]:
    """The limit of noisy GD on $\\Gamma$ in rescaled time, from $\\Phi(w_0)$, at the times `taus`.

    * `scale="fast"`, $\\tau=k\\alpha\\sigma^2$: $\\frac{dW}{d\\tau}=-P_T\\nabla\\mathrm{Reg}(W)$
      ([`fast_drift`][limitlab.numerics.fast_drift]), the Riemannian gradient flow of
      $\\mathrm{Reg}|_\\Gamma$ (§4, non-degenerate case; perturbed GD, DropConnect).
    * `scale="slow"`, $\\tau=k\\alpha^2\\sigma^2$:
      $dW=\\tfrac12\\partial^2\\Phi[\\Sigma]\\,d\\tau+P_T\\Sigma^{1/2}dB_\\tau$
      ([`slow_drift`][limitlab.numerics.slow_drift], [`diffusion`][limitlab.numerics.diffusion];
      §4 degenerate case, LWA's SDE; label noise, minibatches, sample weights, additive).

    `scale` defaults to [`NoiseModel.scale`][limitlab.numerics.NoiseModel]; override it for a
    degenerate instance of a fast kind (DropConnect on toy 1, §9 toy 2).  Deterministic flows
    (fast scale; slow scale of label, minibatch and sample-weight noise, whose noise is normal
    to $\\Gamma$) are integrated with Tsit5 and a PID controller (`rtol`, `atol`); the
    stochastic one (`"additive"`) by Euler-Maruyama (Itô) with steps `dt` and a
    `VirtualBrownianTree` per path.  Every step is retracted onto $\\Gamma$
    ([`retract`][limitlab.numerics.retract]), and so are the returned points.  $\\Phi(w_0)$ is
    [`flow_limit`][limitlab.numerics.flow_limit].  Convert simulation steps with
    [`NoiseModel.tau_per_step`][limitlab.numerics.NoiseModel.tau_per_step].

    **Arguments:**

    - `problem`, `noise`: as for [`noisy_gd`][limitlab.numerics.noisy_gd] (parameters of
      `noise` are not used: the limit does not depend on them).
    - `w0`: the start of the simulation, shape `(D,)`; the flow starts at $\\Phi(w_0)$.
    - `taus`: increasing rescaled times $\\ge0$.
    - `stochastic`: force the SDE (`True`) or drop the noise (`False`); default: stochastic
      only on the slow scale of kinds with tangential noise (`"additive"`).
    - `key`, `paths`: PRNG key and number of sample paths of the SDE (ignored otherwise).
    - `dt`: Euler-Maruyama step of the SDE.
    - `codim`: codimension of $\\Gamma$; default the rank at $\\Phi(w_0)$.
    - `rtol`, `atol`, `max_steps`: of the ODE solver (and of `flow_limit`).

    **Returns:** a dict with `"tau"` `(T,)`, `"w"` `(T, D)` (ODE) or `(T, paths, D)` (SDE),
    `"start"` $=\\Phi(w_0)$, `"scale"`, `"stochastic"` and `"codim"`.

    **Raises:** `ValueError` naming the argument for an unknown noise or scale, noise that needs
    residuals on a [`Loss`][limitlab.numerics.Loss], bad `taus`, `dt`, `paths` or tolerances,
    or an SDE without `key`.
    """
    w0, n, model = _setup(problem, w0, noise, name="w0")
    scale = model.scale if scale is None else scale
    if scale not in ("fast", "slow"):
        raise ValueError(f"scale must be 'fast' or 'slow', got {scale!r}")
    try:
        taus_np = np.asarray(taus, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"taus must be a sequence of real times, got {taus!r}") from None
    if (
        taus_np.ndim != 1
        or taus_np.size < 1
        or not np.all(np.isfinite(taus_np))
        or np.any(taus_np < 0)
        or np.any(np.diff(taus_np) <= 0)
    ):
        raise ValueError(f"taus must be strictly increasing finite times >= 0, got {taus!r}")
    if stochastic is None:
        stochastic = scale == "slow" and model.kind not in _NORMAL_NOISE_KINDS
    elif not isinstance(stochastic, bool):
        raise ValueError(f"stochastic must be True, False or None, got {stochastic!r}")
    for name, value in (("rtol", rtol), ("atol", atol), ("dt", dt)):
        _positive_finite(name, value)
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    start = flow_limit(problem, w0, codim=codim, rtol=rtol, atol=atol, max_steps=max_steps)
    k = _codimension(problem, start, codim)
    dtype = start.dtype
    out = {"tau": jnp.asarray(taus_np, dtype), "start": start, "scale": scale,
           "stochastic": stochastic, "codim": k}
    if stochastic:
        if key is None:
            raise ValueError("the slow-scale SDE needs key=jax.random.key(seed), got key=None")
        _check_key(key)
        if isinstance(paths, bool) or not isinstance(paths, numbers.Integral) or paths < 1:
            raise ValueError(f"paths must be an integer >= 1, got {paths!r}")
    if taus_np[-1] == 0:
        w = jnp.broadcast_to(start, (taus_np.size,) + (() if not stochastic else (paths,))
                             + start.shape)
        return dict(out, w=w)
    if not stochastic:
        w = _solve_ode(problem, start, out["tau"], rtol, atol, noise=model, n=n, codim=k,
                       scale=scale, max_steps=max_steps)
        return dict(out, w=w)
    steps = max(1, math.ceil(taus_np[-1] / dt))
    grid = np.union1d(np.linspace(0.0, taus_np[-1], steps + 1), taus_np)
    keys = jax.random.split(key, paths)
    w = _solve_sde(problem, start, out["tau"], jnp.asarray(grid, dtype), keys, noise=model, n=n,
                   codim=k, max_steps=max(max_steps, grid.size + 1))
    return dict(out, w=w)
