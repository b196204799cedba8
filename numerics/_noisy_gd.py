"""Noisy gradient descent near a manifold of minimisers: problems, noise models, simulators.

Every noisy method of manifold-drift.md §2 [reconstructed] is one update rule,

$$w_{k+1}=w_k-\\alpha\\,\\nabla_w\\hat L(w_k,\\eta_k),\\qquad\\hat L(w,0)=L(w),$$

with i.i.d. noise $\\eta_k$ of mean zero and covariance $\\sigma^2C$.  A
[`NoiseModel`][limitlab.numerics.NoiseModel] fixes $\\hat L$, the law of $\\eta$, $\\sigma^2$ and
$C$ (§5 [derived]); [`noisy_gd`][limitlab.numerics.noisy_gd] runs the update for many
independent chains; the limiting flow on $\\Gamma=\\{L=0\\}$ that the chains should follow is in
[`limiting_flow`][limitlab.numerics.limiting_flow].

| `kind` | $\\hat L(w,\\eta)$ | law of $\\eta$ | $\\sigma^2$ | $C$ | scale |
|---|---|---|---|---|---|
| `"label"` | $\\frac1{2n}\\sum_j(r_j(w)-\\eta_j)^2$ | $\\pm\\sigma$ Rademacher or $\\mathcal N(0,\\sigma^2)$ | `sigma**2` | $I_n$ | slow |
| `"perturbed"` | $L(w+\\eta)$ | $\\mathcal N(0,\\sigma^2I_D)$ | `sigma**2` | $I_D$ | fast |
| `"dropconnect"` | $L(w\\odot(1+\\eta))$ | $\\eta_i=m_i/(1-p)-1$, $m_i\\sim\\mathrm{Bernoulli}(1-p)$ | $p/(1-p)$ | $I_D$ | fast |
| `"minibatch"` | $\\frac1{2n}\\sum_j(1+\\eta_j)r_j(w)^2$ | $1+\\eta_j=\\frac nB\\mathbb 1[j\\in B_k]$, $B_k$ of size $B$ without replacement | $(n-B)/B$ | $\\frac{nI-\\mathbb 1\\mathbb 1^\\top}{n-1}$ | slow |
| `"sample_weights"` | $\\frac1{2n}\\sum_j(1+\\eta_j)r_j(w)^2$ | $\\mathcal N(0,\\sigma^2I_n)$ | `sigma**2` | $I_n$ | slow |
| `"additive"` | $L(w)-\\langle\\eta,w\\rangle$ (SGLD-type) | $\\mathcal N(0,\\sigma^2I_D)$ | `sigma**2` | $I_D$ | slow |
| `"none"` | $L(w)$ (plain GD) | none | 0 | - | - |

"Fast" kinds move along $\\Gamma$ after $O(1/(\\alpha\\sigma^2))$ steps, rescaled time
$\\tau=k\\alpha\\sigma^2$; "slow" kinds after $O(1/(\\alpha^2\\sigma^2))$ steps,
$\\tau=k\\alpha^2\\sigma^2$ (§3, §4 [derived]).  `"minibatch"` is classical SGD: the minibatch
gradient $\\frac1{2B}\\nabla\\sum_{j\\in B_k}r_j^2$ written as a reweighting of all $n$ samples
(exact, not a model); its $C$ is the covariance of sampling without replacement [derived].
`"sample_weights"` is the i.i.d.-weight model of §5 item 2; with $n=1$ it is the
multiplicative noise $w\\leftarrow w-\\alpha(1+\\eta)\\nabla L(w)$ of toy 1 (§9).

Problems: [`LeastSquares`][limitlab.numerics.LeastSquares] wraps a residual function
$r:\\mathbb R^D\\to\\mathbb R^n$ and means $L=\\frac1{2n}\\sum_jr_j^2$ (the §5 convention, the only
one under which label noise, minibatches and sample weights are defined);
[`Loss`][limitlab.numerics.Loss] wraps any scalar loss $L:\\mathbb R^D\\to\\mathbb R$ (perturbed,
DropConnect, additive noise).  Parameters are flat vectors; ravel a pytree with
`jax.flatten_util.ravel_pytree`.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import final

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._custom_types import Array, ArrayLike, Float, Key
from ._linearisation import _check_int

__all__ = [
    "LABEL_DISTRIBUTIONS",
    "NOISE_KINDS",
    "LeastSquares",
    "Loss",
    "NoiseModel",
    "Objective",
    "noisy_gd",
]

NOISE_KINDS = (
    "label", "perturbed", "dropconnect", "minibatch", "sample_weights", "additive", "none"
)
"""The noise kinds of [`NoiseModel`][limitlab.numerics.NoiseModel] (module table)."""

LABEL_DISTRIBUTIONS = ("rademacher", "gaussian")
"""Laws of the label noise $\\varepsilon_j=\\eta_j$: $\\pm\\sigma$ with probability 1/2, or
$\\mathcal N(0,\\sigma^2)$."""

_SIGMA_KINDS = ("label", "perturbed", "sample_weights", "additive")
_RESIDUAL_KINDS = ("label", "minibatch", "sample_weights")
_SLOW_KINDS = ("label", "minibatch", "sample_weights", "additive")
# Noise of these kinds has no tangential component on Gamma (A = -J^T / n, or A = 0 under
# interpolation), so their slow-scale limit is deterministic (§5 items 1, 2 [derived]).
_NORMAL_NOISE_KINDS = ("label", "minibatch", "sample_weights", "none")

# Steps whose noise is drawn in one vectorised call from one key.  The noise of step s depends
# only on (chain key, s), so this is a speed knob, not a statistical choice.
_BLOCK = 16


# --------------------------------------------------------------------------------------------
# problems


class Objective(abc.ABC):
    """A loss $L(w)\\ge0$ on flat parameter vectors whose zero set $\\Gamma$ is the manifold of
    minimisers.  Concrete problems: [`Loss`][limitlab.numerics.Loss] and
    [`LeastSquares`][limitlab.numerics.LeastSquares]."""

    @abc.abstractmethod
    def loss(self, w: Float[Array, " D"]) -> Float[Array, ""]:
        """$L(w)$, a JAX-traceable scalar."""


@final
@dataclasses.dataclass(frozen=True)
class Loss(Objective):
    """A general loss: `Loss(fn)` with `fn(w) -> scalar`, $L=$ `fn`.

    Supports the noise kinds that only need $L$: `"perturbed"`, `"dropconnect"`, `"additive"`
    and `"none"`.  The manifold computations of the limiting flow use the Hessian of `fn`.
    Hashed by the identity of `fn` (pass the same function object to reuse compilations).
    """

    fn: Callable[[Array], Array]

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"Loss(fn): fn must be callable, got {type(self.fn).__name__}")

    def loss(self, w):
        return self.fn(w)


@final
@dataclasses.dataclass(frozen=True)
class LeastSquares(Objective):
    """Least squares on residuals: `LeastSquares(residuals)` with `residuals(w) -> (n,)`,
    $r_j(w)=f(x_j;w)-y_j$, and

    $$L(w)=\\frac1{2n}\\sum_{j=1}^nr_j(w)^2 .$$

    A scalar residual counts as $n=1$ (toy 1 of manifold-drift.md §9 is
    `LeastSquares(lambda w: w[0] * w[1] - 1)`).  Supports every noise kind; on
    $\\Gamma=\\{r=0\\}$ the normal space is the row space of the residual Jacobian $J$, which the
    limiting-flow code uses instead of the Hessian where it can (§8).  Hashed by the identity of
    `residuals`.
    """

    residuals: Callable[[Array], Array]

    def __post_init__(self):
        if not callable(self.residuals):
            raise TypeError(
                f"LeastSquares(residuals): residuals must be callable, got "
                f"{type(self.residuals).__name__}"
            )

    def residual_vector(self, w: Float[Array, " D"]) -> Float[Array, " n"]:
        """$r(w)$ as a vector of shape `(n,)`."""
        return jnp.reshape(self.residuals(w), (-1,))

    def loss(self, w):
        r = self.residual_vector(w)
        return 0.5 * jnp.mean(r * r)


def _check_problem(problem, dim: int, dtype) -> int | None:
    """Check `problem` against parameter dimension `dim`; return n for least squares."""
    if not isinstance(problem, Objective):
        raise TypeError(
            f"problem must be LeastSquares(residuals) or Loss(fn), got "
            f"{type(problem).__name__}; wrap a residual function r(w) -> (n,) in LeastSquares "
            "and a scalar loss L(w) in Loss"
        )
    probe = jax.ShapeDtypeStruct((dim,), dtype)
    if isinstance(problem, LeastSquares):
        shape = jax.eval_shape(problem.residuals, probe).shape
        if len(shape) > 1:
            raise ValueError(
                f"LeastSquares residuals must return a scalar or a vector (n,), got shape {shape}"
            )
        n = math.prod(shape)
        if n < 1:
            raise ValueError("LeastSquares residuals must return at least one residual, got 0")
        return n
    shape = jax.eval_shape(problem.loss, probe).shape
    if shape != ():
        raise ValueError(f"Loss fn must return a scalar, got shape {shape}")
    return None


# --------------------------------------------------------------------------------------------
# noise models


def _positive_finite(name: str, value) -> float:
    if isinstance(value, np.ndarray | jax.Array) and value.ndim == 0:
        try:
            value = value.item()
        except jax.errors.ConcretizationTypeError:
            pass  # a tracer: rejected below
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite real number > 0, got {value!r}")
    return float(value)


@final
@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """One noise kind of the module table with its parameter.

    `NoiseModel("label", sigma=1.0)`, `NoiseModel("perturbed", sigma=0.1)`,
    `NoiseModel("dropconnect", p=0.01)`, `NoiseModel("minibatch", batch=2)`,
    `NoiseModel("sample_weights", sigma=1.0)`, `NoiseModel("additive", sigma=0.1)`,
    `NoiseModel("none")`.

    **Arguments:**

    - `kind`: one of [`NOISE_KINDS`][limitlab.numerics.NOISE_KINDS].
    - `sigma`: noise scale $\\sigma>0$ for `"label"`, `"perturbed"`, `"sample_weights"` and
      `"additive"` (not allowed for the others).
    - `p`: drop probability $p\\in(0,1)$ for `"dropconnect"`.
    - `batch`: batch size $B\\ge1$ for `"minibatch"` ($B\\le n$ is checked against the problem).
    - `distribution`: law of the label noise, `"rademacher"` ($\\pm\\sigma$, the reference's
      toy 1, default) or `"gaussian"`; only for `"label"`.

    **Raises:** `ValueError` naming the argument for an unknown kind, a missing or superfluous
    parameter, $\\sigma\\le0$, $p\\notin(0,1)$, $B<1$, or an unknown distribution.
    """

    kind: str
    sigma: float | None = None
    p: float | None = None
    batch: int | None = None
    distribution: str | None = None

    def __post_init__(self):
        kind = self.kind
        if not isinstance(kind, str) or kind not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {kind!r}")
        needs = {"sigma": kind in _SIGMA_KINDS, "p": kind == "dropconnect",
                 "batch": kind == "minibatch"}
        for name, needed in needs.items():
            value = getattr(self, name)
            if needed and value is None:
                raise ValueError(f"noise {kind!r} needs {name}, got {name}=None")
            if not needed and value is not None:
                raise ValueError(f"noise {kind!r} takes no {name}, got {name}={value!r}")
        if self.sigma is not None:
            object.__setattr__(self, "sigma", _positive_finite("sigma", self.sigma))
        if self.p is not None:
            p = self.p
            if (
                isinstance(p, bool)
                or not isinstance(p, numbers.Real)
                or not math.isfinite(p)
                or not 0 < p < 1
            ):
                raise ValueError(f"p must be a drop probability in (0, 1), got {p!r}")
            object.__setattr__(self, "p", float(p))
        if self.batch is not None:
            b = self.batch
            if isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1:
                raise ValueError(f"batch must be an integer in [1, n], got {b!r}")
            object.__setattr__(self, "batch", int(b))
        if kind == "label":
            dist = "rademacher" if self.distribution is None else self.distribution
            if dist not in LABEL_DISTRIBUTIONS:
                raise ValueError(
                    f"distribution must be one of {LABEL_DISTRIBUTIONS}, got {dist!r}"
                )
            object.__setattr__(self, "distribution", dist)
        elif self.distribution is not None:
            raise ValueError(
                f"noise {kind!r} takes no distribution (only 'label' does), got "
                f"distribution={self.distribution!r}"
            )

    # ---- conventions

    @property
    def scale(self) -> str | None:
        """`"fast"` ($\\tau=k\\alpha\\sigma^2$) or `"slow"` ($\\tau=k\\alpha^2\\sigma^2$): the time
        scale on which this kind moves along $\\Gamma$ generically; `None` for `"none"`."""
        if self.kind == "none":
            return None
        return "slow" if self.kind in _SLOW_KINDS else "fast"

    @property
    def needs_residuals(self) -> bool:
        """Whether the kind is defined only for [`LeastSquares`][limitlab.numerics.LeastSquares]."""
        return self.kind in _RESIDUAL_KINDS

    def sigma_squared(self, n: int | None = None) -> float:
        """$\\sigma^2$ (module table): `sigma**2`, $p/(1-p)$ for DropConnect, $(n-B)/B$ for
        minibatches (needs the number of residuals `n`), 0 for `"none"`."""
        if self.kind == "dropconnect":
            return self.p / (1 - self.p)
        if self.kind == "minibatch":
            if n is None:
                raise ValueError("sigma_squared of 'minibatch' noise needs n, got n=None")
            return (n - self.batch) / self.batch
        if self.kind == "none":
            return 0.0
        return self.sigma**2

    def tau_per_step(self, alpha: float, n: int | None = None, scale: str | None = None) -> float:
        """Rescaled time per step: $\\alpha\\sigma^2$ on the fast scale, $\\alpha^2\\sigma^2$ on the
        slow one (`scale` defaults to [`self.scale`][limitlab.numerics.NoiseModel.scale])."""
        alpha = _positive_finite("alpha", alpha)
        scale = self.scale if scale is None else scale
        if scale not in ("fast", "slow"):
            raise ValueError(f"scale must be 'fast' or 'slow', got {scale!r}")
        s2 = self.sigma_squared(n)
        return alpha * s2 if scale == "fast" else alpha * alpha * s2

    def noise_dim(self, dim: int, n: int | None) -> int:
        """Dimension $m$ of $\\eta$: $n$ for the residual kinds, $D$ otherwise, 0 for `"none"`."""
        if self.kind == "none":
            return 0
        return n if self.kind in _RESIDUAL_KINDS else dim

    def covariance(self, dim: int, n: int | None) -> np.ndarray:
        """$C=\\sigma^{-2}\\mathrm{Cov}\\,\\eta$, shape `(m, m)` (module table)."""
        m = self.noise_dim(dim, n)
        if self.kind == "minibatch" and n > 1:
            return (n * np.eye(n) - np.ones((n, n))) / (n - 1)
        return np.eye(m)

    def noisy_loss(self, problem: Objective, w: Float[Array, " D"], eta: Float[Array, " m"]):
        """$\\hat L(w,\\eta)$ of the module table, JAX-traceable in both arguments."""
        kind = self.kind
        if kind in _RESIDUAL_KINDS:
            r = problem.residual_vector(w)
            if kind == "label":
                e = r - eta
                return 0.5 * jnp.mean(e * e)
            return 0.5 * jnp.mean((1 + eta) * r * r)
        if kind == "perturbed":
            return problem.loss(w + eta)
        if kind == "dropconnect":
            return problem.loss(w * (1 + eta))
        if kind == "additive":
            return problem.loss(w) - jnp.vdot(eta, w)
        return problem.loss(w)

    # ---- sampling (internal: dynamic parameters travel as arrays so sweeps do not recompile)

    def _parameters(self, dtype) -> dict[str, Array]:
        out = {}
        if self.sigma is not None:
            out["sigma"] = jnp.asarray(self.sigma, dtype)
        if self.p is not None:
            keep = 1.0 - self.p
            # P(bits < threshold) = threshold / 2**32 for uniform 32-bit words: the keep
            # probability to 2**-32, without a float conversion per mask.
            out["threshold"] = jnp.asarray(min(round(keep * 2.0**32), 2**32 - 1), jnp.uint32)
            out["inv_keep"] = jnp.asarray(1.0 / keep, dtype)
        return out

    def _structure(self) -> NoiseModel:
        """A copy with the numeric parameters replaced by placeholders: the static part of the
        model (kind, batch, distribution) for `jit`, so that sweeps over sigma or p reuse one
        compilation (the values travel in `_parameters`)."""
        return dataclasses.replace(
            self,
            sigma=None if self.sigma is None else 1.0,
            p=None if self.p is None else 0.5,
        )

    def _sample_block(self, key: Key, params, block: int, m: int, dtype, noise_dtype) -> Array:
        """The noise of `block` consecutive steps, shape `(block, m)`, from one key.

        Drawn as flat vectors and reshaped: XLA compiles JAX's threefry for a 1-d shape two to
        three times faster than for the same numbers in a 2-d shape.
        """
        kind = self.kind
        if kind == "none":
            return jnp.zeros((block, 0), dtype)
        if kind == "label" and self.distribution == "rademacher":
            # 32 signs per random word.
            words = jax.random.bits(key, (-(-block * m // 32),), jnp.uint32)
            idx = jnp.arange(block * m)
            bit = (words[idx // 32] >> (idx % 32).astype(jnp.uint32)) & 1
            return params["sigma"] * (1 - 2 * bit.astype(dtype)).reshape(block, m)
        if kind == "dropconnect":
            keep = jax.random.bits(key, (block * m,), jnp.uint32) < params["threshold"]
            return jnp.where(keep, params["inv_keep"] - 1, -1.0).astype(dtype).reshape(block, m)
        if kind == "minibatch":
            # The B samples with the smallest of n random 32-bit words: a uniform B-subset up to
            # ties (probability < n^2 / 2^33 per step).  One sort per block; compiles far
            # faster than jax.random.permutation.
            words = jax.random.bits(key, (block * m,), jnp.uint32).reshape(block, m)
            rank = jnp.argsort(jnp.argsort(words, axis=1), axis=1)
            return jnp.where(rank < self.batch, m / self.batch - 1.0, -1.0).astype(dtype)
        xi = jax.random.normal(key, (block * m,), noise_dtype).astype(dtype)
        return params["sigma"] * xi.reshape(block, m)


def _as_noise_model(noise, sigma=None, p=None, batch=None, distribution=None) -> NoiseModel:
    if isinstance(noise, NoiseModel):
        given = {"sigma": sigma, "p": p, "batch": batch, "distribution": distribution}
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise ValueError(
                f"noise is a NoiseModel already; do not also pass {', '.join(extra)}"
            )
        return noise
    if not isinstance(noise, str):
        raise ValueError(
            f"noise must be one of {NOISE_KINDS} or a NoiseModel, got {type(noise).__name__} "
            f"{noise!r}"
        )
    return NoiseModel(noise, sigma=sigma, p=p, batch=batch, distribution=distribution)


def _check_noise_for_problem(noise: NoiseModel, problem: Objective, n: int | None) -> None:
    if noise.needs_residuals and not isinstance(problem, LeastSquares):
        raise ValueError(
            f"noise {noise.kind!r} needs residuals: pass problem=LeastSquares(residuals) "
            f"(L = 1/(2n) sum_j r_j(w)^2), got {type(problem).__name__}"
        )
    if noise.kind == "minibatch" and noise.batch > n:
        raise ValueError(f"batch must be an integer in [1, n] = [1, {n}], got {noise.batch}")


# --------------------------------------------------------------------------------------------
# the simulator


def _check_record_steps(record_steps, steps: int) -> tuple[int, ...]:
    if record_steps is None:
        return (steps,)
    if isinstance(record_steps, numbers.Integral | str) or not isinstance(
        record_steps, Sequence | np.ndarray
    ):
        raise ValueError(f"record_steps must be a sequence of step counts, got {record_steps!r}")
    out = set()
    for s in record_steps:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s <= steps:
            raise ValueError(
                f"record_steps must hold integers in [0, steps] = [0, {steps}], got {s!r}"
            )
        out.add(int(s))
    if not out:
        raise ValueError("record_steps must hold at least one step count, got none")
    return tuple(sorted(out))


def _check_key(key) -> None:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            f"key must be a typed PRNG key (jax.random.key(seed)), got "
            f"{type(key).__name__} {getattr(key, 'dtype', '')}"
        )
    if key.shape != ():
        raise ValueError(f"key must be a single key (shape ()), got shape {key.shape}")


def _plan(recorded: tuple[int, ...], block: int) -> np.ndarray:
    """Per record: the steps `[start, end)` since the previous record and the blocks of the
    global grid of `block`-step blocks that they touch, `[first, last]`."""
    rows, start = [], 0
    for end in recorded:
        first = start // block
        last = max(first, (end - 1) // block) if end > start else first - 1
        rows.append((start, end, first, last))
        start = end
    return np.asarray(rows, dtype=np.int32)


@functools.partial(
    jax.jit,
    static_argnames=("problem", "noise", "m", "chains", "shared_start", "noise_dtype", "block"),
)
def _simulate(
    w0, key, alpha, params, plan, *, problem, noise, m, chains, shared_start, noise_dtype, block
):
    dtype = w0.dtype

    def gradient(w, eta):
        if noise.kind == "additive":
            # grad_w L_hat = grad L - eta; no need to differentiate <eta, w>.
            return jax.grad(problem.loss)(w) - eta
        return jax.grad(noise.noisy_loss, argnums=1)(problem, w, eta)

    def one_chain(w, chain_key):
        def segment(w, row):
            start, end, first, last = row

            def run_block(b, w):
                etas = noise._sample_block(
                    jax.random.fold_in(chain_key, b), params, block, m, dtype, noise_dtype
                )

                def step(v, x):
                    s, eta = x
                    # Steps of a block outside [start, end) belong to another record: a block
                    # cut by a record is drawn (and computed) twice, the price of noise that
                    # depends on the step alone.
                    inside = (s >= start) & (s < end)
                    return jnp.where(inside, v - alpha * gradient(v, eta), v), None

                steps = b * block + jnp.arange(block, dtype=jnp.int32)
                return lax.scan(step, w, (steps, etas))[0]

            w = lax.fori_loop(first, last + 1, run_block, w)
            return w, w

        _, recorded = lax.scan(segment, w, plan)
        return recorded

    if chains is None:
        return one_chain(w0, key)
    chain_keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(
        jnp.arange(chains, dtype=jnp.uint32)
    )
    out = jax.vmap(one_chain, in_axes=(None if shared_start else 0, 0))(w0, chain_keys)
    return jnp.swapaxes(out, 0, 1)


def noisy_gd(
    problem: Objective,
    w0: Float[ArrayLike, " D"] | Float[ArrayLike, "chains D"],
    *,
    noise: str | NoiseModel,
    alpha: float,
    steps: int,
    key: Key,
    sigma: float | None = None,
    p: float | None = None,
    batch: int | None = None,
    distribution: str | None = None,
    record_steps: Sequence[int] | None = None,
    chains: int | None = None,
    noise_dtype=None,
) -> Float[Array, "R chains D"] | Float[Array, "R D"]:
    """Run noisy gradient descent $w_{k+1}=w_k-\\alpha\\nabla_w\\hat L(w_k,\\eta_k)$ for independent
    chains and record them at the requested steps.

    $\\hat L$ and the law of $\\eta_k$ are those of the [`NoiseModel`][limitlab.numerics.NoiseModel]
    (module table; manifold-drift.md §2, §5 [reconstructed / derived]); the gradient is
    `jax.grad` of $\\hat L$ in $w$ (for `"additive"` directly $\\nabla L-\\eta_k$).  Exact in
    distribution up to floating point (and, for minibatches, ties among 32-bit random words,
    probability below $n^2/2^{33}$ per step).

    Keys: chain $c$ uses `fold_in(key, c)`; the noise of its steps $16b,\\dots,16b+15$ is drawn
    in one vectorised call from `fold_in(fold_in(key, c), b)`.  So a chain's trajectory depends
    only on `(key, c)`: it is the same whatever `chains` or `record_steps`, and
    `noisy_gd(..., chains=None, key=fold_in(key, c))` reproduces chain `c` of a batched run.
    One compiled program (`lax.scan` over the records, a loop over the 16-step blocks, `vmap`
    over chains); a block that a record step cuts is drawn and computed once per record in it,
    so recording every few steps multiplies the cost (by up to 16 when recording every step).  Sweeps over `alpha`, `sigma` or `p`
    reuse the compilation.  Run it inside [`float64()`][limitlab.numerics.float64] (the drifts
    of interest are $O(\\alpha\\sigma^2)$ per step).  For many devices, call it with
    `chains=None` through [`run_ensemble`][limitlab.numerics.run_ensemble], which shards the
    seeds.

    Cost (`benchmarks/noisy_gd.py`, one CPU thread, 400 chains): label noise draws 32
    Rademacher signs per random word and runs the toy at about 8e7 chain-steps per second, 8-9
    times a NumPy loop vectorised over chains; Gaussian and Bernoulli noise is bound by JAX's
    threefry generator (and the inverse error function), which on a CPU is slower per number
    than NumPy's generators, so those rows run at 0.6-1.3 times NumPy; on a 200-parameter
    diagonal network both sides are bound by the same arithmetic (1.4-1.6 times).  The simulator is written for accelerators, where
    the chains of one step run in parallel.

    **Arguments:**

    - `problem`: [`LeastSquares`][limitlab.numerics.LeastSquares]`(residuals)` or
      [`Loss`][limitlab.numerics.Loss]`(fn)`.
    - `w0`: the start, shape `(D,)` (all chains) or `(chains, D)` (one per chain).
    - `noise`: a [`NoiseModel`][limitlab.numerics.NoiseModel], or its kind name with the
      parameters `sigma`, `p`, `batch`, `distribution` given here.
    - `alpha`: step size $\\alpha>0$.
    - `steps`: number of steps $\\ge0$.
    - `key`: typed PRNG key (`jax.random.key(seed)`).
    - `record_steps`: the step counts in `[0, steps]` to record (sorted, duplicates removed);
      default `(steps,)`.
    - `chains`: number of chains; `None` runs one chain with `key` itself and drops the chain
      axis (the form [`run_ensemble`][limitlab.numerics.run_ensemble] wants).
    - `noise_dtype`: dtype of the Gaussian variates before they are cast to the working dtype;
      default the working dtype.  `jnp.float32` halves the random bits and uses the
      single-precision inverse error function (about 2-3x faster Gaussian noise on a CPU; the
      variates are then rounded to 24 bits, the iterate stays in the working precision).

    **Returns:** the recorded iterates, shape `(R, chains, D)`, or `(R, D)` for `chains=None`,
    `R = len(record_steps)`.

    **Raises:** `TypeError` for a problem that is not an
    [`Objective`][limitlab.numerics.Objective] or a key that is not a typed key; `ValueError`
    naming the argument for an unknown noise kind or bad noise parameter ($\\sigma\\le0$,
    $p\\notin(0,1)$, `batch` outside $[1,n]$), label/minibatch/sample-weight noise on a
    [`Loss`][limitlab.numerics.Loss], $\\alpha\\le0$, negative `steps`, record steps outside
    `[0, steps]`, `chains < 1`, or a `w0` of the wrong shape or not finite.
    """
    noise = _as_noise_model(noise, sigma=sigma, p=p, batch=batch, distribution=distribution)
    alpha = _positive_finite("alpha", alpha)
    steps = _check_int("steps", steps, 0)
    recorded = _check_record_steps(record_steps, steps)
    if chains is not None:
        chains = _check_int("chains", chains, 1)
    _check_key(key)
    dtype = jnp.result_type(float)
    try:
        w0 = jnp.asarray(w0, dtype)
    except TypeError:
        raise ValueError(f"w0 must be a real array, got {type(w0).__name__}") from None
    shared = w0.ndim == 1
    if not (
        (shared and w0.shape[0] >= 1)
        or (w0.ndim == 2 and chains is not None and w0.shape[0] == chains and w0.shape[1] >= 1)
    ):
        wanted = "(D,)" if chains is None else f"(D,) or (chains, D) = ({chains}, D)"
        raise ValueError(f"w0 must have shape {wanted}, got shape {w0.shape}")
    # Under jit or vmap (e.g. through run_ensemble) every jnp operation is staged: check the
    # start only when it is concrete.
    if not isinstance(w0, jax.core.Tracer) and not bool(np.all(np.isfinite(np.asarray(w0)))):
        raise ValueError("w0 must be finite, got non-finite entries")
    dim = w0.shape[-1]
    n = _check_problem(problem, dim, dtype)
    _check_noise_for_problem(noise, problem, n)
    noise_dtype = dtype if noise_dtype is None else jnp.dtype(noise_dtype)
    if not jnp.issubdtype(noise_dtype, jnp.floating):
        raise ValueError(f"noise_dtype must be a floating dtype, got {noise_dtype}")
    return _simulate(
        w0,
        key,
        jnp.asarray(alpha, dtype),
        noise._parameters(dtype),
        jnp.asarray(_plan(recorded, _BLOCK)),
        problem=problem,
        noise=noise._structure(),
        m=noise.noise_dim(dim, n),
        chains=chains,
        shared_start=shared,
        noise_dtype=noise_dtype,
        block=_BLOCK,
    )
