"""Mean-field gradient flow of weighted particle systems, and its observables.

Conventions (mean-field-clt.md §2, §10.1 [notation reconstructed; formulas derived]): particles
$p=(c_i,z_i,w_i)$ ([`Particles`][limitlab.numerics.Particles]), network
$f_p=\\sum_iw_ic_i\\varphi(\\cdot;z_i)$ ($w_i=1/m$: $f=\\frac1m\\sum_ic_i\\varphi(\\cdot;z_i)$), loss
$\\mathcal L=\\frac12\\lVert f-f^*\\rVert^2_\\nu$ against the model's training measure, optional
2-norm penalty $\\frac\\lambda2\\int c^2d\\mu$ (weight decay on $c$, §7), and gradient flow in
**mean-field time**: every particle moves with the velocity of the first variation,

$$\\dot\\theta_i=-\\nabla_\\theta V_\\lambda(\\theta_i;\\mu_t),\\qquad
V_\\lambda(\\theta;\\mu)=\\langle c\\,\\varphi(\\cdot;z),f_\\mu-f^*\\rangle_\\nu+\\tfrac\\lambda2c^2,$$

i.e. $\\dot c_i=-\\langle\\varphi(\\cdot;z_i),f-f^*\\rangle_\\nu-\\lambda c_i$,
$\\dot z_i=-c_i\\langle\\nabla_z\\varphi(\\cdot;z_i),f-f^*\\rangle_\\nu$, independent of the
particle's own weight.  For a width-$m$ network this is $\\dot\\theta_i=-m\\nabla_{\\theta_i}
\\mathcal L_\\lambda$: discrete gradient descent $\\theta_i\\leftarrow\\theta_i-\\eta\\,m\\,
\\nabla_{\\theta_i}\\mathcal L_\\lambda$ is the Euler scheme with `dt` $=\\eta$ and $t=k\\eta$
(a loss without the ½, e.g. PyTorch's `MSELoss`, runs twice as fast).  With quadrature weights
the same equations are the characteristics of the mean-field PDE (§3).

The flow is integrated by diffrax in float64 ([`mean_field_flow`][limitlab.numerics.mean_field_flow]);
the fluctuation machinery built on it is in `_mean_field_fluctuation.py`.
"""

from __future__ import annotations

from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._custom_types import Array, ArrayLike, Float
from ._mean_field_models import (
    DataMeasure,
    MeanFieldModel,
    Particles,
    _finite_real,
    _int_at_least,
)
from ._precision import check_finite, float64

__all__ = ["MEAN_FIELD_SOLVERS", "mean_field_flow"]

MEAN_FIELD_SOLVERS = ("tsit5", "dopri5", "rk4", "euler")
"""Solver names of [`mean_field_flow`][limitlab.numerics.mean_field_flow]: diffrax's Tsit5 and
Dopri5 (adaptive or fixed step), classical RK4 and explicit Euler (fixed step `dt` only; Euler
with `dt` $=\\eta$ is discrete gradient descent)."""


class _ClassicalRK4(diffrax.AbstractERK):
    """The classical fourth-order Runge–Kutta method (no error estimate: fixed steps only)."""

    tableau: ClassVar[diffrax.ButcherTableau] = diffrax.ButcherTableau(
        c=np.array([0.5, 0.5, 1.0]),
        b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
        b_error=np.zeros(4),
        a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
    )
    interpolation_cls: ClassVar = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

    def order(self, terms):
        return 4


_SOLVER_CLASSES = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "rk4": _ClassicalRK4,
    "euler": diffrax.Euler,
}
_FIXED_STEP_ONLY = ("rk4", "euler")
# Units with at most this many parameters are differentiated in forward mode (one fused pass
# per coordinate); wider ones (ReLU in d dimensions) by one pullback.
_FORWARD_MODE_MAX_Q = 4


class _Integrator(eqx.Module):
    """Static integration settings (hashable: part of the compilation key)."""

    solver: diffrax.AbstractSolver
    controller: diffrax.AbstractStepSizeController
    dt0: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    train_features: bool = eqx.field(static=True)


