r"""Mean-field two-layer networks on a finite data set: objective, potential, resampling bound
and the random-features dynamical central limit theorem in closed form.

Setting (`mean-field-clt.md` §2 of the project's theory reference; Chen, Rotskoff, Bruna &
Vanden-Eijnden, *A Dynamical Central Limit Theorem for Shallow Neural Networks*, NeurIPS 2020,
arXiv:2008.09623).  Units $\hat\varphi(x,\theta)=c\,\varphi(x,z)$, particles
$\theta=(c,z)$, a network $f_\mu=\int c\,\varphi(\cdot,z)\,\mu(d\theta)$ for a probability
measure $\mu$ over particles (a width-$m$ network is $\mu=\frac1m\sum_i\delta_{\theta_i}$),
a data measure $\nu=\sum_j\nu_j\delta_{x_j}$ (the empirical measure has $\nu_j=1/n$) and
targets $y_j=f^*(x_j)$.  The loss and its F/K decomposition [derived, exact]:

$$\mathcal L(\mu)=\tfrac12\lVert f^*-f_\mu\rVert_\nu^2
=C_f-\int F\,d\mu+\tfrac12\iint K\,d\mu\,d\mu,\qquad
F(\theta)=c\,F_z(z),\quad K(\theta,\theta')=cc'K_z(z,z'),$$

$C_f=\frac12\lVert f^*\rVert_\nu^2$, $F_z(z)=\langle f^*,\varphi(\cdot,z)\rangle_\nu$,
$K_z(z,z')=\langle\varphi(\cdot,z),\varphi(\cdot,z')\rangle_\nu$, and
$\lVert h\rVert_\nu^2=\sum_j\nu_jh(x_j)^2$.  Gradient descent in mean-field time (learning
rate multiplied by the width) is $\dot\theta_i=-\nabla_\theta V(\theta_i;\mu_t)$ with the
potential $V(\theta;\mu)=-F(\theta)+\int K(\theta,\theta')\mu(d\theta')$.

Measures over particles are weighted atoms $\mu=\sum_iw_i\delta_{(c_i,z_i)}$ with probability
weights $w$: a finite network ($w_i=1/m$), a large sample, or a quadrature of a continuous law.
Every result is exact for the measure it is given.

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import sympy as sp

from ._gauss_newton import _finite, _float_array
from ._parsing import parse_expression

__all__ = [
    "MeanFieldObjective",
    "RandomFeaturesSolution",
    "clt_covariance",
    "empirical_norm_squared",
    "mean_field_loss",
    "mean_field_objective",
    "mean_field_potential",
    "mean_field_prediction",
    "measure_two_norm_squared",
    "random_features_dynamics",
    "random_features_fluctuation",
    "resampling_bound",
    "two_norm_bound",
    "unit_function",
]

# Probability weights must sum to 1 within this absolute tolerance (quadrature weights of a few
# thousand nodes sum to 1 within ~1e-13; anything off by more is a normalisation mistake).
_WEIGHT_SUM_TOLERANCE = 1e-9
# Eigenvalues of the PSD matrix D^(1/2) K D^(1/2) below -this * max|lambda| are an error, above
# it round-off that is clipped to 0.
_NEGATIVE_ROUNDOFF = 1e-10


# --------------------------------------------------------------------------------------------
# argument checking


def _probability_weights(weights, size: int, name: str) -> np.ndarray:
    """Uniform weights for None, else a checked 1-D array of probability weights."""
    if size < 1:
        raise ValueError(f"{name}: need at least one point, got {size}")
    if weights is None:
        return np.full(size, 1.0 / size)
    what = f"a 1-D array of {size} finite weights >= 0 summing to 1"
    array = _float_array(weights, name, what)
    if array.shape != (size,):
        raise ValueError(f"{name} must be {what}, got shape {array.shape}")
    bad = array < 0
    if np.any(bad):
        raise ValueError(f"{name} must be {what}, got the value {array[bad][0]!r}")
    total = float(np.sum(array))
    if abs(total - 1.0) > _WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"{name} must be {what}, got weights summing to {total!r}")
    return array


def _vector(values, name: str, size: int | None, what: str = "finite real numbers") -> np.ndarray:
    array = _float_array(values, name, f"a 1-D array of {what}")
    if array.ndim != 1 or (size is not None and array.shape != (size,)):
        expected = "a 1-D array" if size is None else f"a 1-D array of length {size}"
        raise ValueError(f"{name} must be {expected}, got shape {array.shape}")
    return array


def _points(values, name: str) -> np.ndarray:
    """(k,) scalar points or (k, d) vector points, k >= 1, d >= 1, finite."""
    array = _float_array(values, name, "an array of finite real numbers")
    if array.ndim not in (1, 2) or array.shape[0] < 1 or (array.ndim == 2 and array.shape[1] < 1):
        raise ValueError(
            f"{name} must have shape (k,) (scalar points) or (k, d) (points in R^d), with "
            f"k, d >= 1, got shape {array.shape}"
        )
    return array


def _times(times) -> np.ndarray:
    array = np.atleast_1d(_float_array(times, "times", "finite times >= 0"))
    if array.ndim != 1:
        raise ValueError(f"times must be a number or a 1-D array, got shape {array.shape}")
    if np.any(array < 0):
        raise ValueError(f"times must be >= 0, got the value {array[array < 0][0]!r}")
    return array


# --------------------------------------------------------------------------------------------
# units


def _unit_names(dim: int, letter: str) -> list[str]:
    return [letter] if dim == 0 else [f"{letter}{k}" for k in range(1, dim + 1)]


def unit_function(expression, input_dim: int = 0, parameter_dim: int = 0) -> Callable:
    r"""A vectorised numpy function $\varphi(x,z)$ from a string or sympy expression.

    Variable names: `x` and `z` for scalar inputs and parameters (`input_dim=0`,
    `parameter_dim=0`), else `x1, ..., x{input_dim}` and `z1, ..., z{parameter_dim}`.  Strings
    go through the whitelist parser [`parse_expression`][limitlab.theory.parse_expression]
    (numbers become exact rationals); sympy expressions may only use symbols with those names.
    The result follows the calling convention of
    [`mean_field_objective`][limitlab.theory.mean_field_objective]: it takes broadcastable
    arrays `x`, `z` whose last axis holds the coordinates (no coordinate axis for dimension 0)
    and returns $\varphi$ with the broadcast shape.  It is lambdified with the `scipy` and
    `numpy` modules (so `erf` and `gamma` work on arrays).

    **Arguments:**

    - `expression`: a string such as `"exp(-(x - z)**2)"` or `"relu(x1*z1 + x2*z2)"`, or a
      sympy expression.
    - `input_dim`: $0$ for scalar inputs $x$, else the dimension $d\ge1$ of $x$.
    - `parameter_dim`: $0$ for a scalar parameter $z$, else its dimension $k\ge1$.

    **Returns:** the callable `phi(x, z)`.

    **Raises:** `ValueError` for negative dimensions, unknown names or a malformed string.

    **Example:**

    ```pycon
    >>> phi = unit_function("exp(-(x - z)**2)")
    >>> float(phi(np.array(1.0), np.array(1.0)))
    1.0
    ```
    """
    for name, value in (("input_dim", input_dim), ("parameter_dim", parameter_dim)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(
                f"{name} must be an integer >= 0 (0 for a scalar variable), got {value!r}"
            )
    x_names = _unit_names(int(input_dim), "x")
    z_names = _unit_names(int(parameter_dim), "z")
    symbols = {name: sp.Symbol(name, real=True) for name in x_names + z_names}
    if isinstance(expression, str):
        expr = parse_expression(expression, symbols, argument="unit")
    elif isinstance(expression, sp.Basic):
        expr = expression
        unknown = sorted(str(s) for s in expr.free_symbols if str(s) not in symbols)
        if unknown:
            raise ValueError(
                f"unit: the expression {expr} uses the symbols {unknown}; allowed names are "
                f"{x_names + z_names}"
            )
        # Rebind by name so that symbols with other assumptions (e.g. positive=True) match.
        expr = expr.xreplace({s: symbols[str(s)] for s in expr.free_symbols})
    else:
        raise ValueError(
            f"unit must be a string, a sympy expression or a callable, got {expression!r}"
        )
    compiled = sp.lambdify([symbols[n] for n in x_names + z_names], expr, ("scipy", "numpy"))

    def phi(x, z):
        x = np.asarray(x, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64)
        xs = [x] if input_dim == 0 else [x[..., k] for k in range(input_dim)]
        zs = [z] if parameter_dim == 0 else [z[..., k] for k in range(parameter_dim)]
        out = compiled(*xs, *zs)
        return np.broadcast_to(out, np.broadcast_shapes(xs[0].shape, zs[0].shape))

    phi.expression = expr
    return phi


def _feature_matrix(unit, data: np.ndarray, centres: np.ndarray) -> np.ndarray:
    if callable(unit):
        phi = unit
    else:
        phi = unit_function(
            unit,
            0 if data.ndim == 1 else data.shape[1],
            0 if centres.ndim == 1 else centres.shape[1],
        )
    x = data[:, None] if data.ndim == 1 else data[:, None, :]
    z = centres[None, :] if centres.ndim == 1 else centres[None, :, :]
    shape = (data.shape[0], centres.shape[0])
    try:
        values = np.asarray(phi(x, z), dtype=np.float64)
        values = np.broadcast_to(values, shape) if values.shape != shape else values
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"unit: calling it with x of shape {x.shape} and z of shape {z.shape} must give an "
            f"array broadcastable to (n, p) = {shape}; it failed with: {err}"
        ) from None
    bad = ~np.isfinite(values)
    if np.any(bad):
        j, i = np.argwhere(bad)[0]
        raise ValueError(
            f"unit: phi(x, z) is not finite ({values[j, i]!r}) at data point {j} and centre {i}"
        )
    return np.array(values)


# --------------------------------------------------------------------------------------------
# the objective on a finite data set


@dataclasses.dataclass(frozen=True, eq=False)
class MeanFieldObjective:
    r"""The mean-field objective of units $c\,\varphi(x,z)$ on a finite data measure.

    Built by [`mean_field_objective`][limitlab.theory.mean_field_objective] for fixed centres
    $z_1,\dots,z_p$ (the atoms of the particle measures that the other functions take).

    **Fields:**

    - `features`: $\Phi_{ji}=\varphi(x_j,z_i)$, shape `(n, p)`.
    - `targets`: $y_j=f^*(x_j)$, shape `(n,)`.
    - `data_weights`: $\nu_j$, shape `(n,)`, summing to 1.
    - `correlation`: $F_z(z_i)=\sum_j\nu_jy_j\varphi(x_j,z_i)$, shape `(p,)`.
    - `interaction`: $K_z(z_i,z_k)=\sum_j\nu_j\varphi(x_j,z_i)\varphi(x_j,z_k)$, shape `(p, p)`.
    - `target_energy`: $C_f=\frac12\sum_j\nu_jy_j^2$.
    """

    features: np.ndarray
    targets: np.ndarray
    data_weights: np.ndarray
    correlation: np.ndarray
    interaction: np.ndarray
    target_energy: float

    @property
    def size(self) -> int:
        """The number $p$ of centres."""
        return self.features.shape[1]


def mean_field_objective(unit, data, targets, centres, *, data_weights=None) -> MeanFieldObjective:
    r"""The terms $F_z$, $K_z$, $C_f$ of the mean-field loss for a finite data measure.

    $$F_z(z_i)=\sum_j\nu_j\,y_j\,\varphi(x_j,z_i),\qquad
    K_z(z_i,z_k)=\sum_j\nu_j\,\varphi(x_j,z_i)\varphi(x_j,z_k),\qquad
    C_f=\tfrac12\sum_j\nu_jy_j^2,$$

    so that $\mathcal L(\mu)=\tfrac12\lVert f^*-f_\mu\rVert_\nu^2=C_f-\sum_iw_ic_iF_z(z_i)
    +\tfrac12\sum_{ik}w_iw_kc_ic_kK_z(z_i,z_k)$ for $\mu=\sum_iw_i\delta_{(c_i,z_i)}$
    (`mean-field-clt.md` §2 [derived, exact]).  The normalisation is that of the loss
    $\frac1{2n}\sum_j(f(x_j)-y_j)^2$ for the default $\nu_j=1/n$.  A population measure is
    handled by passing a quadrature of it as `data` and `data_weights`.

    **Arguments:**

    - `unit`: $\varphi$ as a callable `phi(x, z)`, a string or a sympy expression (see
      [`unit_function`][limitlab.theory.unit_function] for the variable names).  A callable
      is called once with `x` of shape `(n, 1)` and `z` of shape `(1, p)` for scalar points,
      `(n, 1, d)` and `(1, p, k)` for vector points, and must return an array broadcastable to
      `(n, p)`.
    - `data`: the inputs $x_j$, shape `(n,)` (scalars) or `(n, d)`.
    - `targets`: $y_j$, shape `(n,)`.
    - `centres`: the parameters $z_i$, shape `(p,)` (scalars) or `(p, k)`.
    - `data_weights`: $\nu_j\ge0$ summing to 1 (default $1/n$).

    **Returns:** a [`MeanFieldObjective`][limitlab.theory.MeanFieldObjective].

    **Raises:** `ValueError` naming the argument for malformed shapes, non-finite values, bad
    weights, or a unit that fails or is not finite on the data.
    """
    data = _points(data, "data")
    centres = _points(centres, "centres")
    n = data.shape[0]
    targets = _vector(targets, "targets", n)
    nu = _probability_weights(data_weights, n, "data_weights")
    features = _feature_matrix(unit, data, centres)
    weighted = features * nu[:, None]
    correlation = _finite(weighted.T @ targets, "F_z")
    interaction = _finite(weighted.T @ features, "K_z")
    interaction = 0.5 * (interaction + interaction.T)
    energy = float(_finite(np.array(0.5 * np.sum(nu * targets**2)), "C_f"))
    return MeanFieldObjective(features, targets, nu, correlation, interaction, energy)


def _check_objective(objective) -> MeanFieldObjective:
    if not isinstance(objective, MeanFieldObjective):
        raise ValueError(
            "objective must be a MeanFieldObjective (built by mean_field_objective), got "
            f"{type(objective).__name__}"
        )
    return objective


def _particles(objective, output_weights, weights) -> tuple[np.ndarray, np.ndarray]:
    objective = _check_objective(objective)
    p = objective.size
    c = _vector(output_weights, "output_weights", p)
    w = _probability_weights(weights, p, "weights")
    return c, w


def empirical_norm_squared(values, data_weights=None) -> float:
    r"""$\lVert h\rVert_\nu^2=\sum_j\nu_j\,h(x_j)^2$, the squared norm of the data measure.

    With the default $\nu_j=1/n$ this is the empirical mean of $h(x_j)^2$ [definition].

    **Arguments:**

    - `values`: $h(x_j)$, shape `(n,)`.
    - `data_weights`: $\nu_j\ge0$ summing to 1 (default $1/n$).

    **Returns:** the squared norm, a float.

    **Raises:** `ValueError` naming the argument; `FloatingPointError` on overflow.
    """
    h = _vector(values, "values", None)
    nu = _probability_weights(data_weights, h.shape[0], "data_weights")
    return float(_finite(np.array(np.sum(nu * h**2)), "the squared norm"))


def mean_field_prediction(objective, output_weights, weights=None) -> np.ndarray:
    r"""The network $f_\mu(x_j)=\sum_iw_ic_i\varphi(x_j,z_i)$ on the data points.

    **Arguments:**

    - `objective`: a [`MeanFieldObjective`][limitlab.theory.MeanFieldObjective] (data and
      centres $z_i$).
    - `output_weights`: $c_i$, shape `(p,)`.
    - `weights`: probability weights $w_i$ of the atoms (default $1/p$, a width-$p$ network).

    **Returns:** $f_\mu(x_j)$, shape `(n,)`.

    **Raises:** `ValueError` naming the argument.
    """
    c, w = _particles(objective, output_weights, weights)
    return _finite(objective.features @ (w * c), "f_mu")


def mean_field_loss(objective, output_weights, weights=None) -> float:
    r"""The mean-field loss $\mathcal L(\mu)=\tfrac12\lVert f^*-f_\mu\rVert_\nu^2$.

    Equal to $C_f-\sum_iw_ic_iF_z(z_i)+\tfrac12\sum_{ik}w_iw_kc_ic_kK_z(z_i,z_k)$
    (`mean-field-clt.md` §2 [derived, exact]); evaluated in the residual form, which has no
    cancellation when the loss is small.

    **Arguments:** as [`mean_field_prediction`][limitlab.theory.mean_field_prediction].

    **Returns:** the loss, a float $\ge0$.

    **Raises:** `ValueError` naming the argument.
    """
    f = mean_field_prediction(objective, output_weights, weights)
    residual = objective.targets - f
    return float(_finite(np.array(0.5 * np.sum(objective.data_weights * residual**2)), "loss"))


def mean_field_potential(objective, output_weights, weights=None) -> np.ndarray:
    r"""The potential $V(\theta_i;\mu)$ at each atom $\theta_i=(c_i,z_i)$ of $\mu$.

    $$V(\theta;\mu)=\frac{\delta\mathcal L}{\delta\mu}(\theta)=-F(\theta)+\int K(\theta,\theta')
    \,\mu(d\theta')=c\,\Big(-F_z(z)+\sum_kw_kc_kK_z(z,z_k)\Big)
    =\langle c\,\varphi(\cdot,z),f_\mu-f^*\rangle_\nu$$

    (`mean-field-clt.md` §2 [derived, exact]).  Its $c$-derivative
    $V(\theta_i;\mu)/c_i$ is minus the velocity $\dot c_i$ of mean-field gradient descent.  To
    evaluate $V$ at points that are not atoms of $\mu$, add them as atoms of weight 0.

    **Arguments:** as [`mean_field_prediction`][limitlab.theory.mean_field_prediction].

    **Returns:** $V(\theta_i;\mu)$, shape `(p,)`.

    **Raises:** `ValueError` naming the argument.
    """
    c, w = _particles(objective, output_weights, weights)
    return _finite(c * (objective.interaction @ (w * c) - objective.correlation), "V")


def measure_two_norm_squared(output_weights, weights=None) -> float:
    r"""The squared "2-norm" of a particle measure, $\lVert\mu\rVert_2^2=\int c^2\,d\mu$.

    `mean-field-clt.md` §5 [reconstructed: the assumed meaning of the paper's "2-norm of the
    measure"].  It dominates the variation norm: $\int|c|\,d\mu\le\lVert\mu\rVert_2$.

    **Arguments:**

    - `output_weights`: $c_i$, shape `(p,)`.
    - `weights`: probability weights $w_i$ (default $1/p$).

    **Returns:** $\sum_iw_ic_i^2$.

    **Raises:** `ValueError` naming the argument.
    """
    c = _vector(output_weights, "output_weights", None)
    w = _probability_weights(weights, c.shape[0], "weights")
    return float(_finite(np.array(np.sum(w * c**2)), "the 2-norm"))


def resampling_bound(objective, output_weights, weights=None) -> float:
    r"""The Monte Carlo resampling error $V_\mu=\int\lVert c\varphi(\cdot,z)\rVert_\nu^2\,d\mu
    -\lVert f_\mu\rVert_\nu^2$.

    For $\mu=\mu_t$ this is $V_t=\mathbb E\lVert\bar g_t\rVert_\nu^2$, the limiting
    ($m\to\infty$) value of $m\,\mathbb E\lVert f^{(m)}-f_{\mu_t}\rVert_\nu^2$ for a width-$m$
    network whose neurons are resampled i.i.d. from $\mu_t$; at $t=0$ it is exactly the initial
    CLT fluctuation $\mathbb E\lVert g_0\rVert_\nu^2$ (`mean-field-clt.md` §4.3, §5 [derived,
    exact]).  Evaluated as $\sum_iw_i\lVert c_i\varphi(\cdot,z_i)-f_\mu\rVert_\nu^2$, equal
    because $\sum_iw_i=1$, which is $\ge0$ term by term.  Whether the paper's bound on the
    dynamical fluctuation uses $V_t$, $V_\infty$ or extra constants is not verified (§7, §11).

    **Arguments:** as [`mean_field_prediction`][limitlab.theory.mean_field_prediction].

    **Returns:** $V_\mu\ge0$.

    **Raises:** `ValueError` naming the argument.
    """
    c, w = _particles(objective, output_weights, weights)
    f = objective.features @ (w * c)
    deviations = objective.features * c[None, :] - f[:, None]
    per_atom = objective.data_weights @ deviations**2
    return float(_finite(np.array(np.sum(w * per_atom)), "V_t"))


def two_norm_bound(objective, output_weights, weights=None, *, unit_norm_bound=None) -> float:
    r"""The 2-norm upper bound $V_\mu\le\sup_z\lVert\varphi(\cdot,z)\rVert_\nu^2\int c^2\,d\mu$.

    `mean-field-clt.md` §5 [derived, exact inequality]: $V_\mu\le\int c^2\lVert\varphi(\cdot,z)
    \rVert_\nu^2\,d\mu\le C_\varphi\lVert\mu\rVert_2^2$.  By default $C_\varphi$ is the supremum
    over the support of $\mu$, $\max_i\lVert\varphi(\cdot,z_i)\rVert_\nu^2=\max_iK_z(z_i,z_i)$
    (the tightest value that is a bound for this $\mu$); pass a global constant such as
    $\sup_{z\in\mathbb S^{d-1}}\lVert\mathrm{ReLU}\langle z,\cdot\rangle\rVert_\nu^2\le1$ for
    $|x|\le1$ as `unit_norm_bound`.

    **Arguments:**

    - `objective`, `output_weights`, `weights`: as
      [`mean_field_prediction`][limitlab.theory.mean_field_prediction].
    - `unit_norm_bound`: $C_\varphi$, or `None` for the maximum over the atoms.

    **Returns:** $C_\varphi\sum_iw_ic_i^2$.

    **Raises:** `ValueError` naming the argument, also when `unit_norm_bound` is smaller than
    $\lVert\varphi(\cdot,z_i)\rVert_\nu^2$ for an atom (it would not be a supremum).
    """
    c, w = _particles(objective, output_weights, weights)
    largest = float(np.max(np.diag(objective.interaction)))
    if unit_norm_bound is None:
        constant = largest
    else:
        constant = float(_float_array(unit_norm_bound, "unit_norm_bound", "a finite number"))
        if constant < largest * (1 - 1e-12):
            raise ValueError(
                "unit_norm_bound must be >= sup_z ||phi(., z)||^2, at least the largest value on "
                f"the atoms, {largest!r}; got {constant!r}"
            )
    return float(_finite(np.array(constant * np.sum(w * c**2)), "the 2-norm bound"))


def clt_covariance(objective, output_weights, weights=None) -> np.ndarray:
    r"""The covariance of the CLT fluctuation of a resampled network on the data points.

    $$\mathbb E\,\bar g(x_j)\bar g(x_k)=\int c^2\varphi(x_j,z)\varphi(x_k,z)\,\mu(d\theta)
    -f_\mu(x_j)f_\mu(x_k),$$

    the covariance of $\sqrt m\,(f^{(m)}-f_\mu)$ for $m$ i.i.d. neurons from $\mu$, exact for
    every $m$ (`mean-field-clt.md` §4.3, §5 [literature, standard]).  At $\mu=\mu_0$ it is the
    initial CLT covariance of $g_0$; at $\mu=\mu_t$ that of the resampling part $\bar g_t$.
    Its $\nu$-trace $\sum_j\nu_jC_{jj}$ is [`resampling_bound`][limitlab.theory.resampling_bound].

    **Arguments:** as [`mean_field_prediction`][limitlab.theory.mean_field_prediction].

    **Returns:** the positive semi-definite matrix $C_{jk}$, shape `(n, n)`.

    **Raises:** `ValueError` naming the argument.
    """
    c, w = _particles(objective, output_weights, weights)
    f = objective.features @ (w * c)
    deviations = objective.features * c[None, :] - f[:, None]
    return _finite((deviations * w[None, :]) @ deviations.T, "the CLT covariance")


# --------------------------------------------------------------------------------------------
# random features: only c is trained


def _relative_decay(x: np.ndarray) -> np.ndarray:
    r"""$\phi_1(x)=(1-e^{-x})/x$ for $x\ge0$, $\phi_1(0)=1$, without cancellation."""
    out = np.ones(x.shape)
    positive = x > 0
    out[positive] = -np.expm1(-x[positive]) / x[positive]
    return out


def _first_divided_difference(lam: np.ndarray, t: float) -> np.ndarray:
    r"""$E_{kl}(t)=\int_0^te^{-\lambda_k(t-s)}e^{-\lambda_ls}\,ds
    =t\,e^{-\min(\lambda_k,\lambda_l)t}\,\phi_1(|\lambda_k-\lambda_l|t)$."""
    low = np.minimum(lam[:, None], lam[None, :])
    gap = np.abs(lam[:, None] - lam[None, :])
    return t * np.exp(-low * t) * _relative_decay(gap * t)


_SERIES_TERMS = 24


def _second_divided_difference(lam: np.ndarray, t: float) -> np.ndarray:
    r"""$Q_{kl}(t)=\int_0^tE_{kl}(s)\,ds$, the divided difference $f[\lambda_k,\lambda_l,0]$ of
    $f(\lambda)=e^{-\lambda t}$.

    With $\alpha=t\max(\lambda_k,\lambda_l)$, $\beta=t\min(\lambda_k,\lambda_l)$:
    $Q=t^2(\phi_1(\beta)-e^{-\beta}\phi_1(\alpha-\beta))/\alpha$ for $\alpha\ge1$ (the two terms
    differ by a bounded factor: no catastrophic cancellation), and for $\alpha<1$ the series
    $Q=t^2\sum_{k\ge0}(-1)^kh_k(\alpha,\beta)/(k+2)!$, $h_k=\sum_{i\le k}\alpha^i\beta^{k-i}$,
    truncated after 24 terms (remainder below $10^{-24}$).
    """
    high = t * np.maximum(lam[:, None], lam[None, :])
    low = t * np.minimum(lam[:, None], lam[None, :])
    out = np.empty(high.shape)
    large = high >= 1
    a, b = high[large], low[large]
    out[large] = (_relative_decay(b) - np.exp(-b) * _relative_decay(a - b)) / a
    a, b = high[~large], low[~large]
    h = np.ones(a.shape)
    power_b = np.ones(a.shape)
    total = 0.5 * h
    factorial = 2.0
    for k in range(1, _SERIES_TERMS):
        power_b = power_b * b
        h = a * h + power_b
        factorial *= k + 2
        total = total + (-1) ** k * h / factorial
    out[~large] = total
    return t * t * out


@dataclasses.dataclass(frozen=True, eq=False)
class RandomFeaturesSolution:
    r"""Mean-field solution and limiting fluctuation of a random-features network.

    Built by [`random_features_dynamics`][limitlab.theory.random_features_dynamics]; every
    array has the times along its first axis.

    **Fields:**

    - `times`: the times $t$, shape `(T,)`.
    - `prediction`: $f_t(x_j)$ on the training points, shape `(T, n)`.
    - `loss`: $\tfrac12\lVert f_t-f^*\rVert_\nu^2$, shape `(T,)`.
    - `fluctuation`: $\mathbb E\lVert g_t\rVert_\nu^2=\lim_m m\,\mathbb E\lVert f^{(m)}_t-f_t
      \rVert_\nu^2$ on the training measure, shape `(T,)`.
    - `resampling_bound`: $V_t=\int\lVert c\varphi\rVert_\nu^2d\mu_t-\lVert f_t\rVert_\nu^2$,
      shape `(T,)`.
    - `two_norm_squared`: $\int c^2\,d\mu_t$, shape `(T,)`.
    - `output_weights`: $c_t$ of each atom, shape `(T, p)`.
    - `kernel_eigenvalues`: eigenvalues of $D^{1/2}KD^{1/2}$ (ascending), shape `(n,)`.
    - `test_prediction`, `test_loss`, `test_fluctuation`, `test_resampling_bound`: the same on
      the test measure, or `None` without one.
    """

    times: np.ndarray
    prediction: np.ndarray
    loss: np.ndarray
    fluctuation: np.ndarray
    resampling_bound: np.ndarray
    two_norm_squared: np.ndarray
    output_weights: np.ndarray
    kernel_eigenvalues: np.ndarray
    test_prediction: np.ndarray | None = None
    test_loss: np.ndarray | None = None
    test_fluctuation: np.ndarray | None = None
    test_resampling_bound: np.ndarray | None = None


def _centred_norm(contributions: np.ndarray, w: np.ndarray, nu: np.ndarray | None) -> float:
    """sum_i w_i ||h_i - sum_k w_k h_k||^2 over the columns h_i (nu-weighted rows, or plain)."""
    centred = contributions - contributions @ w[:, None]
    squares = centred**2 if nu is None else centred**2 * nu[:, None]
    return float(np.sum(squares @ w))


def random_features_dynamics(
    objective, output_weights, times, *, weights=None, test=None
) -> RandomFeaturesSolution:
    r"""Random features in the mean-field scaling: $f_t$ and the dynamical CLT in closed form.

    Only the output weights are trained; the centres $z$ stay at their initial values.  With
    $\mu_0=\sum_iW_i\delta_{(c_i,z_i)}$, the data measure $\nu$ (all $\nu_j>0$),
    $D=\mathrm{diag}(\nu)$, the kernel $K(x,x')=\int\varphi(x,z)\varphi(x',z)\,\mu_0(dz)$ on
    the training points and residual $r_t=f_t-y$, mean-field gradient descent
    $\dot c(\theta)=-\langle\varphi(\cdot,z),f_t-f^*\rangle_\nu$ gives the linear flow
    (`mean-field-clt.md` §5, §9.2 [derived, exact])

    $$\partial_tf_t=-KD\,(f_t-y),\qquad r_t=D^{-1/2}e^{-St}D^{1/2}r_0,\qquad
    S=D^{1/2}KD^{1/2}=U\Lambda U^\top,$$

    $c_t(\theta)=c-\varphi(X,z)^\top D\int_0^tr_s\,ds$, and at a test point
    $f_t(x)=f_0(x)-K(x,X)D\int_0^tr_s\,ds$.  The same formulas with $\mu_0=\frac1m\sum_i
    \delta_{\theta_i}$ give the exact gradient flow of a width-$m$ network.

    *Fluctuation.*  For $m$ i.i.d. atoms, $K^{(m)}=K+m^{-1/2}\delta K$ and
    $f^{(m)}_0=f_0+m^{-1/2}\bar g_0$; differentiating $e^{-K^{(m)}Dt}$ gives the limit of
    $g_t=\sqrt m(f^{(m)}_t-f_t)$ (reference §5):

    $$g_t=e^{-KDt}\bar g_0-\int_0^te^{-KD(t-s)}\,\delta K\,D\,e^{-KDs}\,ds\;r_0 .$$

    $(\bar g_0,\delta K)=\int(c\varphi,\varphi\varphi^\top)\,d\omega_0$ is linear in the Gaussian
    measure $\omega_0$ with covariance $\mathrm{Cov}_{\mu_0}$, so $g_t=\int h_t\,d\omega_0$ with
    the influence $h_t(\theta)$ of one atom and, exactly,
    $\mathbb E\lVert g_t\rVert_\nu^2=\int\lVert h_t-\bar h_t\rVert_\nu^2\,d\mu_0$,
    $\bar h_t=\int h_t\,d\mu_0$.  In the eigenbasis, with $a(\theta)=U^\top D^{1/2}\varphi(X,z)$
    and $b=U^\top D^{1/2}r_0$, the training-point influence is (in the coordinates
    $U^\top D^{1/2}$, in which $\lVert\cdot\rVert_\nu$ is Euclidean)

    $$\eta_k(t)=a_k\Big(c\,e^{-\lambda_kt}-\sum_lE_{kl}(t)\,a_lb_l\Big),\qquad
    E_{kl}(t)=\int_0^te^{-\lambda_k(t-s)}e^{-\lambda_ls}ds=\frac{e^{-\lambda_lt}-e^{-\lambda_kt}}
    {\lambda_k-\lambda_l},$$

    and at a test point $x$, with $\psi=\varphi(x,z)$ and $M=K(x,X)D^{1/2}U$,
    $\gamma(t)=c_t(\theta)\,\psi-M\int_0^t\eta(s)\,ds$, where
    $\int_0^t\eta_k=a_k(c\,P_k-\sum_lQ_{kl}a_lb_l)$, $P_k=\int_0^te^{-\lambda_ks}ds$,
    $Q_{kl}=\int_0^tE_{kl}$ [derived here; checked against a direct ODE integration, the
    Fréchet derivative of the matrix exponential, finite differences of the weights and Monte
    Carlo over feature draws in the tests].  The divided differences are evaluated without
    cancellation, also for equal or nearly equal eigenvalues.

    Consequences: $\mathbb E\lVert g_0\rVert^2=V_0$; if $S$ is positive definite, the training
    fluctuation tends to 0 (interpolation); if $f_0=y$ on the data it is non-increasing.  In
    general it is **not** monotone in $t$ (the $\delta K$ term starts at 0).

    **Arguments:**

    - `objective`: a [`MeanFieldObjective`][limitlab.theory.MeanFieldObjective] on the training
      points with the centres $z_i$ of the atoms of $\mu_0$; all data weights must be $>0$.
    - `output_weights`: the initial $c_i$ of the atoms, shape `(p,)`.
    - `times`: $t\ge0$, a number or a 1-D array (mean-field time: learning rate times width).
    - `weights`: probability weights $W_i$ of the atoms of $\mu_0$ (default $1/p$).
    - `test`: optional `MeanFieldObjective` on test points with the same centres.

    **Returns:** a [`RandomFeaturesSolution`][limitlab.theory.RandomFeaturesSolution].

    **Raises:** `ValueError` naming the argument; `FloatingPointError` if a result is not
    finite.
    """
    c, w = _particles(objective, output_weights, weights)
    nu = objective.data_weights
    if np.any(nu <= 0):
        raise ValueError(
            "objective: random_features_dynamics needs data_weights > 0 on every training point "
            f"(got {nu[nu <= 0][0]!r}); put zero-weight points into `test` instead"
        )
    t_grid = _times(times)
    if test is not None:
        test = _check_objective(test)
        if test.size != objective.size:
            raise ValueError(
                f"test must have the same p = {objective.size} centres as objective, got "
                f"{test.size}"
            )
    phi = objective.features
    root = np.sqrt(nu)
    kernel = (phi * w[None, :]) @ phi.T
    symmetric = root[:, None] * kernel * root[None, :]
    lam, U = np.linalg.eigh(0.5 * (symmetric + symmetric.T))
    scale = float(np.max(np.abs(lam))) if lam.size else 0.0
    if np.any(lam < -_NEGATIVE_ROUNDOFF * max(scale, 1e-300)):
        raise FloatingPointError("the kernel Gram matrix has a negative eigenvalue")
    lam = np.maximum(lam, 0.0)
    A = U.T @ (root[:, None] * phi)  # a(theta_i) in the columns
    f0 = phi @ (w * c)
    b = U.T @ (root * (f0 - objective.targets))
    if test is not None:
        psi = test.features
        M = ((psi * w[None, :]) @ phi.T) @ (root[:, None] * U)
        test_f0 = psi @ (w * c)

    T = t_grid.shape[0]
    out = {key: np.empty(T) for key in ("loss", "fluctuation", "resampling", "two_norm")}
    prediction = np.empty((T, phi.shape[0]))
    weights_t = np.empty((T, c.shape[0]))
    if test is not None:
        test_out = {key: np.empty(T) for key in ("loss", "fluctuation", "resampling")}
        test_prediction = np.empty((T, psi.shape[0]))
    Ab = A * b[:, None]
    for index, t in enumerate(t_grid):
        decay = np.exp(-lam * t)
        integral = t * _relative_decay(lam * t)
        residual = U @ (decay * b) / root
        prediction[index] = objective.targets + residual
        out["loss"][index] = 0.5 * np.sum(nu * residual**2)
        c_t = c - A.T @ (integral * b)
        weights_t[index] = c_t
        out["two_norm"][index] = np.sum(w * c_t**2)
        out["resampling"][index] = _centred_norm(A * c_t[None, :], w, None)
        E = _first_divided_difference(lam, t)
        eta = A * (decay[:, None] * c[None, :] - E @ Ab)
        out["fluctuation"][index] = _centred_norm(eta, w, None)
        if test is not None:
            f_test = test_f0 - M @ (integral * b)
            test_prediction[index] = f_test
            test_out["loss"][index] = 0.5 * np.sum(test.data_weights * (f_test - test.targets) ** 2)
            test_out["resampling"][index] = _centred_norm(psi * c_t[None, :], w, test.data_weights)
            Q = _second_divided_difference(lam, t)
            eta_integral = A * (integral[:, None] * c[None, :] - Q @ Ab)
            gamma = psi * c_t[None, :] - M @ eta_integral
            test_out["fluctuation"][index] = _centred_norm(gamma, w, test.data_weights)

    result = RandomFeaturesSolution(
        times=t_grid,
        prediction=_finite(prediction, "f_t"),
        loss=_finite(out["loss"], "the loss"),
        fluctuation=_finite(out["fluctuation"], "E||g_t||^2"),
        resampling_bound=_finite(out["resampling"], "V_t"),
        two_norm_squared=_finite(out["two_norm"], "the 2-norm"),
        output_weights=_finite(weights_t, "c_t"),
        kernel_eigenvalues=lam,
    )
    if test is None:
        return result
    return dataclasses.replace(
        result,
        test_prediction=_finite(test_prediction, "f_t on the test points"),
        test_loss=_finite(test_out["loss"], "the test loss"),
        test_fluctuation=_finite(test_out["fluctuation"], "the test fluctuation"),
        test_resampling_bound=_finite(test_out["resampling"], "V_t on the test points"),
    )


def random_features_fluctuation(objective, output_weights, times, *, weights=None) -> np.ndarray:
    r"""The limiting training-set fluctuation $\mathbb E\lVert g_t\rVert_\nu^2$ of random features.

    $\lim_{m\to\infty}m\,\mathbb E\lVert f^{(m)}_t-f_t\rVert_\nu^2$ for a width-$m$ network with
    i.i.d. atoms from $\mu_0$ in which only $c$ is trained; the `fluctuation` field of
    [`random_features_dynamics`][limitlab.theory.random_features_dynamics], which derives it
    [derived, exact for the given atoms].

    **Arguments:** as [`random_features_dynamics`][limitlab.theory.random_features_dynamics]
    (no test points).

    **Returns:** $\mathbb E\lVert g_t\rVert_\nu^2$, shape `(T,)`.

    **Raises:** as [`random_features_dynamics`][limitlab.theory.random_features_dynamics].
    """
    return random_features_dynamics(objective, output_weights, times, weights=weights).fluctuation
