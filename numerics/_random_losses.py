"""Random losses with a known manifold of minimisers, for property tests of the limiting flow.

Each loss is quadratic in the direction normal to its zero set, around a random curved graph
(a generator for the objects of manifold-drift.md §7-§8 [derived]):

$$w=R\\begin{pmatrix}a\\\\b\\end{pmatrix},\\qquad L(w)=\\tfrac12\\,\\big(b-h(a)\\big)^\\top M(a)\\,
\\big(b-h(a)\\big),\\qquad a\\in\\mathbb R^k,\\ b\\in\\mathbb R^r,$$

with $R$ a random rotation, $h$ a random smooth map and $M(a)$ positive definite for every
$a$.  Then $\\Gamma=\\{L=0\\}=\\{R\\,(a,h(a))\\}$ is the graph of $h$, a $k$-dimensional
embedded manifold, and on it $\\nabla^2L=RJ^\\top M J R^\\top$ with $J=[-\\partial h(a),\\,I_r]$,
of rank exactly $r$ everywhere (Morse-Bott: the standing assumptions of §2 hold globally).
The chart $\\varphi(a)=R\\,(a,h(a))$ gives $T\\Gamma$ and the second fundamental form without
the Hessian, an independent check of $P_T$ and of $\\partial^2\\Phi$ on tangent directions:
$\\partial^2\\Phi[\\partial_i\\varphi,\\partial_j\\varphi]=P_N\\,\\partial_i\\partial_j\\varphi$
(differentiate $\\Phi\\circ\\varphi=\\varphi$ twice and use $\\partial\\Phi=P_T$ [derived]).

The coefficients live in an equinox module (a pytree), so that a function of the loss can be
`jax.jit`-compiled once for all random losses of the same shapes, the coefficients traced.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import final

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, ArrayLike, Float
from ._noisy_gd import Loss, _positive_finite

__all__ = ["QuadraticNormalLoss", "RandomManifoldLoss", "random_quadratic_normal_loss"]


@final
class QuadraticNormalLoss(eqx.Module):
    """$L(w)=\\frac12(b-h(a))^\\top M(a)(b-h(a))$ with $(a,b)=R^\\top w$, as a pytree of its
    coefficients (the formula is that of
    [`random_quadratic_normal_loss`][limitlab.numerics.random_quadratic_normal_loss]).

    Calling it evaluates $L(w)$; `graph`, `metric` and `chart` evaluate $h(a)$, $M(a)$ and
    $\\varphi(a)=R\\,(a,h(a))\\in\\Gamma$.  All are JAX-traceable in the coefficients and the
    argument, in the precision of the argument.  Wrap it for the limiting-flow functions as
    `Loss(lambda w: f(w))` (a [`Loss`][limitlab.numerics.Loss] is hashed by its function, and
    the module itself holds arrays).

    **Fields:** `h0` $(r)$, `h1` $(r,k)$, `quadratic` $(r,k,k)$ symmetric, `weights`
    $(F,k)$, `offsets` $(F)$, `mixing` $(r,F)$, `q0` $(r,r)$, `q1` $(k,r,r)$, `rotation` $R$
    $(D,D)$ orthogonal, `stiffness` $\\mu$ (scalar); `tangent_dim` $k$ and `normal_dim` $r$
    (static).
    """

    h0: Float[ArrayLike, " r"]
    h1: Float[ArrayLike, "r k"]
    quadratic: Float[ArrayLike, "r k k"]
    weights: Float[ArrayLike, "F k"]
    offsets: Float[ArrayLike, " F"]
    mixing: Float[ArrayLike, "r F"]
    q0: Float[ArrayLike, "r r"]
    q1: Float[ArrayLike, "k r r"]
    rotation: Float[ArrayLike, "D D"]
    stiffness: Float[ArrayLike, ""]
    tangent_dim: int = eqx.field(static=True)
    normal_dim: int = eqx.field(static=True)

    def _cast(self, x):
        # numpy coefficients with numpy input: float64 numpy (exact point); otherwise the
        # precision of the (possibly traced) argument
        if isinstance(x, np.ndarray) and all(
            isinstance(c, np.ndarray) for c in (self.h0, self.rotation)
        ):
            return np, lambda c: np.asarray(c, x.dtype)
        return jnp, lambda c: jnp.asarray(c, x.dtype)

    def graph(self, a: Float[ArrayLike, " k"]) -> Float[Array, " r"]:
        """$h(a)=h_0+H_1a+\\frac12(a^\\top K_ia)_i+C\\tanh(Wa+\\beta)$."""
        xp, c = self._cast(a)
        return (
            c(self.h0)
            + c(self.h1) @ a
            + 0.5 * (c(self.quadratic) @ a) @ a
            + c(self.mixing) @ xp.tanh(c(self.weights) @ a + c(self.offsets))
        )

    def metric(self, a: Float[ArrayLike, " k"]) -> Float[Array, "r r"]:
        """$M(a)=Q(a)Q(a)^\\top+\\mu I_r$, $Q(a)=Q_0+\\sum_la_lQ_l$."""
        xp, c = self._cast(a)
        q = c(self.q0) + xp.tensordot(a, c(self.q1), axes=1)
        return q @ q.T + c(self.stiffness) * xp.eye(self.normal_dim, dtype=a.dtype)

    def chart(self, a: Float[ArrayLike, " k"]) -> Float[Array, " D"]:
        """$\\varphi(a)=R\\,(a,h(a))$, a point of $\\Gamma$ (`jax.jacfwd` spans $T\\Gamma$)."""
        xp, c = self._cast(a)
        return c(self.rotation) @ xp.concatenate([a, self.graph(a)])

    def __call__(self, w: Float[ArrayLike, " D"]) -> Float[Array, ""]:
        _, c = self._cast(w)
        ab = c(self.rotation).T @ w
        a, b = ab[: self.tangent_dim], ab[self.tangent_dim :]
        e = b - self.graph(a)
        return 0.5 * e @ self.metric(a) @ e


@final
@dataclasses.dataclass(frozen=True, eq=False)
class RandomManifoldLoss:
    """A random loss from
    [`random_quadratic_normal_loss`][limitlab.numerics.random_quadratic_normal_loss] and a
    point of its zero set.

    **Fields:**

    - `loss`: the [`Loss`][limitlab.numerics.Loss] for the limiting-flow functions.
    - `function`: the same loss as a [`QuadraticNormalLoss`][limitlab.numerics.QuadraticNormalLoss]
      pytree (coefficients as numpy float64 arrays), with `graph`, `metric` and `chart`.
    - `point`: $\\varphi(a_0)\\in\\Gamma$, float64 of shape `(D,)`, $D=k+r$ (exact up to
      rounding).
    - `tangent_coordinates`: $a_0$, shape `(k,)`.
    """

    loss: Loss
    function: QuadraticNormalLoss
    point: np.ndarray
    tangent_coordinates: np.ndarray


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _haar_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))  # the sign fix makes q Haar-distributed


def random_quadratic_normal_loss(
    rng: np.random.Generator | int,
    tangent_dim: int,
    normal_dim: int,
    *,
    features: int = 2,
    scale: float = 0.5,
    stiffness: float = 1.0,
    rotate: bool = True,
) -> RandomManifoldLoss:
    """A random loss, quadratic in the normal direction, with a curved manifold of minimisers.

    $$L(w)=\\tfrac12\\,e^\\top M(a)\\,e,\\qquad e=b-h(a),\\qquad
    \\begin{pmatrix}a\\\\b\\end{pmatrix}=R^\\top w,$$

    $$h(a)=h_0+H_1a+\\tfrac12\\big(a^\\top K_ia\\big)_{i\\le r}+C\\tanh(Wa+\\beta),\\qquad
    M(a)=Q(a)Q(a)^\\top+\\mu I_r,\\quad Q(a)=Q_0+\\textstyle\\sum_la_lQ_l,$$

    with the coefficients $h_0,H_1,K_i,C,Q_0,Q_l$ i.i.d. $\\mathcal N(0,\\text{scale}^2)$
    ($K_i$ symmetrised), the `features` rows of $W$ and $\\beta$ i.i.d. $\\mathcal N(0,1)$,
    $\\mu=$ `stiffness`, and $R$ Haar-distributed (the identity if not `rotate`).  The zero
    set is the graph $\\Gamma=\\{R\\,(a,h(a))\\}$: $k$-dimensional, with
    $\\mathrm{rank}\\,\\nabla^2L=r$ on all of it and the nonzero eigenvalues of $\\nabla^2L$ at
    least $\\mu$ (on $\\Gamma$, $\\nabla^2L=RJ^\\top MJR^\\top$ and $J=[-\\partial h,I_r]$ has
    singular values $\\ge1$).  The point is $R\\,(a_0,h(a_0))$ with
    $a_0\\sim\\mathcal N(0,\\text{scale}^2I_k)$.  Exact construction [derived]; the loss is
    float64 inside [`float64()`][limitlab.numerics.float64].

    **Arguments:**

    - `rng`: a `numpy.random.Generator` or an integer seed.
    - `tangent_dim`: $k=\\dim\\Gamma\\ge1$.
    - `normal_dim`: $r=\\mathrm{codim}\\,\\Gamma\\ge1$.
    - `features`: the number $F\\ge0$ of tanh features in $h$.
    - `scale`: the standard deviation of the random coefficients and of $a_0$.
    - `stiffness`: $\\mu>0$, the lower bound of $M(a)$.
    - `rotate`: rotate the coordinates by a random $R$ (otherwise $w=(a,b)$).

    **Returns:** a [`RandomManifoldLoss`][limitlab.numerics.RandomManifoldLoss].

    **Raises:** `ValueError` naming the argument for a bad dimension, feature count, scale or
    stiffness; `TypeError` for an `rng` that is neither a Generator nor an integer.

    **Example:**

    ```pycon
    >>> from limitlab.numerics import float64, random_quadratic_normal_loss
    >>> problem = random_quadratic_normal_loss(0, tangent_dim=2, normal_dim=1)
    >>> problem.point.shape
    (3,)
    >>> with float64():
    ...     print(float(problem.loss.loss(problem.point)) < 1e-28)
    True
    ```
    """
    if isinstance(rng, bool) or not isinstance(rng, np.random.Generator | numbers.Integral):
        raise TypeError(
            f"rng must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}"
        )
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(int(rng))
    k = _count("tangent_dim", tangent_dim, 1)
    r = _count("normal_dim", normal_dim, 1)
    n_features = _count("features", features, 0)
    scale = _positive_finite("scale", scale)
    mu = _positive_finite("stiffness", stiffness)

    quadratic = scale * rng.standard_normal((r, k, k))
    function = QuadraticNormalLoss(
        h0=scale * rng.standard_normal(r),
        h1=scale * rng.standard_normal((r, k)),
        quadratic=0.5 * (quadratic + quadratic.transpose(0, 2, 1)),
        weights=rng.standard_normal((n_features, k)),
        offsets=rng.standard_normal(n_features),
        mixing=scale * rng.standard_normal((r, n_features)),
        q0=scale * rng.standard_normal((r, r)),
        q1=scale * rng.standard_normal((k, r, r)),
        rotation=_haar_rotation(rng, k + r) if rotate else np.eye(k + r),
        stiffness=np.asarray(mu),
        tangent_dim=k,
        normal_dim=r,
    )
    a0 = scale * rng.standard_normal(k)

    def loss(w):
        return function(w)

    return RandomManifoldLoss(
        loss=Loss(loss),
        function=function,
        point=function.chart(a0),
        tangent_coordinates=a0,
    )