def _integrator(solver, dt, rtol, atol, max_steps, train_features) -> _Integrator:
    if not isinstance(train_features, bool):
        raise ValueError(f"train_features must be True or False, got {train_features!r}")
    max_steps = _int_at_least("max_steps", max_steps, 1)
    if dt is not None:
        dt = _finite_real("dt", dt, positive=True)
    if isinstance(solver, str):
        if solver not in _SOLVER_CLASSES:
            raise ValueError(f"solver must be one of {MEAN_FIELD_SOLVERS} or a diffrax solver, "
                             f"got {solver!r}")
        if dt is None and solver in _FIXED_STEP_ONLY:
            raise ValueError(f"solver {solver!r} has no error estimate: give a fixed step dt")
        solver_obj = _SOLVER_CLASSES[solver]()
    elif isinstance(solver, diffrax.AbstractSolver):
        solver_obj = solver
    else:
        raise ValueError(f"solver must be one of {MEAN_FIELD_SOLVERS} or a diffrax solver, got "
                         f"{type(solver).__name__}")
    if dt is None:
        rtol = _finite_real("rtol", rtol, positive=True)
        atol = _finite_real("atol", atol, positive=True)
        controller = diffrax.PIDController(rtol=rtol, atol=atol)
    else:
        controller = diffrax.ConstantStepSize()
    return _Integrator(solver_obj, controller, dt, max_steps, train_features)


def _check_times(times) -> np.ndarray:
    try:
        array = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError, jax.errors.TracerArrayConversionError):
        raise ValueError(f"times must be a concrete 1-D array of reals, got {times!r}") from None
    if array.ndim != 1 or array.size < 1:
        raise ValueError(f"times must be a non-empty 1-D array, got shape {array.shape}")
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        raise ValueError(
            f"times must be finite and >= 0, got {array[bad][:3].tolist()} among them"
        )
    if np.any(np.diff(array) < 0):
        raise ValueError(f"times must be non-decreasing, got {array.tolist()}")
    return array


def _check_regularisation(value) -> float:
    return _finite_real("regularisation", value, nonnegative=True)


def _check_particles(model: MeanFieldModel, particles, name: str = "particles") -> Particles:
    if not isinstance(particles, Particles):
        raise TypeError(f"{name} must be a Particles(c, z, w), got {type(particles).__name__}")
    dtype = jnp.result_type(float)
    c, z, w = (jnp.asarray(a, dtype) for a in particles)
    if c.ndim != 1 or c.shape[0] < 1:
        raise ValueError(f"{name}.c must have shape (P,) with P >= 1, got {c.shape}")
    if z.shape != (c.shape[0], model.z_dim):
        raise ValueError(
            f"{name}.z must have shape (P, q) = ({c.shape[0]}, {model.z_dim}), got {z.shape}"
        )
    if w.shape != c.shape:
        raise ValueError(f"{name}.w must have shape (P,) = {c.shape}, got {w.shape}")
    for field, array in zip(("c", "z", "w"), (c, z, w), strict=True):
        if not bool(jnp.all(jnp.isfinite(array))):
            raise ValueError(f"{name}.{field} must be finite, got "
                             f"{int(jnp.sum(~jnp.isfinite(array)))} non-finite value(s)")
    return Particles(c, z, w)


# --------------------------------------------------------------------------------------------
# the functional: values, velocities, norms (measure by measure)


def _unit_matrix(unit, x, z):
    """$\\Phi_{ij}=\\varphi(x_j;z_i)$, shape `(P, n)`."""
    return jax.vmap(lambda zi: jax.vmap(lambda xj: unit(xj, zi))(x))(z)


def _kernel_matrix(kernel, z1, z2):
    return jax.vmap(lambda a: jax.vmap(lambda b: kernel(a, b))(z2))(z1)


