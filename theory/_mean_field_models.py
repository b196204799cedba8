r"""Exactly computable mean-field models of two-layer networks.

Three set-ups of `mean-field-clt.md` §9 (the project's theory reference for Chen, Rotskoff,
Bruna & Vanden-Eijnden, NeurIPS 2020, arXiv:2008.09623), with every integral in closed form:

- **Gaussian units in one dimension** (§9.1): $\varphi(x,y)=\mathcal N(x;y,s^2)$, Lebesgue
  data measure, a Gaussian-mixture target;
  [`gaussian_unit_model`][limitlab.theory.gaussian_unit_model].
- **Ramp units on an isotropic Gaussian mixture** (§9.3, Mei–Montanari–Nguyen's example):
  the radial potential and the $d\to\infty$ radial interaction,
  [`isotropic_mixture_potential`][limitlab.theory.isotropic_mixture_potential] and
  [`isotropic_mixture_interaction`][limitlab.theory.isotropic_mixture_interaction].
- **ReLU teacher–student with Gaussian inputs** (§9.4): the arc-cosine kernel (from
  [`relu_feature_kernel`][limitlab.theory.relu_feature_kernel]), its gradient, and the exact
  reduction to $(c,a,b)$ coordinates for any input dimension.

Conventions as in `limitlab.theory.mean_field_objective`: particles $\theta=(c,z)$, network
$f_\mu=\int c\,\varphi(\cdot,z)\,d\mu$, loss $\frac12\lVert f^*-f_\mu\rVert_\nu^2$, potential
$V(\theta;\mu)=c\,(-F_z(z)+\int c'K_z(z,z')\,d\mu)$, and particle measures given as atoms with
probability weights.

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import fractions
import functools
import math
import types
from collections.abc import Callable, Mapping

import numpy as np
import scipy.special
import sympy as sp

from ._arccos import relu_feature_kernel
from ._gauss_newton import _finite, _float_array
from ._mean_field import _probability_weights, _vector

__all__ = [
    "GaussianUnitModel",
    "ReducedReluState",
    "gaussian_unit_model",
    "isotropic_mixture_interaction",
    "isotropic_mixture_potential",
    "ramp_gaussian_mean",
    "reduced_overlap_density",
    "reduced_overlap_quadrature",
    "reduced_relu_kernel",
    "reduced_relu_teacher_student",
    "relu_gaussian_kernel",
    "relu_gaussian_kernel_gradient",
]

X = sp.Symbol("x", real=True)
X2 = sp.Symbol("x2", real=True)
Y = sp.Symbol("y", real=True)
Y2 = sp.Symbol("y2", real=True)
_MODULES = ("scipy", "numpy")


def _exact(value, name: str, *, positive: bool = False, nonnegative: bool = False) -> sp.Expr:
    """An exact sympy number: ints and Fractions exactly, floats via their shortest repr."""
    relation = " > 0" if positive else (" >= 0" if nonnegative else "")
    allowed = f"{name} must be a finite real number{relation}"
    if isinstance(value, bool):
        raise ValueError(f"{allowed}, got {value!r}")
    if isinstance(value, int | np.integer):
        number = sp.Integer(int(value))
    elif isinstance(value, fractions.Fraction):
        number = sp.Rational(value.numerator, value.denominator)
    elif isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise ValueError(f"{allowed}, got {value!r}")
        number = sp.Rational(repr(float(value)))
    elif isinstance(value, sp.Basic):
        number = value
        if not (number.is_number and number.is_real and number.is_finite):
            raise ValueError(f"{allowed} (a numeric sympy expression), got {value!r}")
    else:
        raise ValueError(f"{allowed}, got {value!r}")
    if (positive and not number > 0) or (nonnegative and not number >= 0):
        raise ValueError(f"{allowed}, got {value!r}")
    return number


def _exact_tuple(values, name: str, **kwargs) -> tuple[sp.Expr, ...]:
    if isinstance(values, str | bytes) or not hasattr(values, "__len__") or len(values) < 1:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, got {values!r}")
    return tuple(_exact(v, f"{name}[{i}]", **kwargs) for i, v in enumerate(values))


def _normal_density(u: sp.Expr, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    return sp.exp(-((u - mean) ** 2) / (2 * variance)) / sp.sqrt(2 * sp.pi * variance)


# --------------------------------------------------------------------------------------------
# §9.1: one-dimensional Gaussian units


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianUnitModel:
    r"""The one-dimensional Gaussian-unit model in closed form (`mean-field-clt.md` §9.1).

    Built by [`gaussian_unit_model`][limitlab.theory.gaussian_unit_model].  Sympy expressions
    (exact, in the module symbols $x$, $x_2$, $y$, $y_2$) and matching numpy evaluators.

    **Fields:**

    - `unit_variance`: $s^2$; `teacher_output_weights`, `teacher_centres`,
      `teacher_variances`: $c^*_k$, $y^*_k$, $s^{*2}_k$; `centre_interval`: $(a_0,b_0)$;
      `output_mean`, `output_variance`: $\bar c$, $\sigma_c^2$ (all exact sympy numbers).
    - `unit`: $\varphi(x,y)=\mathcal N(x;y,s^2)$.
    - `target`: $f^*(x)=\frac1{k^*}\sum_kc^*_k\mathcal N(x;y^*_k,s^{*2}_k)$.
    - `correlation`: $F_y(y)=\frac1{k^*}\sum_kc^*_k\mathcal N(y;y^*_k,s^{*2}_k+s^2)$.
    - `interaction`: $K_y(y,y_2)=\mathcal N(y;y_2,2s^2)$.
    - `self_interaction`: $K_y(y,y)=\sup_y\lVert\varphi(\cdot,y)\rVert^2=1/\sqrt{4\pi s^2}$.
    - `target_energy`: $C_f=\frac12\lVert f^*\rVert^2$.
    - `initial_mean`: $f_0(x)=\frac{\bar c}{2L}\big[\mathrm{erf}\frac{x-a_0}{\sqrt2s}
      -\mathrm{erf}\frac{x-b_0}{\sqrt2s}\big]$, $L=b_0-a_0$.
    - `initial_covariance`: $C_0(x,x_2)=\mathbb E\,g_0(x)g_0(x_2)$.
    - `initial_resampling_bound`: $V_0=\mathbb E\lVert g_0\rVert^2$.
    - `evaluators`: numpy functions of the same names (`unit(x, y)`, `target(x)`,
      `correlation(y)`, `correlation_derivative(y)`, `interaction(y, y2)`,
      `interaction_derivative(y, y2)` $=\partial_yK_y$, `initial_mean(x)`,
      `initial_covariance(x, x2)`), broadcasting over arrays.
    """

    unit_variance: sp.Expr
    teacher_output_weights: tuple[sp.Expr, ...]
    teacher_centres: tuple[sp.Expr, ...]
    teacher_variances: tuple[sp.Expr, ...]
    centre_interval: tuple[sp.Expr, sp.Expr]
    output_mean: sp.Expr
    output_variance: sp.Expr
    unit: sp.Expr
    target: sp.Expr
    correlation: sp.Expr
    interaction: sp.Expr
    self_interaction: sp.Expr
    target_energy: sp.Expr
    initial_mean: sp.Expr
    initial_covariance: sp.Expr
    initial_resampling_bound: sp.Expr
    evaluators: Mapping[str, Callable] = dataclasses.field(repr=False)

    def _atoms(self, output_weights, centres, weights):
        c = _vector(output_weights, "output_weights", None)
        y = _vector(centres, "centres", c.shape[0])
        w = _probability_weights(weights, c.shape[0], "weights")
        return c, y, w

    def _kernel(self, y: np.ndarray) -> np.ndarray:
        return self.evaluators["interaction"](y[:, None], y[None, :])

    def prediction(self, x, output_weights, centres, weights=None) -> np.ndarray:
        r"""$f_\mu(x)=\sum_iw_ic_i\,\mathcal N(x;y_i,s^2)$ at the points `x` (any shape).

        **Arguments:** `x`; the atoms' `output_weights` $c_i$ and `centres` $y_i$ (1-D, equal
        lengths); `weights` $w_i$ (probability weights, default $1/p$).

        **Returns:** an array of the shape of `x`.

        **Raises:** `ValueError` naming the argument.
        """
        c, y, w = self._atoms(output_weights, centres, weights)
        x = _float_array(x, "x", "an array of finite real numbers")
        values = self.evaluators["unit"](x[..., None], y) @ (w * c)
        return _finite(values, "f_mu")

    def population_loss(self, output_weights, centres, weights=None) -> float:
        r"""$\mathcal L(\mu)=C_f-\sum_iw_ic_iF_y(y_i)+\tfrac12\sum_{ik}w_iw_kc_ic_kK_y(y_i,y_k)$.

        Equal to $\tfrac12\int(f^*-f_\mu)^2dx$ [derived, exact].  The F/K form cancels when the
        loss is small: expect an absolute error of a few units of $10^{-16}C_f$.

        **Arguments:** as [`prediction`][limitlab.theory.GaussianUnitModel.prediction] without `x`.

        **Returns:** the loss.

        **Raises:** `ValueError` naming the argument.
        """
        c, y, w = self._atoms(output_weights, centres, weights)
        wc = w * c
        value = (
            float(self.target_energy)
            - wc @ self.evaluators["correlation"](y)
            + 0.5 * wc @ self._kernel(y) @ wc
        )
        return float(_finite(np.array(value), "the loss"))

    def potential(self, output_weights, centres, weights=None) -> np.ndarray:
        r"""$V(\theta_i;\mu)=c_i\big(-F_y(y_i)+\sum_kw_kc_kK_y(y_i,y_k)\big)$ at each atom.

        **Arguments:** as [`population_loss`][limitlab.theory.GaussianUnitModel.population_loss].

        **Returns:** shape `(p,)`.

        **Raises:** `ValueError` naming the argument.
        """
        c, y, w = self._atoms(output_weights, centres, weights)
        field = self._kernel(y) @ (w * c) - self.evaluators["correlation"](y)
        return _finite(c * field, "V")

    def potential_gradient(self, output_weights, centres, weights=None):
        r"""$(\partial_cV,\partial_yV)$ at each atom: minus the mean-field GD velocities.

        $\partial_cV=-F_y(y_i)+\sum_kw_kc_kK_y(y_i,y_k)$,
        $\partial_yV=c_i\big(-F_y'(y_i)+\sum_kw_kc_k\partial_yK_y(y_i,y_k)\big)$ (§9.1).

        **Arguments:** as [`population_loss`][limitlab.theory.GaussianUnitModel.population_loss].

        **Returns:** two arrays of shape `(p,)`.

        **Raises:** `ValueError` naming the argument.
        """
        c, y, w = self._atoms(output_weights, centres, weights)
        wc = w * c
        grad_c = self._kernel(y) @ wc - self.evaluators["correlation"](y)
        dK = self.evaluators["interaction_derivative"](y[:, None], y[None, :])
        grad_y = c * (dK @ wc - self.evaluators["correlation_derivative"](y))
        return _finite(grad_c, "dV/dc"), _finite(grad_y, "dV/dy")

    def resampling_bound(self, output_weights, centres, weights=None) -> float:
        r"""$V_\mu=\int c^2K_y(y,y)\,d\mu-\lVert f_\mu\rVert^2$ (`mean-field-clt.md` §5).

        Evaluated as $\frac12\sum_{ik}w_iw_k\lVert c_i\varphi_i-c_k\varphi_k\rVert^2$ with
        $\lVert c_i\varphi_i-c_k\varphi_k\rVert^2=k_0\big[(c_i-c_k)^2-2c_ic_k\,
        \mathrm{expm1}(-(y_i-y_k)^2/(4s^2))\big]$, $k_0=K_y(y,y)$: no cancellation between
        the two large terms [derived, exact].

        **Arguments:** as [`population_loss`][limitlab.theory.GaussianUnitModel.population_loss].

        **Returns:** $V_\mu\ge0$.

        **Raises:** `ValueError` naming the argument.
        """
        c, y, w = self._atoms(output_weights, centres, weights)
        k0 = float(self.self_interaction)
        s2 = float(self.unit_variance)
        gap = (y[:, None] - y[None, :]) ** 2 / (4 * s2)
        pair = k0 * ((c[:, None] - c[None, :]) ** 2 - 2 * np.outer(c, c) * np.expm1(-gap))
        return float(_finite(np.array(0.5 * w @ pair @ w), "V_t"))

    def two_norm_bound(self, output_weights, centres, weights=None) -> float:
        r"""$K_y(y,y)\int c^2\,d\mu=\int c^2\,d\mu/\sqrt{4\pi s^2}\ge V_\mu$ (§5; the supremum
        of $\lVert\varphi(\cdot,y)\rVert^2$ is attained at every $y$).

        **Arguments:** as [`population_loss`][limitlab.theory.GaussianUnitModel.population_loss].

        **Returns:** the bound.

        **Raises:** `ValueError` naming the argument.
        """
        c, _, w = self._atoms(output_weights, centres, weights)
        return float(_finite(np.array(float(self.self_interaction) * np.sum(w * c**2)), "bound"))


@functools.lru_cache(maxsize=32)
def _build_gaussian_unit_model(s2, teacher_c, teacher_y, teacher_s2, interval, c_mean, c_var):
    k = len(teacher_c)
    a0, b0 = interval
    length = b0 - a0
    s = sp.sqrt(s2)
    unit = _normal_density(X, Y, s2)
    target = sum(c * _normal_density(X, m, v) for c, m, v in zip(teacher_c, teacher_y, teacher_s2))
    target = target / k
    correlation = sum(
        c * _normal_density(Y, m, v + s2) for c, m, v in zip(teacher_c, teacher_y, teacher_s2)
    ) / k
    interaction = _normal_density(Y, Y2, 2 * s2)
    self_interaction = 1 / sp.sqrt(4 * sp.pi * s2)
    target_energy = sp.simplify(
        sp.Rational(1, 2 * k * k)
        * sum(
            ci * cj * _normal_density(yi, yj, vi + vj)
            for ci, yi, vi in zip(teacher_c, teacher_y, teacher_s2)
            for cj, yj, vj in zip(teacher_c, teacher_y, teacher_s2)
        )
    )
    second_moment = c_mean**2 + c_var
    initial_mean = c_mean / (2 * length) * (
        sp.erf((X - a0) / (sp.sqrt(2) * s)) - sp.erf((X - b0) / (sp.sqrt(2) * s))
    )
    midpoint = (X + X2) / 2
    initial_covariance = (
        second_moment
        * _normal_density(X, X2, 2 * s2)
        / (2 * length)
        * (sp.erf((b0 - midpoint) / s) - sp.erf((a0 - midpoint) / s))
        - initial_mean * initial_mean.subs(X, X2)
    )
    # ||E_y phi(., y)||^2 = E_{y, y'} N(y; y', 2 s^2) for y, y' ~ U[a0, b0] independent:
    # (2 / L^2) int_0^L (L - u) N(u; 0, tau^2) du, tau^2 = 2 s^2.
    tau2 = 2 * s2
    mean_norm = (
        2
        / length**2
        * (
            length * sp.erf(length / sp.sqrt(2 * tau2)) / 2
            - tau2 * (_normal_density(0, 0, tau2) - _normal_density(length, 0, tau2))
        )
    )
    initial_bound = sp.simplify(second_moment * self_interaction - c_mean**2 * mean_norm)
    evaluators = types.MappingProxyType({
        "unit": sp.lambdify((X, Y), unit, _MODULES),
        "target": sp.lambdify(X, target, _MODULES),
        "correlation": sp.lambdify(Y, correlation, _MODULES),
        "correlation_derivative": sp.lambdify(Y, sp.diff(correlation, Y), _MODULES),
        "interaction": sp.lambdify((Y, Y2), interaction, _MODULES),
        "interaction_derivative": sp.lambdify((Y, Y2), sp.diff(interaction, Y), _MODULES),
        "initial_mean": sp.lambdify(X, initial_mean, _MODULES),
        "initial_covariance": sp.lambdify((X, X2), initial_covariance, _MODULES),
    })
    return GaussianUnitModel(
        unit_variance=s2,
        teacher_output_weights=teacher_c,
        teacher_centres=teacher_y,
        teacher_variances=teacher_s2,
        centre_interval=interval,
        output_mean=c_mean,
        output_variance=c_var,
        unit=unit,
        target=target,
        correlation=correlation,
        interaction=interaction,
        self_interaction=self_interaction,
        target_energy=target_energy,
        initial_mean=initial_mean,
        initial_covariance=initial_covariance,
        initial_resampling_bound=initial_bound,
        evaluators=evaluators,
    )


def gaussian_unit_model(
    unit_variance=sp.Rational(1, 2),
    teacher_output_weights=(1, -2, 1),
    teacher_centres=(-2, 0, 2),
    teacher_variances=(sp.Rational(1, 2), 1, sp.Rational(1, 2)),
    centre_interval=(-2, 2),
    output_mean=0,
    output_variance=1,
) -> GaussianUnitModel:
    r"""The one-dimensional Gaussian-unit model of `mean-field-clt.md` §9.1, in closed form.

    Units $\varphi(x,y)=\mathcal N(x;y,s^2)$ (a Gaussian density in $x$ with mean $y$), particles
    $(c,y)$, $\nu$ the Lebesgue measure on $\mathbb R$, target
    $f^*=\frac1{k^*}\sum_kc^*_k\mathcal N(\cdot;y^*_k,s^{*2}_k)$ and initial law
    $\mu_0=\mathrm{Unif}[a_0,b_0](y)\otimes\mathcal N(\bar c,\sigma_c^2)(c)$.  Gaussian
    convolutions give [derived, exact; checked by quadrature in the tests]

    $$F_y(y)=\tfrac1{k^*}\sum_kc^*_k\mathcal N(y;y^*_k,s^{*2}_k+s^2),\quad
    K_y(y,y')=\mathcal N(y;y',2s^2),\quad
    C_f=\tfrac1{2k^{*2}}\sum_{kl}c^*_kc^*_l\mathcal N(y^*_k;y^*_l,s^{*2}_k+s^{*2}_l),$$

    and, with $\mathcal N(x;y,s^2)\mathcal N(x';y,s^2)=\mathcal N(x;x',2s^2)
    \mathcal N(y;\tfrac{x+x'}2,\tfrac{s^2}2)$, the initial CLT covariance (§4.3)

    $$C_0(x,x')=\frac{\bar c^2+\sigma_c^2}{2L}\,\mathcal N(x;x',2s^2)\Big[\mathrm{erf}
    \frac{b_0-\frac{x+x'}2}{s}-\mathrm{erf}\frac{a_0-\frac{x+x'}2}{s}\Big]-f_0(x)f_0(x'),$$

    $V_0=\int C_0(x,x)\,dx=\frac{\bar c^2+\sigma_c^2}{\sqrt{4\pi s^2}}-\bar c^2\,\mathbb E\,
    \mathcal N(y;y',2s^2)$.  The defaults are the constants of the reference ($s^2=\frac12$,
    $y^*=(-2,0,2)$, $s^{*2}=(\frac12,1,\frac12)$, $c^*=(1,-2,1)$, $\mu_0=\mathrm{Unif}[-2,2]
    \otimes\mathcal N(0,1)$), for which $f_0=0$ and $V_0=1/\sqrt{2\pi}$.  Dynamics: mean-field
    GD $\dot c_i=-\partial_cV$, $\dot y_i=-\partial_yV$, see
    [`potential_gradient`][limitlab.theory.GaussianUnitModel.potential_gradient].

    **Arguments:** (numbers: ints, `Fraction`s, sympy numbers, or floats, which are converted
    exactly through their shortest decimal representation.)

    - `unit_variance`: $s^2>0$.
    - `teacher_output_weights`, `teacher_centres`, `teacher_variances`: $c^*_k$, $y^*_k$,
      $s^{*2}_k>0$, sequences of equal length $k^*\ge1$.
    - `centre_interval`: $(a_0,b_0)$ with $a_0<b_0$.
    - `output_mean`, `output_variance`: $\bar c$ and $\sigma_c^2\ge0$.

    **Returns:** a [`GaussianUnitModel`][limitlab.theory.GaussianUnitModel] (cached).

    **Raises:** `ValueError` naming the argument.
    """
    s2 = _exact(unit_variance, "unit_variance", positive=True)
    teacher_c = _exact_tuple(teacher_output_weights, "teacher_output_weights")
    teacher_y = _exact_tuple(teacher_centres, "teacher_centres")
    teacher_s2 = _exact_tuple(teacher_variances, "teacher_variances", positive=True)
    if not len(teacher_c) == len(teacher_y) == len(teacher_s2):
        raise ValueError(
            "teacher_output_weights, teacher_centres and teacher_variances must have equal "
            f"lengths, got {len(teacher_c)}, {len(teacher_y)} and {len(teacher_s2)}"
        )
    if isinstance(centre_interval, str) or len(centre_interval) != 2:
        raise ValueError(f"centre_interval must be a pair (a0, b0), got {centre_interval!r}")
    a0 = _exact(centre_interval[0], "centre_interval[0]")
    b0 = _exact(centre_interval[1], "centre_interval[1]")
    if not a0 < b0:
        raise ValueError(f"centre_interval must satisfy a0 < b0, got {centre_interval!r}")
    c_mean = _exact(output_mean, "output_mean")
    c_var = _exact(output_variance, "output_variance", nonnegative=True)
    return _build_gaussian_unit_model(s2, teacher_c, teacher_y, teacher_s2, (a0, b0), c_mean, c_var)


# --------------------------------------------------------------------------------------------
# §9.3: ramp units on an isotropic Gaussian mixture


def _check_ramp(levels, knots):
    if isinstance(levels, str) or not hasattr(levels, "__len__") or len(levels) != 2:
        raise ValueError(f"levels must be a pair (s1, s2), got {levels!r}")
    if isinstance(knots, str) or not hasattr(knots, "__len__") or len(knots) != 2:
        raise ValueError(f"knots must be a pair (t1, t2) with t1 < t2, got {knots!r}")
    return levels, knots


def ramp_gaussian_mean(scale, levels, knots) -> sp.Expr:
    r"""$\mathbb E\,\sigma(aG)$, $G\sim\mathcal N(0,1)$, for the ramp $\sigma$ (exact sympy).

    $\sigma(t)=s_1$ for $t\le t_1$, $s_2$ for $t\ge t_2$, linear in between, i.e.
    $\sigma(t)=s_1+\frac{s_2-s_1}{t_2-t_1}\big((t-t_1)_+-(t-t_2)_+\big)$, so
    (`mean-field-clt.md` §9.3 [derived, exact])

    $$\mathbb E\,\sigma(aG)=s_1+\frac{s_2-s_1}{t_2-t_1}\big(\Pi(a,t_1)-\Pi(a,t_2)\big),\qquad
    \Pi(a,b)=\mathbb E(aG-b)_+=a\,\phi(b/a)-b\,\big(1-\Phi(b/a)\big)\quad(a>0),$$

    with $\phi$, $\Phi$ the standard normal density and distribution function
    ($\Phi(u)=\frac12(1+\mathrm{erf}(u/\sqrt2))$).  At $a=0$ the value is $\sigma(0)$.

    **Arguments:**

    - `scale`: $a\ge0$, a number or a sympy expression (e.g. a positive symbol).
    - `levels`: $(s_1,s_2)$.
    - `knots`: $(t_1,t_2)$, $t_1<t_2$.

    **Returns:** the exact sympy expression.

    **Raises:** `ValueError` naming the argument.
    """
    levels, knots = _check_ramp(levels, knots)
    s1 = _exact(levels[0], "levels[0]")
    s2 = _exact(levels[1], "levels[1]")
    t1 = _exact(knots[0], "knots[0]")
    t2 = _exact(knots[1], "knots[1]")
    if not t1 < t2:
        raise ValueError(f"knots must satisfy t1 < t2, got {knots!r}")
    if isinstance(scale, sp.Basic) and not scale.is_number:
        if scale.is_nonnegative is False:
            raise ValueError(f"scale must be >= 0, got {scale!r}")
        a = scale
    else:
        a = _exact(scale, "scale", nonnegative=True)
    slope = (s2 - s1) / (t2 - t1)
    if a == 0:
        return s1 + slope * (sp.Max(0, -t1) - sp.Max(0, -t2))

    def positive_part_mean(b):
        u = b / a
        density = sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi)
        tail = (1 - sp.erf(u / sp.sqrt(2))) / 2
        return a * density - b * tail

    return s1 + slope * (positive_part_mean(t1) - positive_part_mean(t2))


def _ramp_mean_numeric(a: np.ndarray, s1, s2, t1, t2) -> np.ndarray:
    def positive_part_mean(b):
        with np.errstate(divide="ignore", invalid="ignore"):
            u = b / a
            value = a * np.exp(-(u**2) / 2) / np.sqrt(2 * np.pi) - b * scipy.special.ndtr(-u)
        return np.where(a > 0, value, max(-b, 0.0))

    return s1 + (s2 - s1) / (t2 - t1) * (positive_part_mean(t1) - positive_part_mean(t2))


def _mixture_arguments(delta, levels, knots):
    levels, knots = _check_ramp(levels, knots)
    delta = float(_exact(delta, "delta", nonnegative=True))
    if not delta < 1:
        raise ValueError(f"delta must lie in [0, 1) (so that 1 - delta > 0), got {delta!r}")
    s1, s2 = (float(_exact(v, f"levels[{i}]")) for i, v in enumerate(levels))
    t1, t2 = (float(_exact(v, f"knots[{i}]")) for i, v in enumerate(knots))
    if not t1 < t2:
        raise ValueError(f"knots must satisfy t1 < t2, got {knots!r}")
    return delta, (s1, s2, t1, t2)


def _radii(values, name):
    r = _float_array(values, name, "an array of finite radii >= 0")
    if np.any(r < 0):
        raise ValueError(f"{name} must be >= 0 (a norm |w|), got the value {r[r < 0].ravel()[0]!r}")
    return r


def isotropic_mixture_potential(radius, delta, levels, knots) -> np.ndarray:
    r"""The radial potential $v(r)=-\mathbb E[y\,\sigma(\langle w,x\rangle)]$, $|w|=r$.

    Mei–Montanari–Nguyen's isotropic example (`mean-field-clt.md` §9.3, §8.2): $y=\pm1$ with
    probability $\frac12$, $x\,|\,y\sim\mathcal N(0,(1+y\Delta)^2I_d)$, ramp units
    $\sigma(\langle w,x\rangle)$ without output weight.  Since $\langle w,x\rangle\,|\,y\sim
    \mathcal N(0,(1+y\Delta)^2r^2)$, for every $d$ [derived, exact]

    $$v(r)=-\tfrac12\big(q_+(r)-q_-(r)\big),\qquad
    q_\pm(r)=\mathbb E\,\sigma\big((1\pm\Delta)rG\big),$$

    with $q_\pm$ from [`ramp_gaussian_mean`][limitlab.theory.ramp_gaussian_mean].  This is
    MMN's $V$, i.e. $-F$ of `mean-field-clt.md` §2; their risk has no $\frac12$ (§8.2).

    **Arguments:**

    - `radius`: $r\ge0$, a number or an array.
    - `delta`: $\Delta\in[0,1)$.
    - `levels`, `knots`: the ramp, as in `ramp_gaussian_mean`.

    **Returns:** $v(r)$, an array of the shape of `radius`.

    **Raises:** `ValueError` naming the argument.
    """
    delta, ramp = _mixture_arguments(delta, levels, knots)
    r = _radii(radius, "radius")
    plus = _ramp_mean_numeric((1 + delta) * r, *ramp)
    minus = _ramp_mean_numeric((1 - delta) * r, *ramp)
    return _finite(-0.5 * (plus - minus), "v(r)")


def isotropic_mixture_interaction(radius, other_radius, delta, levels, knots) -> np.ndarray:
    r"""The radial interaction $\bar u(r,r')$ in the limit $d\to\infty$.

    $\bar u(r,r')=\mathbb E_u\,U(re_1,r'(ue_1+\sqrt{1-u^2}e_2))$ with
    $U(w,w')=\mathbb E[\sigma(\langle w,x\rangle)\sigma(\langle w',x\rangle)]$ and
    $u\sim\propto(1-u^2)^{(d-3)/2}$; as $d\to\infty$, $u\to0$ and the two pre-activations become
    independent given $y$, so (`mean-field-clt.md` §9.3 [derived])

    $$\bar u(r,r')=\tfrac12\sum_\pm q_\pm(r)\,q_\pm(r').$$

    The exact finite-$d$ interaction (a 2-D Gaussian integral averaged over $u$) is not given.

    **Arguments:**

    - `radius`, `other_radius`: $r,r'\ge0$ (broadcast against each other).
    - `delta`, `levels`, `knots`: as in
      [`isotropic_mixture_potential`][limitlab.theory.isotropic_mixture_potential].

    **Returns:** $\bar u(r,r')$ with the broadcast shape.

    **Raises:** `ValueError` naming the argument.
    """
    delta, ramp = _mixture_arguments(delta, levels, knots)
    r = _radii(radius, "radius")
    r2 = _radii(other_radius, "other_radius")
    total = 0.0
    for sign in (1.0, -1.0):
        scale = 1 + sign * delta
        total = total + _ramp_mean_numeric(scale * r, *ramp) * _ramp_mean_numeric(scale * r2, *ramp)
    return _finite(np.asarray(0.5 * total), "u(r, r')")


# --------------------------------------------------------------------------------------------
# §9.4: ReLU teacher-student with Gaussian inputs


@functools.lru_cache(maxsize=1)
def _arccos_kernel() -> Callable:
    rho, nx, ny = sp.symbols("rho nx ny", real=True)
    return sp.lambdify((rho, nx, ny), relu_feature_kernel(rho, nx, ny), _MODULES)


def _kernel_from_geometry(norm, other_norm, inner):
    """kappa from |z|, |z'|, <z, z'>; 0 where a norm vanishes; cosines clipped to [-1, 1]."""
    product = norm * other_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.clip(np.where(product > 0, inner / product, 1.0), -1.0, 1.0)
    return np.where(product > 0, _arccos_kernel()(cosine, norm, other_norm), 0.0)


def _vectors(values, name) -> np.ndarray:
    array = _float_array(values, name, "an array of finite real numbers")
    if array.ndim < 1 or array.shape[-1] < 1:
        raise ValueError(
            f"{name} must have the coordinates on its last axis, got shape {array.shape}"
        )
    return array


def relu_gaussian_kernel(z, other) -> np.ndarray:
    r"""$\kappa(z,z')=\mathbb E_{x\sim\mathcal N(0,I_d)}[\mathrm{ReLU}\langle z,x\rangle\,
    \mathrm{ReLU}\langle z',x\rangle]
    =\frac{|z||z'|}{2\pi}\big(\sin\alpha+(\pi-\alpha)\cos\alpha\big)$.

    The arc-cosine kernel of order 1 (Cho & Saul 2009 [literature];
    [`relu_feature_kernel`][limitlab.theory.relu_feature_kernel], here lambdified), with
    $\cos\alpha=\langle z,z'\rangle/(|z||z'|)$; $\kappa(z,z)=|z|^2/2$ and $\kappa=0$ if a vector
    is 0.  For the teacher–student model of `mean-field-clt.md` §9.4,
    $F(\theta)=cc^*\kappa(z,z^*)$ and $K(\theta,\theta')=cc'\kappa(z,z')$.

    **Arguments:**

    - `z`, `other`: arrays with the coordinates on the last axis (broadcast against each other).

    **Returns:** $\kappa$ with the broadcast shape without the last axis.

    **Raises:** `ValueError` naming the argument.
    """
    z = _vectors(z, "z")
    other = _vectors(other, "other")
    if z.shape[-1] != other.shape[-1]:
        raise ValueError(
            f"z and other must have the same dimension, got {z.shape[-1]} and {other.shape[-1]}"
        )
    value = _kernel_from_geometry(
        np.linalg.norm(z, axis=-1), np.linalg.norm(other, axis=-1), np.sum(z * other, axis=-1)
    )
    return _finite(value, "kappa")


def relu_gaussian_kernel_gradient(z, other) -> np.ndarray:
    r"""$\nabla_z\kappa(z,z')=\frac1{2\pi}\big[(\pi-\alpha)\,z'+|z'|\sin\alpha\,\hat z\big]$.

    `mean-field-clt.md` §9.4 [derived; checked against finite differences and Monte Carlo of
    $\mathbb E[\mathbf 1\{\langle z,x\rangle>0\}\,x\,\mathrm{ReLU}\langle z',x\rangle]$ in the
    tests], $\hat z=z/|z|$.

    **Arguments:** as [`relu_gaussian_kernel`][limitlab.theory.relu_gaussian_kernel]; every
    `z` must be non-zero (the gradient at $z=0$ depends on the direction of approach).

    **Returns:** the gradient with the broadcast shape (coordinates on the last axis).

    **Raises:** `ValueError` naming the argument.
    """
    z = _vectors(z, "z")
    other = _vectors(other, "other")
    if z.shape[-1] != other.shape[-1]:
        raise ValueError(
            f"z and other must have the same dimension, got {z.shape[-1]} and {other.shape[-1]}"
        )
    norm = np.linalg.norm(z, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("z must be non-zero: the gradient of kappa at z = 0 is not defined")
    other_norm = np.linalg.norm(other, axis=-1, keepdims=True)
    unit = z / norm
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(
            other_norm > 0, np.sum(unit * other, axis=-1, keepdims=True) / other_norm, 1.0
        )
    alpha = np.arccos(np.clip(cosine, -1.0, 1.0))
    gradient = ((np.pi - alpha) * other + other_norm * np.sin(alpha) * unit) / (2 * np.pi)
    return _finite(gradient, "grad kappa")


def reduced_relu_kernel(a, b, other_a, other_b, overlap):
    r"""The ReLU kernel and its reduced gradients in the coordinates $(a,b)$ of §9.4.

    For a teacher direction $e$, write $z=ae+bv$ with $a=\langle z,e\rangle$, $b=|z-ae|\ge0$ and
    $v\perp e$ a unit vector; then $\langle z,z'\rangle=aa'+bb'u$ with $u=\langle v,v'\rangle$,
    $|z|^2=a^2+b^2$, and (`mean-field-clt.md` §9.4 [derived; checked against the full
    $d$-dimensional gradient in the tests])

    $$\kappa=\frac{|z||z'|}{2\pi}\big(\sin\alpha+(\pi-\alpha)\cos\alpha\big),\quad
    \kappa_e=\langle\nabla_z\kappa,e\rangle=\frac{(\pi-\alpha)a'+|z'|\sin\alpha\,a/|z|}{2\pi},\quad
    \kappa_v=\langle\nabla_z\kappa,v\rangle=\frac{(\pi-\alpha)b'u+|z'|\sin\alpha\,b/|z|}{2\pi},$$

    $\cos\alpha=(aa'+bb'u)/(|z||z'|)$.  The teacher terms $\kappa^*,\kappa^*_e,\kappa^*_v$ are
    the case $a'=|z^*|$, $b'=0$.

    **Arguments:**

    - `a`, `b`: the coordinates of $z$ ($b\ge0$, $a^2+b^2>0$).
    - `other_a`, `other_b`: those of $z'$ ($b'\ge0$).
    - `overlap`: $u\in[-1,1]$.

    All broadcast against each other.

    **Returns:** `(kappa, kappa_e, kappa_v)`, arrays of the broadcast shape.

    **Raises:** `ValueError` naming the argument.
    """
    a = _float_array(a, "a", "an array of finite real numbers")
    b = _radii(b, "b")
    a2 = _float_array(other_a, "other_a", "an array of finite real numbers")
    b2 = _radii(other_b, "other_b")
    u = _float_array(overlap, "overlap", "an array of numbers in [-1, 1]")
    if np.any(np.abs(u) > 1):
        bad = u[np.abs(u) > 1].ravel()[0]
        raise ValueError(f"overlap must lie in [-1, 1], got the value {bad!r}")
    norm = np.sqrt(a**2 + b**2)
    if np.any(norm == 0):
        raise ValueError("a and b must not both be 0 (z = 0: the reduced gradient is undefined)")
    other_norm = np.sqrt(a2**2 + b2**2)
    inner = a * a2 + b * b2 * u
    kappa = _kernel_from_geometry(norm, other_norm, inner)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(other_norm > 0, inner / (norm * other_norm), 1.0)
    alpha = np.arccos(np.clip(cosine, -1.0, 1.0))
    sine = other_norm * np.sin(alpha) / norm
    kappa_e = ((np.pi - alpha) * a2 + sine * a) / (2 * np.pi)
    kappa_v = ((np.pi - alpha) * b2 * u + sine * b) / (2 * np.pi)
    return _finite(kappa, "kappa"), _finite(kappa_e, "kappa_e"), _finite(kappa_v, "kappa_v")


def _check_dimension(dimension) -> int:
    if isinstance(dimension, bool) or not isinstance(dimension, int | np.integer) or dimension < 3:
        raise ValueError(
            "dimension must be an integer d >= 3 (the overlap of two directions in the "
            f"(d-1)-dimensional complement of e), got {dimension!r}"
        )
    return int(dimension)


def reduced_overlap_density(overlap, dimension) -> np.ndarray:
    r"""Density of $u=\langle v,v'\rangle$ for independent uniform unit vectors $v,v'\perp e$.

    $$p_d(u)=\frac{\Gamma(\frac{d-1}2)}{\sqrt\pi\,\Gamma(\frac{d-2}2)}\,(1-u^2)^{(d-4)/2},\qquad
    u\in(-1,1),$$

    the inner-product law of two uniform directions in $e^\perp\cong\mathbb R^{d-1}$
    (`mean-field-clt.md` §9.4 [literature, standard]).

    **Arguments:**

    - `overlap`: $u$, an array (the density is 0 outside $[-1,1]$).
    - `dimension`: the input dimension $d\ge3$.

    **Returns:** $p_d(u)$, an array of the shape of `overlap`.

    **Raises:** `ValueError` naming the argument.
    """
    d = _check_dimension(dimension)
    u = _float_array(overlap, "overlap", "an array of finite real numbers")
    log_constant = scipy.special.gammaln((d - 1) / 2) - scipy.special.gammaln((d - 2) / 2)
    constant = math.exp(log_constant) / math.sqrt(math.pi)
    inside = np.abs(u) < 1
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(inside, constant * np.power(1 - u * u, (d - 4) / 2), 0.0)
    return value


def reduced_overlap_quadrature(dimension, order: int = 48) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss–Jacobi nodes and weights for $\mathbb E_u\,h(u)$, $u\sim p_d$.

    Gauss–Jacobi quadrature with exponents $\alpha=\beta=(d-4)/2$, weights normalised to sum
    to 1: exact for polynomials in $u$ of degree $<2\cdot$`order` [literature, standard].

    **Arguments:**

    - `dimension`: $d\ge3$.
    - `order`: the number of nodes, $\ge1$.

    **Returns:** `(nodes, weights)`, two arrays of length `order`.

    **Raises:** `ValueError` naming the argument.
    """
    d = _check_dimension(dimension)
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    exponent = (d - 4) / 2
    nodes, weights = scipy.special.roots_jacobi(int(order), exponent, exponent)
    return nodes, weights / np.sum(weights)


@dataclasses.dataclass(frozen=True, eq=False)
class ReducedReluState:
    r"""Loss, bounds and mean-field velocities of the reduced ReLU teacher–student model.

    Built by [`reduced_relu_teacher_student`][limitlab.theory.reduced_relu_teacher_student].

    **Fields:**

    - `loss`: $\mathcal L(\mu)=\frac12\mathbb E_x(f^*-f_\mu)^2$.
    - `resampling_bound`: $V_\mu=\int c^2|z|^2/2\,d\mu-\lVert f_\mu\rVert^2$.
    - `two_norm_bound`: $\int c^2|z|^2/2\,d\mu=\int c^2\lVert\mathrm{ReLU}\langle z,\cdot\rangle
      \rVert^2d\mu\ge V_\mu$.
    - `output_velocity`, `parallel_velocity`, `orthogonal_velocity`: $\dot c$, $\dot a$,
      $\dot b$ of each atom, shape `(p,)`.
    """

    loss: float
    resampling_bound: float
    two_norm_bound: float
    output_velocity: np.ndarray
    parallel_velocity: np.ndarray
    orthogonal_velocity: np.ndarray


def reduced_relu_teacher_student(
    output_weights,
    a,
    b,
    weights=None,
    *,
    teacher_output,
    teacher_norm,
    dimension,
    order: int = 48,
) -> ReducedReluState:
    r"""The ReLU teacher–student mean-field model reduced to $(c,a,b)$, exactly for any $d$.

    Inputs $x\sim\mathcal N(0,I_d)$, teacher $f^*=c^*\mathrm{ReLU}\langle z^*,x\rangle$, student
    units $c\,\mathrm{ReLU}\langle z,x\rangle$, population loss.  For $\mu$ invariant under the
    rotations fixing $e=z^*/|z^*|$, each atom $(c,a,b)$ stands for the orbit
    $\{(c,ae+bv):v\perp e,|v|=1\}$ with $v$ uniform, and (`mean-field-clt.md` §9.4 [derived])

    $$\mathcal L=\tfrac14c^{*2}|z^*|^2-\sum_iw_ic_ic^*\kappa^*_i+\tfrac12\sum_{ik}w_iw_kc_ic_k
    \bar\kappa_{ik},\qquad \bar\kappa_{ik}=\mathbb E_u\,\kappa(a_i,b_i;a_k,b_k;u),$$

    $\dot c_i=c^*\kappa^*_i-\sum_kw_kc_k\bar\kappa_{ik}$,
    $\dot a_i=c_i\big(c^*\kappa^*_{e,i}-\sum_kw_kc_k\overline{\kappa_e}_{ik}\big)$,
    $\dot b_i=c_i\big(c^*\kappa^*_{v,i}-\sum_kw_kc_k\overline{\kappa_v}_{ik}\big)$, with
    $u\sim p_d$ ([`reduced_overlap_density`][limitlab.theory.reduced_overlap_density]),
    evaluated by [`reduced_overlap_quadrature`][limitlab.theory.reduced_overlap_quadrature]
    (the only approximation; the integrand is smooth inside $(-1,1)$).  Also
    $V_\mu=\sum_iw_ic_i^2(a_i^2+b_i^2)/2-\sum_{ik}w_iw_kc_ic_k\bar\kappa_{ik}$.  In the mean-field
    limit an orbit also interacts with itself through $\mathbb E_u$ (a width-$m$ network's
    diagonal term $\kappa(z,z)$ is an $O(1/m)$ correction).

    **Arguments:**

    - `output_weights`, `a`, `b`: the atoms $(c_i,a_i,b_i)$, 1-D of equal length, $b_i\ge0$,
      $a_i^2+b_i^2>0$.
    - `weights`: probability weights $w_i$ (default uniform).
    - `teacher_output`: $c^*$; `teacher_norm`: $|z^*|>0$.
    - `dimension`: the input dimension $d\ge3$.
    - `order`: the number of quadrature nodes in $u$.

    **Returns:** a [`ReducedReluState`][limitlab.theory.ReducedReluState].

    **Raises:** `ValueError` naming the argument.
    """
    c = _vector(output_weights, "output_weights", None)
    p = c.shape[0]
    a = _vector(a, "a", p)
    b = _vector(b, "b", p)
    w = _probability_weights(weights, p, "weights")
    teacher_c = float(_exact(teacher_output, "teacher_output"))
    teacher_r = float(_exact(teacher_norm, "teacher_norm", positive=True))
    nodes, node_weights = reduced_overlap_quadrature(dimension, order)
    k_star, k_star_e, k_star_v = reduced_relu_kernel(a, b, teacher_r, 0.0, 0.0)
    kappa, kappa_e, kappa_v = reduced_relu_kernel(
        a[:, None, None], b[:, None, None], a[None, :, None], b[None, :, None], nodes
    )
    mean_kappa = kappa @ node_weights
    mean_kappa = 0.5 * (mean_kappa + mean_kappa.T)
    wc = w * c
    norm_term = float(np.sum(w * c**2 * (a**2 + b**2)) / 2)
    network_norm = float(wc @ mean_kappa @ wc)
    loss = 0.25 * teacher_c**2 * teacher_r**2 - teacher_c * float(wc @ k_star) + 0.5 * network_norm
    output_velocity = teacher_c * k_star - mean_kappa @ wc
    parallel_velocity = c * (teacher_c * k_star_e - (kappa_e @ node_weights) @ wc)
    orthogonal_velocity = c * (teacher_c * k_star_v - (kappa_v @ node_weights) @ wc)
    return ReducedReluState(
        loss=float(_finite(np.array(loss), "the loss")),
        resampling_bound=float(_finite(np.array(norm_term - network_norm), "V_t")),
        two_norm_bound=float(_finite(np.array(norm_term), "the 2-norm bound")),
        output_velocity=_finite(output_velocity, "dc/dt"),
        parallel_velocity=_finite(parallel_velocity, "da/dt"),
        orthogonal_velocity=_finite(orthogonal_velocity, "db/dt"),
    )
