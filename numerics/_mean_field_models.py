"""Mean-field two-layer networks: particles, data measures and the built-in models.

A shallow network in the mean-field scaling (mean-field-clt.md §2 [notation reconstructed]) is a
weighted particle system $p=(c_i,z_i,w_i)_{i\\le P}$,

$$f_p(x)=\\sum_{i=1}^Pw_i\\,c_i\\,\\varphi(x;z_i),$$

with $w_i=1/m$ for a width-$m$ network ($f=\\frac1m\\sum_ic_i\\varphi(x;z_i)$) and quadrature
weights $W_k$ ($\\sum_kW_k=1$) for a discretised measure $\\mu=\\sum_kW_k\\delta_{\\theta_k}$.
[`Particles`][limitlab.numerics.Particles] holds the three arrays.

The squared loss $\\mathcal L=\\frac12\\lVert f-f^*\\rVert_\\nu^2$ is taken against a data measure
$\\nu$, given in one of two forms:

- [`DataMeasure`][limitlab.numerics.DataMeasure]: nodes $x_j$, targets $y_j=f^*(x_j)$ and weights
  $\\nu_j$; $\\lVert h\\rVert^2_\\nu=\\sum_j\\nu_jh(x_j)^2$.  A training set has $\\nu_j=1/n$ (the
  loss $\\frac1{2n}\\sum_j(f(x_j)-y_j)^2$); a population measure is a quadrature (e.g. a
  trapezoid grid for Lebesgue measure on $\\mathbb R$).
- [`KernelMeasure`][limitlab.numerics.KernelMeasure]: the population in closed form through the
  decomposition of §2, $\\mathcal L=\\frac12\\lVert f^*\\rVert^2-\\int F\\,d\\mu+\\frac12\\iint K\\,d\\mu\\,d\\mu$
  with $F(\\theta)=c\\,F_z(z)$, $K(\\theta,\\theta')=cc'K_z(z,z')$.

A [`MeanFieldModel`][limitlab.numerics.MeanFieldModel] bundles the unit $\\varphi$, the training
and test measures and the initial law $\\mu_0$ (sampler and, where there is one, a quadrature).
The built-in models are the 1-D Gaussian units of §9.1 and the ReLU teacher–student of §9.4;
[`mean_field_model`][limitlab.numerics.mean_field_model] builds them by name.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, ArrayLike, Float, Key
from ._precision import float64
from ._sphere_sampling import sample_sphere

__all__ = [
    "MEAN_FIELD_MODELS",
    "DataMeasure",
    "KernelMeasure",
    "MeanFieldModel",
    "Particles",
    "gaussian_units_model",
    "initial_particles",
    "mean_field_model",
    "reference_particles",
    "relu_teacher_student_model",
]

MEAN_FIELD_MODELS = ("gaussian_1d", "gaussian_1d_interpolation", "relu_teacher_student")
"""Names accepted by [`mean_field_model`][limitlab.numerics.mean_field_model]."""


# --------------------------------------------------------------------------------------------
# argument checks


def _int_at_least(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _finite_real(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, np.ndarray | jax.Array) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be a finite real number > 0, got {value!r}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be a finite real number >= 0, got {value!r}")
    return float(value)


def _finite_array(name: str, value, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array, got {type(value).__name__}") from None
    except jax.errors.TracerArrayConversionError:
        raise ValueError(f"{name} must be a concrete array, not a traced value") from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and array.ndim not in allowed:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(array)))} "
                         "non-finite value(s)")
    return array


# --------------------------------------------------------------------------------------------
# particles and measures


class Particles(NamedTuple):
    """A weighted particle system $(c_i,z_i,w_i)_{i\\le P}$: $f(x)=\\sum_iw_ic_i\\varphi(x;z_i)$.

    - `c`: `(P,)` output weights $c_i$.
    - `z`: `(P, q)` unit parameters $z_i$ (`q = 1` for the 1-D model, `q = d` for ReLU units).
    - `w`: `(P,)` particle weights: $1/m$ for a width-$m$ network, quadrature weights $W_k$
      ($\\sum_kW_k=1$) for a discretised measure.

    A pytree (a `NamedTuple`), so it passes through `jit`, `vmap` and `run_ensemble`.
    """

    c: Float[Array, " P"]
    z: Float[Array, "P q"]
    w: Float[Array, " P"]


class DataMeasure(eqx.Module):
    """A data measure on nodes: $\\nu=\\sum_j\\nu_j\\delta_{x_j}$ with targets $y_j=f^*(x_j)$.

    $\\lVert h\\rVert_\\nu^2=\\sum_j\\nu_jh(x_j)^2$ and the loss is
    $\\mathcal L=\\frac12\\sum_j\\nu_j(f(x_j)-y_j)^2$ (mean-field-clt.md §2, §10.1: the ½ is part
    of the convention that fixes the time scale).

    **Arguments:**

    - `x`: `(n, ...)` nodes; `x[j]` is what the unit receives as its input.
    - `y`: `(n,)` target values $f^*(x_j)$.
    - `weights`: `(n,)` weights $\\nu_j\\ge0$; default $1/n$ (a training set: the loss is
      $\\frac1{2n}\\sum_j(f(x_j)-y_j)^2$).  Quadrature weights make it a population measure.

    **Raises:** `ValueError` naming the argument for non-finite values, mismatched lengths,
    negative weights or an empty set.
    """

    x: Float[Array, "n ..."]
    y: Float[Array, " n"]
    weights: Float[Array, " n"]

    def __init__(self, x: Float[ArrayLike, "n ..."], y: Float[ArrayLike, " n"],
                 weights: Float[ArrayLike, " n"] | None = None):
        x = _finite_array("x", x)
        y = _finite_array("y", y, ndim=1)
        if x.ndim < 1 or x.shape[0] < 1:
            raise ValueError(f"x must have at least one node (shape (n, ...)), got {x.shape}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"y must have one value per node ({x.shape[0]}), got {y.shape[0]}")
        if weights is None:
            weights = np.full(x.shape[0], 1.0 / x.shape[0])
        weights = _finite_array("weights", weights, ndim=1)
        if weights.shape[0] != x.shape[0]:
            raise ValueError(
                f"weights must have one value per node ({x.shape[0]}), got {weights.shape[0]}"
            )
        if np.any(weights < 0):
            raise ValueError(f"weights must be >= 0, got min {weights.min()!r}")
        self.x, self.y, self.weights = x, y, weights


class KernelMeasure(eqx.Module):
    """A population measure in closed form: the potential and interaction kernel of §2.

    $F_z(z)=\\langle f^*,\\varphi(\\cdot;z)\\rangle_\\nu$,
    $K_z(z,z')=\\langle\\varphi(\\cdot;z),\\varphi(\\cdot;z')\\rangle_\\nu$ and
    $\\lVert f^*\\rVert^2_\\nu$, so that for $f_p=\\sum_iw_ic_i\\varphi(\\cdot;z_i)$
    $\\lVert f_p-f^*\\rVert^2_\\nu=\\lVert f^*\\rVert^2-2\\sum_iw_ic_iF_z(z_i)
    +\\sum_{ik}w_ic_iw_kc_kK_z(z_i,z_k)$ (mean-field-clt.md §2 [derived]).  Cost $O(P^2)$ per
    evaluation, against $O(Pn)$ for a [`DataMeasure`][limitlab.numerics.DataMeasure].

    **Arguments:**

    - `potential`: $F_z(z)$, a JAX callable of one `(q,)` parameter returning a scalar.
    - `kernel`: $K_z(z,z')$, symmetric, JAX-traceable to second order.  At coincident arguments
      its first derivatives must be right and its derivatives finite (a kernel that is not
      smooth on the diagonal, such as the arc-cosine kernel, is written so that they are).
    - `target_norm2`: $\\lVert f^*\\rVert_\\nu^2\\ge0$.
    - `mixed_diagonal`: optional $M(z)=\\nabla_z\\nabla_{z'}K_z(z,z')\\big|_{z'=z}=
      \\int\\nabla_z\\varphi\\,\\nabla_z\\varphi^\\top d\\nu$, `(q, q)`, for kernels whose mixed
      second derivative on the diagonal autodiff cannot give (needed only by the
      linear-response norm).  `None`: autodiff of `kernel`.
    """

    potential: Callable
    kernel: Callable
    target_norm2: float
    mixed_diagonal: Callable | None = None

    def __init__(self, potential: Callable, kernel: Callable, target_norm2: float,
                 mixed_diagonal: Callable | None = None):
        for name, fn in (("potential", potential), ("kernel", kernel)):
            if not callable(fn):
                raise TypeError(f"{name} must be a JAX callable, got {type(fn).__name__}")
        if mixed_diagonal is not None and not callable(mixed_diagonal):
            raise TypeError(
                f"mixed_diagonal must be a JAX callable or None, got {type(mixed_diagonal).__name__}"
            )
        self.potential, self.kernel, self.mixed_diagonal = potential, kernel, mixed_diagonal
        self.target_norm2 = _finite_real("target_norm2", target_norm2, nonnegative=True)


class MeanFieldModel(eqx.Module):
    """A mean-field two-layer model: unit, training and test measures, initial law.

    Built by [`gaussian_units_model`][limitlab.numerics.gaussian_units_model],
    [`relu_teacher_student_model`][limitlab.numerics.relu_teacher_student_model] or
    [`mean_field_model`][limitlab.numerics.mean_field_model]; or directly for a new model.

    **Arguments:**

    - `name`: a label.
    - `unit`: $\\varphi(x;z)$, a JAX callable of one input `x` (a node of the measures) and one
      `(q,)` parameter `z`, returning a scalar; differentiable in `z`.
    - `train`: the training measure ([`DataMeasure`][limitlab.numerics.DataMeasure] or
      [`KernelMeasure`][limitlab.numerics.KernelMeasure]): the loss that is descended.
    - `test`: the measure of the test norm (evaluation only).
    - `sample`: `sample(key, m) -> (c, z)`, `m` i.i.d. draws from $\\mu_0$, shapes `(m,)` and
      `(m, q)`; JAX-traceable (it runs inside [`run_ensemble`][limitlab.numerics.run_ensemble]).
    - `z_dim`: $q$.
    - `quadrature`: optional `quadrature(*sizes) -> Particles`, a quadrature of $\\mu_0$.

    Compiled functions take the model whole: its arrays are traced, its callables static
    (hashed by identity: reuse one model object to reuse compilations).
    """

    name: str = eqx.field(static=True)
    unit: Callable
    train: DataMeasure | KernelMeasure
    test: DataMeasure | KernelMeasure
    sample: Callable
    z_dim: int = eqx.field(static=True)
    quadrature: Callable | None = None

    def __check_init__(self):
        if not callable(self.unit) or not callable(self.sample):
            raise TypeError("unit and sample must be callables")
        for name in ("train", "test"):
            if not isinstance(getattr(self, name), DataMeasure | KernelMeasure):
                raise TypeError(
                    f"{name} must be a DataMeasure or a KernelMeasure, got "
                    f"{type(getattr(self, name)).__name__}"
                )


def initial_particles(model: MeanFieldModel, width: int, *, key: Key) -> Particles:
    """A width-$m$ network at initialisation: $m$ i.i.d. draws $\\theta_i\\sim\\mu_0$, $w_i=1/m$.

    **Raises:** `ValueError` if `width` is not an integer $\\ge1$.
    """
    width = _int_at_least("width", width, 1)
    c, z = model.sample(key, width)
    dtype = jnp.result_type(float)
    return Particles(jnp.asarray(c, dtype), jnp.asarray(z, dtype), jnp.full((width,), 1.0 / width,
                                                                           dtype))


def reference_particles(
    model: MeanFieldModel,
    size: int | tuple[int, ...] | None = None,
    *,
    key: Key | None = None,
) -> Particles:
    """A discretisation of $\\mu_0$ for the mean-field limit (mean-field-clt.md §6, §10.3).

    - `key=None`: the model's quadrature (nodes $\\theta_k$, weights $W_k$, $\\sum W_k=1$);
      `size` is passed on (e.g. `(64, 10)` for the 1-D model; its default when `None`).
    - with `key`: a wide network of `size` i.i.d. particles, $W_k=1/M$ (the reference
      recommends $M\\ge64m$ against width-$m$ networks).

    **Returns:** float64 [`Particles`][limitlab.numerics.Particles] (numpy arrays), whatever
    JAX's default precision.

    **Raises:** `ValueError` if the model has no quadrature and no `key` is given, or `size` is
    not valid.
    """
    if key is None:
        if model.quadrature is None:
            raise ValueError(
                f"model {model.name!r} has no quadrature of its initial law; pass key= (and an "
                "integer size) for a wide i.i.d. reference network"
            )
        sizes = () if size is None else (size if isinstance(size, tuple) else (size,))
        make = lambda: model.quadrature(*sizes)  # noqa: E731
    elif size is None:
        raise ValueError("size must be given with key= (the number of i.i.d. particles M)")
    else:
        make = lambda: initial_particles(model, size, key=key)  # noqa: E731
    # A reference is compared with float64 simulations: build it in float64 whatever the
    # caller's JAX setting, and hand it back as numpy arrays, which keep their dtype.
    with float64():
        return Particles(*(np.asarray(a, dtype=np.float64) for a in make()))


# --------------------------------------------------------------------------------------------
# 1-D Gaussian units (§9.1)

_GAUSS_CENTRES = np.array([-2.0, 0.0, 2.0])
_GAUSS_VARIANCES = np.array([0.5, 1.0, 0.5])
_GAUSS_AMPLITUDES = np.array([1.0, -2.0, 1.0])


def _normal_pdf(x, mean, variance):
    return jnp.exp(-0.5 * (x - mean) ** 2 / variance) / jnp.sqrt(2 * jnp.pi * variance)


def _np_normal_pdf(x, mean, variance):
    return np.exp(-0.5 * (x - mean) ** 2 / variance) / np.sqrt(2 * np.pi * variance)


def _gaussian_target(x: np.ndarray) -> np.ndarray:
    """$f^*(x)=\\frac13\\sum_kc^*_k\\mathcal N(x;y^*_k,s^{*2}_k)$ (§9.1)."""
    x = np.asarray(x, dtype=np.float64)[..., None]
    return np.sum(_GAUSS_AMPLITUDES * _np_normal_pdf(x, _GAUSS_CENTRES, _GAUSS_VARIANCES),
                  axis=-1) / 3.0


def _trapezoid_grid(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(lo, hi, n)
    h = (hi - lo) / (n - 1)
    weights = np.full(n, h)
    weights[[0, -1]] = h / 2
    return x, weights


def _gaussian_quadrature(n_y: int = 64, n_c: int = 10) -> Particles:
    """Tensor Gauss–Legendre ($y$ on $[-2,2]$) x Gauss–Hermite ($c\\sim\\mathcal N(0,1)$)."""
    n_y = _int_at_least("n_y", n_y, 1)
    n_c = _int_at_least("n_c", n_c, 1)
    ty, wy = np.polynomial.legendre.leggauss(n_y)
    tc, wc = np.polynomial.hermite_e.hermegauss(n_c)
    wy, wc = wy / wy.sum(), wc / wc.sum()
    y = np.repeat(2.0 * ty, n_c)
    c = np.tile(tc, n_y)
    w = np.repeat(wy, n_c) * np.tile(wc, n_y)
    dtype = jnp.result_type(float)
    return Particles(jnp.asarray(c, dtype), jnp.asarray(y[:, None], dtype), jnp.asarray(w, dtype))


def gaussian_units_model(
    variant: str = "population",
    *,
    unit_variance: float = 0.5,
    grid: tuple[float, float, int] = (-10.0, 10.0, 81),
    test_grid: tuple[float, float, int] = (-5.0, 5.0, 201),
    n_train: int = 8,
    closed_form: bool = False,
) -> MeanFieldModel:
    """The 1-D Gaussian-unit model of mean-field-clt.md §9.1.

    Unit $\\varphi(x;y)=\\mathcal N(x;y,s^2)$ (Gaussian density in $x$ with mean $y$), $s^2=$
    `unit_variance` (0.5), particle $\\theta=(c,y)$, $q=1$; target
    $f^*(x)=\\frac13\\sum_{k=1}^3c^*_k\\mathcal N(x;y^*_k,s^{*2}_k)$, $y^*=(-2,0,2)$,
    $s^{*2}=(0.5,1,0.5)$, $c^*=(1,-2,1)$; initial law
    $\\mu_0=\\mathrm{Unif}[-2,2](y)\\otimes\\mathcal N(0,1)(c)$, hence $f_0=0$ and
    $V_0=\\mathbb E[c^2]K_y(y,y)=1/\\sqrt{4\\pi s^2}$ ($=1/\\sqrt{2\\pi}$ at $s^2=0.5$)
    [constants: the public notebook of `rotskoff/neuron-birth-death`; closed forms derived].

    Variants:

    - `"population"`: $\\nu$ = Lebesgue measure on $\\mathbb R$, train and test.  As a trapezoid
      grid (`grid = (lo, hi, n)`, default 81 nodes on $[-10,10]$): for these Gaussians
      (products of variance $\\ge s^2/2$) the trapezoid rule is exact to about
      $e^{-\\pi^2s^2/h^2}$, i.e. to round-off, while particles stay well inside the grid
      [derived; checked against the closed form].  With `closed_form=True` a
      [`KernelMeasure`][limitlab.numerics.KernelMeasure] instead:
      $F_y(y)=\\frac13\\sum_kc^*_k\\mathcal N(y;y^*_k,s^{*2}_k+s^2)$,
      $K_y(y,y')=\\mathcal N(y;y',2s^2)$,
      $\\lVert f^*\\rVert^2=\\frac19\\sum_{kl}c^*_kc^*_l\\mathcal N(y^*_k;y^*_l,s^{*2}_k+s^{*2}_l)$.
    - `"interpolation"`: train on `n_train` (8) equispaced points of $[-3,3]$ with weights
      $1/n$ (loss $\\frac1{2n}\\sum_j(f(x_j)-f^*(x_j))^2$); test norm: Lebesgue on a trapezoid
      grid of $[-5,5]$ (`test_grid`).  The reference integrates it to $T=200$.

    The quadrature of $\\mu_0$ is the tensor Gauss–Legendre ($y$) x Gauss–Hermite ($c$) rule,
    `model.quadrature(n_y=64, n_c=10)` (§9.1: 32 x 8 gives about 4 digits at $T=10$).

    **Raises:** `ValueError` naming the argument for an unknown variant, $s^2\\le0$, or a grid
    with fewer than 2 nodes.
    """
    if variant not in ("population", "interpolation"):
        raise ValueError(f"variant must be 'population' or 'interpolation', got {variant!r}")
    s2 = _finite_real("unit_variance", unit_variance, positive=True)
    if not isinstance(closed_form, bool):
        raise ValueError(f"closed_form must be True or False, got {closed_form!r}")

    def unit(x, z):
        return _normal_pdf(x, z[0], s2)

    def sample(key, m):
        key_y, key_c = jax.random.split(key)
        dtype = jnp.result_type(float)
        y = jax.random.uniform(key_y, (m, 1), dtype, minval=-2.0, maxval=2.0)
        return jax.random.normal(key_c, (m,), dtype), y

    def grid_measure(name, spec):
        lo, hi, n = spec
        lo, hi = _finite_real(f"{name}[0]", lo), _finite_real(f"{name}[1]", hi)
        n = _int_at_least(f"{name}[2]", n, 2)
        if hi <= lo:
            raise ValueError(f"{name} must have lo < hi, got {spec!r}")
        x, weights = _trapezoid_grid(lo, hi, n)
        return DataMeasure(x, _gaussian_target(x), weights)

    if variant == "interpolation":
        n_train = _int_at_least("n_train", n_train, 1)
        x = np.linspace(-3.0, 3.0, n_train)
        train = DataMeasure(x, _gaussian_target(x))
        test = grid_measure("test_grid", test_grid)
        name = "gaussian_1d_interpolation"
    elif closed_form:
        centres, variances, amplitudes = _GAUSS_CENTRES, _GAUSS_VARIANCES, _GAUSS_AMPLITUDES

        def potential(z):
            return jnp.sum(amplitudes * _normal_pdf(z[0], centres, variances + s2)) / 3.0

        def kernel(z, zp):
            return _normal_pdf(z[0], zp[0], 2.0 * s2)

        norm2 = float(np.sum(np.outer(amplitudes, amplitudes) * _np_normal_pdf(
            centres[:, None], centres[None, :], variances[:, None] + variances[None, :]))) / 9.0
        train = test = KernelMeasure(potential, kernel, norm2)
        name = "gaussian_1d"
    else:
        train = test = grid_measure("grid", grid)
        name = "gaussian_1d"
    return MeanFieldModel(name=name, unit=unit, train=train, test=test, sample=sample, z_dim=1,
                          quadrature=_gaussian_quadrature)


# --------------------------------------------------------------------------------------------
# ReLU teacher-student (§9.4)


def _safe_norm(v):
    """$|v|$ with finite derivatives of every order at $v=0$ (value 0, derivatives 0)."""
    sq = jnp.sum(v * v, axis=-1)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _arc_cosine_kernel(z, zp):
    """$\\kappa(z,z')=\\mathbb E[\\mathrm{ReLU}\\langle z,x\\rangle\\mathrm{ReLU}\\langle z',x\\rangle]
    =\\frac{|z||z'|}{2\\pi}(\\sin\\alpha+(\\pi-\\alpha)\\cos\\alpha)$, $x\\sim\\mathcal N(0,I_d)$
    (§9.4 [literature: Cho & Saul's arc-cosine kernel of degree 1]).

    The angle is Kahan's $\\alpha=2\\arctan(|\\hat z-\\hat z'|/|\\hat z+\\hat z'|)$, accurate for
    nearly parallel arguments (where $\\arccos$ of the cosine loses half the digits), with
    norms whose derivatives stay finite at 0.  At $z=z'$ (a particle's self-interaction) the
    value, the first derivatives and the derivatives along $(\\delta,\\delta)$ are exact
    ($\\partial\\kappa/\\partial\\alpha=-\\frac{|z||z'|}{2\\pi}(\\pi-\\alpha)\\sin\\alpha$ vanishes
    there); the mixed derivative $\\nabla_z\\nabla_{z'}\\kappa$ is not ($I/2$ in truth), hence
    the `mixed_diagonal` of the measure.
    """
    nz, nzp = _safe_norm(z), _safe_norm(zp)
    u = z / jnp.where(nz > 0, nz, 1.0)
    up = zp / jnp.where(nzp > 0, nzp, 1.0)
    alpha = 2.0 * jnp.arctan2(_safe_norm(u - up), _safe_norm(u + up))
    return nz * nzp / (2 * jnp.pi) * (jnp.sin(alpha) + (jnp.pi - alpha) * jnp.cos(alpha))


def relu_teacher_student_model(
    d: int = 10,
    *,
    inputs: str = "gaussian",
    teacher_c: Float[ArrayLike, " k"] | None = None,
    teacher_z: Float[ArrayLike, "k d"] | None = None,
    c_scale: float = 1.0,
    n_train: int | None = None,
    n_test: int | None = None,
    key: Key | None = None,
) -> MeanFieldModel:
    """ReLU teacher–student with Gaussian or spherical inputs (mean-field-clt.md §9.4).

    Student units $c\\,\\mathrm{ReLU}\\langle z,x\\rangle$, $z\\in\\mathbb R^d$ ($q=d$); teacher
    $f^*(x)=\\sum_kc^*_k\\mathrm{ReLU}\\langle z^*_k,x\\rangle$ (default one unit, $c^*=1$,
    $z^*=e_1$); initial law $z\\sim\\mathcal N(0,I_d/d)$, $c\\sim\\mathcal N(0,\\sigma_c^2)$
    (`c_scale` $=\\sigma_c$).

    Inputs $x\\sim\\mathcal N(0,I_d)$ (`"gaussian"`) or uniform on $\\mathbb S^{d-1}(\\sqrt d)$
    (`"sphere"`).  Both have the same population kernels: a bias-free ReLU is positively
    homogeneous, so with $x=r\\,u$, $r$ independent of the direction $u$ and
    $\\mathbb E r^2=d$ in both cases, $\\mathbb E[\\mathrm{ReLU}\\langle z,x\\rangle
    \\mathrm{ReLU}\\langle z',x\\rangle]=\\kappa(z,z')$, the arc-cosine kernel
    $\\kappa=\\frac{|z||z'|}{2\\pi}(\\sin\\alpha+(\\pi-\\alpha)\\cos\\alpha)$ [derived; checked by Monte
    Carlo in the tests].  The population measure is therefore a
    [`KernelMeasure`][limitlab.numerics.KernelMeasure] with $F_z(z)=\\sum_kc^*_k\\kappa(z,z^*_k)$,
    $K_z=\\kappa$, $\\lVert f^*\\rVert^2=\\sum_{kl}c^*_kc^*_l\\kappa(z^*_k,z^*_l)$ and
    $M(z)=\\mathbb E[\\mathbb 1\\{\\langle z,x\\rangle>0\\}xx^\\top]=I_d/2$.

    **Arguments:**

    - `d`: input dimension ($\\ge2$).
    - `inputs`: `"gaussian"` or `"sphere"`.
    - `teacher_c`, `teacher_z`: teacher output weights `(k,)` and units `(k, d)`.
    - `c_scale`: $\\sigma_c>0$.
    - `n_train`: `None` for the population loss (closed form), else a training set of this
      many i.i.d. inputs with weights $1/n$ (needs `key`).
    - `n_test`: `None` for the population test norm, else this many i.i.d. test inputs.
    - `key`: PRNG key of the sampled inputs.

    No quadrature of $\\mu_0$: use a wide i.i.d. reference,
    `reference_particles(model, M, key=...)`.  The kernel form costs $O(P^2)$ per evaluation.

    **Raises:** `ValueError` naming the argument for $d<2$, unknown `inputs`, teacher shapes
    that do not match, $\\sigma_c\\le0$, sizes $<1$, or sampled sets without `key`.
    """
    d = _int_at_least("d", d, 2)
    if inputs not in ("gaussian", "sphere"):
        raise ValueError(f"inputs must be 'gaussian' or 'sphere', got {inputs!r}")
    c_scale = _finite_real("c_scale", c_scale, positive=True)
    t_c = np.array([1.0]) if teacher_c is None else _finite_array("teacher_c", teacher_c, 1)
    if teacher_z is None:
        t_z = np.zeros((t_c.shape[0], d))
        t_z[:, 0] = 1.0
    else:
        t_z = _finite_array("teacher_z", teacher_z, 2)
    if t_z.shape != (t_c.shape[0], d):
        raise ValueError(
            f"teacher_z must have shape (k, d) = ({t_c.shape[0]}, {d}), got {t_z.shape}"
        )

    def unit(x, z):
        return jax.nn.relu(jnp.dot(x, z))

    def sample(key, m):
        key_z, key_c = jax.random.split(key)
        dtype = jnp.result_type(float)
        z = jax.random.normal(key_z, (m, d), dtype) / math.sqrt(d)
        return c_scale * jax.random.normal(key_c, (m,), dtype), z

    def potential(z):
        return jnp.dot(jnp.asarray(t_c), jax.vmap(lambda zs: _arc_cosine_kernel(z, zs))(
            jnp.asarray(t_z)))

    def mixed_diagonal(z):
        return 0.5 * jnp.eye(z.shape[-1], dtype=z.dtype)

    norms = np.linalg.norm(t_z, axis=1)
    cosines = np.clip(t_z @ t_z.T / np.outer(norms, norms), -1.0, 1.0)
    alpha = np.arccos(cosines)  # the teacher's Gram matrix needs no derivatives
    gram = np.outer(norms, norms) / (2 * np.pi) * (np.sin(alpha) + (np.pi - alpha) * cosines)
    population = KernelMeasure(potential, _arc_cosine_kernel, float(t_c @ gram @ t_c),
                               mixed_diagonal)

    def sampled(name, n, k):
        n = _int_at_least(name, n, 1)
        if key is None:
            raise ValueError(f"{name}={n} draws inputs at random: pass key=")
        with float64():
            if inputs == "gaussian":
                x = jax.random.normal(k, (n, d), jnp.float64)
            else:
                x = sample_sphere(n, d, key=k)
            x = np.asarray(x)
        y = jax.nn.relu(x @ t_z.T) @ t_c
        return DataMeasure(x, np.asarray(y))

    keys = (None, None) if key is None else tuple(jax.random.split(key))
    train = population if n_train is None else sampled("n_train", n_train, keys[0])
    test = population if n_test is None else sampled("n_test", n_test, keys[1])
    return MeanFieldModel(name="relu_teacher_student", unit=unit, train=train, test=test,
                          sample=sample, z_dim=d, quadrature=None)


def mean_field_model(name: str, **options) -> MeanFieldModel:
    """A built-in model by name: one of [`MEAN_FIELD_MODELS`][limitlab.numerics.MEAN_FIELD_MODELS].

    - `"gaussian_1d"`: [`gaussian_units_model`][limitlab.numerics.gaussian_units_model]`("population", **options)`;
    - `"gaussian_1d_interpolation"`: `gaussian_units_model("interpolation", **options)`;
    - `"relu_teacher_student"`: [`relu_teacher_student_model`][limitlab.numerics.relu_teacher_student_model]`(**options)`.

    **Raises:** `ValueError` for an unknown name (listing the known ones), and whatever the
    factory raises for its options.
    """
    if name == "gaussian_1d":
        return gaussian_units_model("population", **options)
    if name == "gaussian_1d_interpolation":
        return gaussian_units_model("interpolation", **options)
    if name == "relu_teacher_student":
        return relu_teacher_student_model(**options)
    raise ValueError(f"model must be one of {MEAN_FIELD_MODELS}, got {name!r}")