def _velocity(measure, unit, c, z, w, lam, train_features: bool):
    """$(\\dot c,\\dot z)=-\\nabla_\\theta V_\\lambda(\\theta_i;\\mu)$ for all particles.

    Written without `stop_gradient`, so that its JVP in $(c,z,w)$ is the linearised flow.
    """
    if isinstance(measure, DataMeasure):
        x, y, nu = measure.x, measure.y, measure.weights
        if not train_features:
            phi = _unit_matrix(unit, x, z)
            a = nu * ((w * c) @ phi - y)
            return -(phi @ a) - lam * c, jnp.zeros_like(z)
        q = z.shape[1]
        if q <= _FORWARD_MODE_MAX_Q:
            # Forward mode, one JVP per coordinate of z (phi_ij depends on z_i only): XLA fuses
            # the unit and its derivative into one pass, about 3x faster than the pullback.
            grads = []
            for k in range(q):
                tangent = jnp.zeros_like(z).at[:, k].set(1.0)
                phi, dphi = jax.jvp(lambda zz: _unit_matrix(unit, x, zz), (z,), (tangent,))
                grads.append(dphi)
            a = nu * ((w * c) @ phi - y)
            return -(phi @ a) - lam * c, -c[:, None] * jnp.stack([g @ a for g in grads], axis=1)
        phi, pullback = jax.vjp(lambda zz: _unit_matrix(unit, x, zz), z)
        a = nu * ((w * c) @ phi - y)
        (gz,) = pullback(c[:, None] * a[None, :])
        return -(phi @ a) - lam * c, -gz
    wc = w * c

    def potential(zi):  # F_z(z_i) - sum_k w_k c_k K_z(z_i, z_k), i.e. -V(theta_i)/c_i
        return measure.potential(zi) - jnp.dot(jax.vmap(lambda zk: measure.kernel(zi, zk))(z), wc)

    if not train_features:
        return jax.vmap(potential)(z) - lam * c, jnp.zeros_like(z)
    value, grad = jax.vmap(jax.value_and_grad(potential))(z)
    return value - lam * c, c[:, None] * grad


def _observables(model: MeanFieldModel, c, z, w) -> dict[str, Array]:
    """Loss, resampling variance $V$ and network values on each measure, and $\\int c^2d\\mu$."""
    out = {"norm2": jnp.sum(w * c * c)}
    for name, measure in (("train", model.train), ("test", model.test)):
        if isinstance(measure, DataMeasure):
            phi = _unit_matrix(model.unit, measure.x, z)
            f = (w * c) @ phi
            nu = measure.weights
            out[f"f_{name}"] = f
            out[f"loss_{name}"] = 0.5 * jnp.sum(nu * (f - measure.y) ** 2)
            unit_norms = (phi * phi) @ nu
            out[f"resampling_{name}"] = jnp.sum(w * c * c * unit_norms) - jnp.sum(nu * f * f)
        else:
            wc = w * c
            gram = wc @ _kernel_matrix(measure.kernel, z, z) @ wc
            diagonal = jax.vmap(lambda zi: measure.kernel(zi, zi))(z)
            f_star = jnp.dot(wc, jax.vmap(measure.potential)(z))
            out[f"loss_{name}"] = 0.5 * (measure.target_norm2 - 2 * f_star + gram)
            out[f"resampling_{name}"] = jnp.sum(w * c * c * diagonal) - gram
    return out


def _deviation(measure, unit, p: Particles, q: Particles):
    """$\\lVert f_p-f_q\\rVert^2_\\nu$."""
    if isinstance(measure, DataMeasure):
        h = (p.w * p.c) @ _unit_matrix(unit, measure.x, p.z) - (
            (q.w * q.c) @ _unit_matrix(unit, measure.x, q.z))
        return jnp.sum(measure.weights * h * h)
    a, b = p.w * p.c, q.w * q.c
    k = measure.kernel
    return (a @ _kernel_matrix(k, p.z, p.z) @ a - 2 * (a @ _kernel_matrix(k, p.z, q.z) @ b)
            + b @ _kernel_matrix(k, q.z, q.z) @ b)


def _tangent_norm2(measure, unit, p: Particles, dp: Particles):
    """$\\lVert Df_p[\\delta p]\\rVert^2_\\nu$ with
    $Df_p[\\delta p]=\\sum_i\\big(\\delta(w_ic_i)\\varphi(\\cdot;z_i)+w_ic_i\\nabla_z\\varphi(\\cdot;z_i)
    \\cdot\\delta z_i\\big)$."""
    if isinstance(measure, DataMeasure):
        def values(c, z, w):
            return (w * c) @ _unit_matrix(unit, measure.x, z)

        _, g = jax.jvp(values, tuple(p), tuple(dp))
        return jnp.sum(measure.weights * g * g)

    off_diagonal = measure.mixed_diagonal is not None
    if off_diagonal:
        mask = ~jnp.eye(p.c.shape[0], dtype=bool)

    def bilinear(s, u):
        a = (p.w + s * dp.w) * (p.c + s * dp.c)
        b = (p.w + u * dp.w) * (p.c + u * dp.c)
        gram = _kernel_matrix(measure.kernel, p.z + s * dp.z, p.z + u * dp.z)
        if off_diagonal:
            gram = jnp.where(mask, gram, 0.0)
        return a @ gram @ b

    zero, one = jnp.zeros(()), jnp.ones(())
    total = jax.jvp(lambda s: jax.jvp(lambda u: bilinear(s, u), (zero,), (one,))[1], (zero,),
                    (one,))[1]
    if off_diagonal:
        # Self-interaction terms need grad_z grad_z' K at z = z', which autodiff of a kernel
        # that is not smooth on the diagonal cannot give (and under jit the two copies of z_i
        # may differ by round-off, which such a kernel amplifies): with D(z) = K(z, z),
        # grad_1 K = grad_2 K = grad D / 2 there, and M(z) is supplied.
        def diagonal(a, da, z, dz):
            value, grad = jax.value_and_grad(lambda zz: measure.kernel(zz, zz))(z)
            return da * da * value + da * a * (grad @ dz) + a * a * (dz @ measure.mixed_diagonal(z)
                                                                    @ dz)

        a = p.w * p.c
        da = dp.w * p.c + p.w * dp.c
        total = total + jnp.sum(jax.vmap(diagonal)(a, da, p.z, dp.z))
    return total


# --------------------------------------------------------------------------------------------
# integration


def _nonfinite(t, y, args, **kwargs):
    return jnp.logical_not(
        jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(y)]))
    )


def _solve(field, y0, times, integ: _Integrator, args=None):
    """Integrate `field` from t = 0 and save at `times`; stops at the first non-finite state.

    Returns the saved states and (`ok`, accepted steps, time reached).
    """
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        integ.solver,
        0.0,
        times[-1],
        integ.dt0,
        y0,
        args=args,
        saveat=diffrax.SaveAt(ts=times, t1=True),
        stepsize_controller=integ.controller,
        max_steps=integ.max_steps,
        event=diffrax.Event(_nonfinite),
        throw=False,
    )
    ys = jax.tree.map(lambda leaf: leaf[:-1], sol.ys)
    ok = sol.result == diffrax.RESULTS.successful
    reached = jnp.max(jnp.where(jnp.isfinite(sol.ts), sol.ts, 0.0))
    return ys, (ok, sol.stats["num_accepted_steps"], reached)


def _failure_message(what: str, steps: int, reached: float, integ: _Integrator) -> str:
    if integ.dt0 is not None:
        return (f"{what}: non-finite particle values at solver step {steps} "
                f"(t = {reached:.6g}, dt = {integ.dt0:g}); the flow diverged or the unit "
                "returned NaN/inf; try a smaller dt or check the model")
    return (f"{what}: the adaptive solver stopped at t = {reached:.6g} after {steps} accepted "
            f"steps (step {steps + 1} could not be completed: non-finite velocity, or "
            f"max_steps = {integ.max_steps} reached); the flow diverged or the unit returned "
            "NaN/inf")


@eqx.filter_jit
def _flow(model: MeanFieldModel, c0, z0, w, times, lam, integ: _Integrator):
    def field(t, y, args):
        c, z = y
        return _velocity(model.train, model.unit, c, z, w, lam, integ.train_features)

    (c_t, z_t), info = _solve(field, (c0, z0), times, integ)
    obs = lax.map(lambda s: _observables(model, s[0], s[1], w), (c_t, z_t))
    return c_t, z_t, obs, info


def mean_field_flow(
    model: MeanFieldModel,
    particles: Particles,
    times: Float[ArrayLike, " T"],
    *,
    regularisation: float = 0.0,
    train_features: bool = True,
    solver: str | diffrax.AbstractSolver = "tsit5",
    dt: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
) -> dict[str, Array]:
    """Gradient flow of a weighted particle system in mean-field time, saved at `times`.

    Solves $\\dot c_i=-\\langle\\varphi(\\cdot;z_i),f_t-f^*\\rangle_\\nu-\\lambda c_i$,
    $\\dot z_i=-c_i\\langle\\nabla_z\\varphi(\\cdot;z_i),f_t-f^*\\rangle_\\nu$ with
    $f_t=\\sum_iw_ic_i(t)\\varphi(\\cdot;z_i(t))$ and $\\nu$ the model's training measure (module
    docstring; mean-field-clt.md §2, §3 [derived]).  With quadrature particles of $\\mu_0$ this
    is the mean-field limit by weighted characteristics (§6, §9.1: it converges as the
    quadrature is refined); with $w_i=1/m$ and i.i.d. particles it is a width-$m$ network
    trained by gradient flow in mean-field time (time = learning rate x steps, per-parameter
    rate multiplied by $m$).

    Integrated by diffrax in float64 (the function enters
    [`float64()`][limitlab.numerics.float64] itself): adaptive Tsit5 with a PID controller
    (`rtol`, `atol`) by default, or fixed steps `dt` with any of
    [`MEAN_FIELD_SOLVERS`][limitlab.numerics.MEAN_FIELD_SOLVERS] (`"rk4"`, `dt=0.05` is the
    reference's choice; `"euler"`, `dt` $=\\eta$ is discrete gradient descent).  Cost per
    velocity evaluation $O(Pn)$ for a [`DataMeasure`][limitlab.numerics.DataMeasure] with $n$
    nodes, $O(P^2)$ for a [`KernelMeasure`][limitlab.numerics.KernelMeasure].

    **Arguments:**

    - `model`: a [`MeanFieldModel`][limitlab.numerics.MeanFieldModel].
    - `particles`: the initial [`Particles`][limitlab.numerics.Particles] `(c, z, w)`.
    - `times`: non-decreasing times $t\\ge0$ (mean-field time).
    - `regularisation`: $\\lambda\\ge0$ of the penalty $\\frac\\lambda2\\int c^2d\\mu$ (§7).
    - `train_features`: `False` freezes $z$ (random features, §9.2: a linear ODE for $c$).
    - `solver`, `dt`, `rtol`, `atol`, `max_steps`: integration settings (above).

    **Returns:** a dict of float64 numpy arrays (`T` = number of times, `P` particles):

    - `"times"` `(T,)`; `"c"` `(T, P)`, `"z"` `(T, P, q)`, `"w"` `(P,)`: the particles;
    - `"f_train"` `(T, n)`, `"f_test"` `(T, n')`: $f_t$ on the nodes (only for data measures);
    - `"loss_train"`, `"loss_test"` `(T,)`: $\\frac12\\lVert f_t-f^*\\rVert^2$ on each measure
      (without the penalty);
    - `"norm2"` `(T,)`: the 2-norm $\\lVert\\mu_t\\rVert_2^2=\\int c^2d\\mu_t=\\sum_iw_ic_i^2$
      (§5, assumed meaning [reconstructed]);
    - `"resampling_train"`, `"resampling_test"` `(T,)`: the Monte Carlo resampling variance
      $V_t=\\int\\lVert c\\varphi(\\cdot;z)\\rVert^2_\\nu d\\mu_t-\\lVert f_t\\rVert^2_\\nu$ (§5 box;
      at $t=0$ it equals $\\mathbb E\\lVert g_0\\rVert^2$ exactly, §4.3);
    - `"objective"` `(T,)`: `loss_train + regularisation / 2 * norm2`;
    - `"steps"`: the number of accepted solver steps.

    **Raises:** `ValueError` naming the argument for bad `times` (negative, not finite,
    decreasing), $\\lambda<0$, particles of the wrong shape or not finite, an unknown solver or
    a fixed-step solver without `dt`; `FloatingPointError` naming the solver step when the
    particles become non-finite during the run.

    !!! cite "Source"

        mean-field-clt.md §2–§3 [notation reconstructed; formulas derived]; Chen, Rotskoff,
        Bruna & Vanden-Eijnden, *A Dynamical Central Limit Theorem for Shallow Neural
        Networks*, NeurIPS 2020 (arXiv:2008.09623); Mei, Montanari & Nguyen, PNAS 2018.
    """
    with float64():
        times = _check_times(times)
        lam = _check_regularisation(regularisation)
        integ = _integrator(solver, dt, rtol, atol, max_steps, train_features)
        p = _check_particles(model, particles)
        c_t, z_t, obs, (ok, steps, reached) = _flow(
            model, p.c, p.z, p.w, jnp.asarray(times), jnp.asarray(lam), integ
        )
        if not bool(ok):
            raise FloatingPointError(
                _failure_message("mean_field_flow", int(steps), float(reached), integ)
            )
        out = {"times": times, "c": c_t, "z": z_t, "w": p.w, **obs}
        # numpy, not JAX, arrays: arithmetic on them outside float64() must stay in float64.
        out = {k: np.asarray(v) for k, v in out.items()}
        out["objective"] = out["loss_train"] + 0.5 * lam * out["norm2"]
        out["steps"] = int(steps)
        check_finite("mean_field_flow", out)
        return out

