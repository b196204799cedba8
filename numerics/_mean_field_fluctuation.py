"""Fluctuations of finite-width mean-field networks around their limit, and their prediction.

Quantity (mean-field-clt.md §4.1, §10.2): $m\\,\\mathbb E\\lVert f^{(m)}_t-f_t\\rVert^2_\\nu\\to
\\mathbb E\\lVert g_t\\rVert^2_\\nu$, $g_t=\\lim\\sqrt m(f^{(m)}_t-f_t)$, on the training and the test
measure.  Two ways to get it:

- **Brute force**: [`finite_width_run`][limitlab.numerics.finite_width_run] trains one width-$m$
  network from one key (for [`run_ensemble`][limitlab.numerics.run_ensemble]),
  [`finite_width_ensemble`][limitlab.numerics.finite_width_ensemble] runs hundreds of seeds per
  width and [`fluctuation_summary`][limitlab.numerics.fluctuation_summary] turns them into
  $\\hat G_m(t)$ with standard errors.
- **Linear response** (§6 [derived, checked numerically]):
  [`linear_response_fluctuation`][limitlab.numerics.linear_response_fluctuation] differentiates
  the weighted-particle solution with respect to the particle weights in the directions of
  the initial CLT, $g_t=D\\mathcal S_t[\\mu_0](\\omega_0)$.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._custom_types import Array, ArrayLike, Float, Key
from ._ensemble import run_ensemble
from ._mean_field import (
    _check_particles,
    _check_regularisation,
    _check_times,
    _deviation,
    _failure_message,
    _Integrator,
    _integrator,
    _observables,
    _solve,
    _tangent_norm2,
    _velocity,
)
from ._mean_field_models import (
    DataMeasure,
    MeanFieldModel,
    Particles,
    _int_at_least,
    initial_particles,
    reference_particles,
)
from ._precision import check_finite, float64

__all__ = [
    "finite_width_ensemble",
    "finite_width_run",
    "fluctuation_summary",
    "linear_response_fluctuation",
]

_MEASURES = ("train", "test")


def _check_width(width) -> int:
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    return int(width)


def _check_seeds(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"{name} must be an integer >= 2 (a standard error needs at least two "
                         f"samples), got {n!r}")
    return int(n)


def _check_reference(reference, times: np.ndarray, model: MeanFieldModel) -> dict | None:
    if reference is None:
        return None
    if not isinstance(reference, dict) or not {"c", "z", "w", "times"} <= set(reference):
        raise ValueError("reference must be the dict returned by mean_field_flow (with 'times', "
                         f"'c', 'z', 'w'), got {type(reference).__name__}")
    ref_times = np.asarray(reference["times"])
    if ref_times.shape != times.shape or not np.allclose(ref_times, times, rtol=0, atol=1e-12):
        raise ValueError(
            f"reference was computed at times {ref_times.tolist()}, these runs save at "
            f"{times.tolist()}: they must be the same"
        )
    if np.shape(reference["z"])[-1] != model.z_dim:
        raise ValueError(f"reference particles have q = {np.shape(reference['z'])[-1]}, the "
                         f"model has q = {model.z_dim}")
    return reference


# --------------------------------------------------------------------------------------------
# brute force: one network per seed


@eqx.filter_jit
def _finite_run(model, c0, z0, w, times, lam, ref, integ: _Integrator, values: bool):
    def field(t, y, args):
        c, z = y
        return _velocity(model.train, model.unit, c, z, w, lam, integ.train_features)

    (c_t, z_t), (ok, steps, reached) = _solve(field, (c0, z0), times, integ)

    def per_time(i):
        c, z = c_t[i], z_t[i]
        obs = _observables(model, c, z, w)
        out = {k: v for k, v in obs.items() if values or not k.startswith("f_")}
        if ref is not None:
            p = Particles(c, z, w)
            q = Particles(ref[0][i], ref[1][i], ref[2])
            for name in _MEASURES:
                out[f"deviation_{name}"] = _deviation(getattr(model, name), model.unit, p, q)
        return out

    out = lax.map(per_time, jnp.arange(times.shape[0]))
    out.update(ok=ok, steps=steps, reached=reached)
    return out


def finite_width_run(
    model: MeanFieldModel,
    width: int,
    times: Float[ArrayLike, " T"],
    *,
    key: Key,
    reference: dict | None = None,
    regularisation: float = 0.0,
    train_features: bool = True,
    values: bool = False,
    solver: str | diffrax.AbstractSolver = "tsit5",
    dt: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
) -> dict[str, Array]:
    """One width-$m$ network from one key, trained in mean-field time: the per-seed simulation.

    Draws $\\theta_i\\sim\\mu_0$ i.i.d. with `key`
    ([`initial_particles`][limitlab.numerics.initial_particles]), sets $w_i=1/m$ and integrates
    the flow of [`mean_field_flow`][limitlab.numerics.mean_field_flow] (same equations,
    $\\dot\\theta_i=-m\\nabla_{\\theta_i}\\mathcal L_\\lambda$).  JAX-traceable and vmappable in
    `key`: pass `lambda key: finite_width_run(model, m, times, key=key, reference=ref)` to
    [`run_ensemble`][limitlab.numerics.run_ensemble] (or use
    [`finite_width_ensemble`][limitlab.numerics.finite_width_ensemble]).  It must be traced in
    float64: `run_ensemble` does so by default, otherwise call it inside
    [`float64()`][limitlab.numerics.float64].

    **Arguments:**

    - `model`, `width` ($m\\ge1$), `times` (non-decreasing, $\\ge0$): as named.
    - `key`: PRNG key of the initialisation (the data are the model's, shared by all seeds).
    - `reference`: the [`mean_field_flow`][limitlab.numerics.mean_field_flow] result of the
      mean-field limit at the same `times`; adds the squared deviations.
    - `regularisation`, `train_features`, `solver`, `dt`, `rtol`, `atol`, `max_steps`: as in
      [`mean_field_flow`][limitlab.numerics.mean_field_flow].
    - `values`: also return $f^{(m)}_t$ on the nodes of data measures.

    **Returns:** a dict, `T` = number of times:

    - `"loss_train"`, `"loss_test"`, `"norm2"`, `"resampling_train"`, `"resampling_test"`
      `(T,)`: as in `mean_field_flow`, for this network;
    - `"deviation_train"`, `"deviation_test"` `(T,)`: $\\lVert f^{(m)}_t-f_t\\rVert^2_\\nu$ against
      the reference (only with `reference`);
    - `"f_train"`, `"f_test"` `(T, n)`: only with `values`;
    - `"ok"` (bool), `"steps"` (accepted solver steps), `"reached"` (time reached): the run's
      status.  A run that became non-finite has `ok = False` and non-finite outputs
      (`finite_width_ensemble` turns that into an error naming the seed and the step).

    **Raises:** `ValueError` naming the argument for $m<1$, bad `times`, $\\lambda<0$, a
    reference at other times, or when not traced in float64.
    """
    if jnp.result_type(float) != jnp.float64:
        raise ValueError("finite_width_run must be traced in float64: run it through "
                         "run_ensemble (x64=True, the default) or inside numerics.float64()")
    width = _check_width(width)
    times = _check_times(times)
    lam = _check_regularisation(regularisation)
    integ = _integrator(solver, dt, rtol, atol, max_steps, train_features)
    reference = _check_reference(reference, times, model)
    if not isinstance(values, bool):
        raise ValueError(f"values must be True or False, got {values!r}")
    ref = None if reference is None else tuple(
        jnp.asarray(reference[k], jnp.float64) for k in ("c", "z", "w"))
    p = initial_particles(model, width, key=key)
    return _finite_run(model, p.c, p.z, p.w, jnp.asarray(times), jnp.asarray(lam), ref,
                       integ, values)


def fluctuation_summary(
    runs: dict[str, np.ndarray],
    width: int,
    *,
    reference: dict | None = None,
    model: MeanFieldModel | None = None,
) -> dict[str, np.ndarray]:
    """$\\hat G_m(t)$, the loss gap and the 2-norm, with standard errors, from an ensemble.

    From $R$ independent runs of [`finite_width_run`][limitlab.numerics.finite_width_run]
    (arrays with a leading seed axis, as [`run_ensemble`][limitlab.numerics.run_ensemble]
    returns them), per measure $\\nu\\in\\{$train, test$\\}$ (mean-field-clt.md §10.2):

    - with deviations from a reference:
      $\\hat G_m(t)=m\\frac1R\\sum_r\\lVert f^{(m),r}_t-f_t\\rVert^2_\\nu$, standard error
      $m\\,s/\\sqrt R$ ($s$: sample standard deviation over seeds);
    - otherwise, from the values (`values=True`, data measures only), centred on the seed mean:
      $\\hat G_m(t)=m\\frac1{R-1}\\sum_r\\lVert f^{(m),r}_t-\\bar f_t\\rVert^2_\\nu$ (unbiased for
      $m\\,\\mathrm{Var}$; it leaves out the squared bias $m\\lVert\\mathbb Ef^{(m)}-f\\rVert^2=O(1/m)$),
      standard error from the spread of $\\frac R{R-1}\\lVert f^r-\\bar f\\rVert^2$ (needs
      `model`, for the weights of its data measures);
    - `"loss_gap_<measure>"`: $m(\\overline{\\mathcal L^{(m)}_t}-\\mathcal L_t)$, which tends to
      $\\langle f_t-f^*,b_t\\rangle+\\frac12\\mathbb E\\lVert g_t\\rVert^2$, not to
      $\\frac12\\mathbb E\\lVert g_t\\rVert^2$ alone (§4.2; needs `reference`);
    - `"norm2"`: mean of $\\int c^2d\\mu^{(m)}_t$ and its standard error.

    **Arguments:**

    - `runs`: the stacked outputs of `finite_width_run` (leading axis: seeds, at least 2).
    - `width`: $m\\ge1$, the width of those runs.
    - `reference`: the `mean_field_flow` result of the limit (for the loss gap).
    - `model`: the model (only for centring values on the seed mean).

    **Returns:** a dict of numpy arrays `(T,)`: `"<measure>"`, `"<measure>_se"`,
    `"loss_gap_<measure>"`, `"loss_gap_<measure>_se"`, `"norm2"`, `"norm2_se"`, and the scalars
    `"width"`, `"n_seeds"`.

    **Raises:** `ValueError` for $m<1$, fewer than 2 seeds, or runs with neither deviations
    nor values.
    """
    width = _check_width(width)
    runs = {k: np.asarray(v) for k, v in runs.items()}
    if "norm2" not in runs:
        raise ValueError("runs must be the stacked outputs of finite_width_run")
    n = _check_seeds("the number of seeds", runs["norm2"].shape[0])
    root = math.sqrt(n)
    out: dict[str, np.ndarray] = {"width": np.asarray(width), "n_seeds": np.asarray(n)}
    for name in _MEASURES:
        if f"deviation_{name}" in runs:
            dev = width * runs[f"deviation_{name}"]
        elif f"f_{name}" in runs:
            if model is None:
                raise ValueError("runs hold values but no deviations: pass model= (for the "
                                 "weights of its data measures)")
            f = runs[f"f_{name}"]
            nu = np.asarray(getattr(model, name).weights)
            centred = f - f.mean(axis=0)
            dev = width * n / (n - 1) * np.einsum("rtj,j->rt", centred * centred, nu)
        else:
            continue
        out[name] = dev.mean(axis=0)
        out[f"{name}_se"] = dev.std(axis=0, ddof=1) / root
        if reference is not None:
            gap = width * (runs[f"loss_{name}"] - np.asarray(reference[f"loss_{name}"]))
            out[f"loss_gap_{name}"] = gap.mean(axis=0)
            out[f"loss_gap_{name}_se"] = gap.std(axis=0, ddof=1) / root
    if not any(name in out for name in _MEASURES):
        raise ValueError("runs hold neither deviations (pass reference= to finite_width_run) "
                         "nor values (values=True)")
    out["norm2"] = runs["norm2"].mean(axis=0)
    out["norm2_se"] = runs["norm2"].std(axis=0, ddof=1) / root
    return out


def _default_microbatch(model: MeanFieldModel, width: int, n_seeds: int) -> int:
    # About 2**23 unit evaluations per micro-batch: a few hundred MB of live arrays in the
    # solver's stages, whatever the width.
    nodes = max(
        (m.x.shape[0] if isinstance(m, DataMeasure) else width) for m in (model.train, model.test)
    )
    per_seed = max(1, width * nodes)
    size = max(1, min(n_seeds, 2**23 // per_seed))
    # Prefer a micro-batch that divides the seeds (run_ensemble pads the last chunk).
    for candidate in range(size, max(1, size // 2) - 1, -1):
        if n_seeds % candidate == 0:
            return candidate
    return size


def finite_width_ensemble(
    model: MeanFieldModel,
    widths: Sequence[int],
    times: Float[ArrayLike, " T"],
    *,
    n_seeds: int,
    seed: int,
    reference: dict | None = None,
    regularisation: float = 0.0,
    train_features: bool = True,
    solver: str | diffrax.AbstractSolver = "tsit5",
    dt: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    microbatch: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool | None = None,
    return_runs: bool = False,
) -> dict[int, dict[str, np.ndarray]]:
    """Brute-force fluctuations: `n_seeds` independent networks per width, same data.

    For each width $m$, runs [`finite_width_run`][limitlab.numerics.finite_width_run] through
    [`run_ensemble`][limitlab.numerics.run_ensemble] (micro-batched `vmap`, sharded over
    `devices`, checkpointed to `checkpoint_dir/mean_field_m<m>.npz`) and summarises with
    [`fluctuation_summary`][limitlab.numerics.fluctuation_summary] against the mean-field
    `reference`.  Seed index $r$ at width $m$ uses the key `fold_in(fold_in(key(seed), r), m)`,
    so the ensembles of different widths are independent.  Runs in float64.

    **Arguments:**

    - `model`: the [`MeanFieldModel`][limitlab.numerics.MeanFieldModel] (data shared by all).
    - `widths`: widths $m\\ge1$ (e.g. $2^5,\\dots,2^{14}$).
    - `times`: non-decreasing times $\\ge0$.
    - `n_seeds`: independent initialisations per width ($\\ge2$).
    - `seed`: base integer seed.
    - `reference`: [`mean_field_flow`][limitlab.numerics.mean_field_flow] of the limit at the
      same `times`; default: the flow of the model's quadrature
      ([`reference_particles`][limitlab.numerics.reference_particles]`(model)`), an error for
      models without one.
    - `regularisation`, `train_features`, `solver`, `dt`, `rtol`, `atol`, `max_steps`: as in
      [`mean_field_flow`][limitlab.numerics.mean_field_flow] (the reference should use the
      same).
    - `microbatch`: seeds per `vmap` (default: about $2^{23}$ unit evaluations per batch).
    - `devices`, `checkpoint_dir`, `resume`, `progress`: passed to `run_ensemble`.
    - `return_runs`: also return the per-seed outputs under `"runs"`.

    **Returns:** `{m: summary}` with the summary of `fluctuation_summary` for each width.

    **Raises:** `ValueError` naming the argument for widths $<1$, `n_seeds` $<2$, bad `times`
    or $\\lambda<0$; `FloatingPointError` naming the width, the seed index and the solver step
    of the first run that became non-finite.
    """
    with float64():
        if isinstance(widths, numbers.Integral):
            widths = [widths]
        widths = [_check_width(m) for m in widths]
        if not widths:
            raise ValueError("widths must contain at least one width, got none")
        n_seeds = _check_seeds("n_seeds", n_seeds)
        times = _check_times(times)
        lam = _check_regularisation(regularisation)
        integ = _integrator(solver, dt, rtol, atol, max_steps, train_features)
        if reference is None:
            from ._mean_field import mean_field_flow

            reference = mean_field_flow(
                model, reference_particles(model), times, regularisation=lam,
                train_features=train_features, solver=solver, dt=dt, rtol=rtol, atol=atol,
                max_steps=max_steps,
            )
        reference = _check_reference(reference, times, model)
        results = {}
        for m in widths:
            def simulate(key, m=m):
                return finite_width_run(
                    model, m, times, key=jax.random.fold_in(key, m), reference=reference,
                    regularisation=lam, train_features=train_features, solver=integ.solver,
                    dt=dt, rtol=rtol, atol=atol, max_steps=max_steps,
                )

            batch = _default_microbatch(model, m, n_seeds) if microbatch is None else (
                _int_at_least("microbatch", microbatch, 1))
            checkpoint = None if checkpoint_dir is None else (
                Path(checkpoint_dir) / f"mean_field_m{m}.npz")
            runs = run_ensemble(
                simulate, seed=seed, n_seeds=n_seeds, microbatch=batch, devices=devices,
                checkpoint=checkpoint, resume=resume, progress=progress,
                description=f"width {m}", check_finite=False,
                config={"model": model.name, "width": m, "times": times.tolist(),
                        "regularisation": lam, "train_features": train_features,
                        "solver": repr(integ.solver), "dt": dt, "rtol": rtol, "atol": atol},
            )
            bad = np.flatnonzero(~np.asarray(runs["ok"]))
            if bad.size:
                r = int(bad[0])
                raise FloatingPointError(
                    f"width {m}, seed index {r} ({bad.size} seed(s) failed): "
                    + _failure_message("finite_width_run", int(runs["steps"][r]),
                                       float(runs["reached"][r]), integ)
                )
            summary = fluctuation_summary(runs, m, reference=reference)
            if return_runs:
                summary["runs"] = runs
            results[m] = summary
        return results


# --------------------------------------------------------------------------------------------
# linear response


@eqx.filter_jit
def _tangent_run(model, c0, z0, w, dw, times, lam, integ: _Integrator):
    """Primal flow and its JVPs in the weight directions `dw` `(B, P)`; tangent norms `(B, T)`."""
    n_dir = dw.shape[0]

    def velocity(c, z, ww):
        return _velocity(model.train, model.unit, c, z, ww, lam, integ.train_features)

    def field(t, y, args):
        (c, z), (dc, dz) = y
        v, linear = jax.linearize(velocity, c, z, w)
        return v, jax.vmap(linear)(dc, dz, dw)

    zeros = (jnp.zeros((n_dir, *c0.shape), c0.dtype), jnp.zeros((n_dir, *z0.shape), z0.dtype))
    ((c_t, z_t), (dc_t, dz_t)), info = _solve(field, ((c0, z0), zeros), times, integ)

    def norms(i):
        p = Particles(c_t[i], z_t[i], w)

        def one(dc, dz, dwk):
            dp = Particles(dc, dz, dwk)
            return {name: _tangent_norm2(getattr(model, name), model.unit, p, dp)
                    for name in _MEASURES}

        return jax.vmap(one)(dc_t[i], dz_t[i], dw)

    return lax.map(norms, jnp.arange(times.shape[0])), info  # leaves (T, B)


def linear_response_fluctuation(
    model: MeanFieldModel,
    particles: Particles,
    times: Float[ArrayLike, " T"],
    *,
    method: str = "gaussian",
    directions: int = 256,
    key: Key | None = None,
    batch: int = 64,
    regularisation: float = 0.0,
    train_features: bool = True,
    solver: str | diffrax.AbstractSolver = "tsit5",
    dt: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
) -> dict[str, np.ndarray]:
    """The limiting fluctuation $\\mathbb E\\lVert g_t\\rVert^2_\\nu$ by linear response (§6).

    $g_t=\\lim_m\\sqrt m(f^{(m)}_t-f_t)=D\\mathcal S_t[\\mu_0](\\omega_0)$: the derivative of the
    mean-field solution map in the direction of the Gaussian initial fluctuation $\\omega_0$
    (covariance $\\mathrm{Cov}_{\\mu_0}$, §4.3), which is all the randomness of deterministic
    gradient descent (§4.4).  With a weighted particle discretisation of $\\mu_0$ (`particles`:
    quadrature nodes with weights $W_k$, $\\sum_kW_k=1$, or a wide i.i.d. network with
    $W_k=1/M$), $\\omega_0$ is a perturbation $\\xi$ of the weights with covariance
    $\\mathrm{diag}(W)-WW^\\top$, each particle keeping its mean-field velocity.  The tangent
    flow (JVP of the velocity field in $(c,z,w)$, `jax.linearize`, all directions of a batch
    sharing one primal solve) is integrated jointly with the flow by diffrax, and
    $g_t=\\sum_i(\\xi_ic_i\\varphi_i+W_i\\dot c_i\\varphi_i+W_ic_i\\nabla_z\\varphi_i\\cdot\\dot z_i)$ with
    $(\\dot c,\\dot z)$ the tangent particles.

    Methods [derived, mean-field-clt.md §6; checked against brute force in the tests]:

    - `"gaussian"`: `directions` $R$ draws $\\xi=\\sqrt W\\odot Z-W(\\sqrt W\\cdot Z)$,
      $Z\\sim\\mathcal N(0,I)$; estimate $\\frac1R\\sum_r\\lVert g^{(r)}_t\\rVert^2$ with standard
      error $s/\\sqrt R$.  Cost: about $R$ tangent solves.
    - `"exact"`: one direction per particle ($\\xi=e_k$, $A_t$ the linear map
      $\\xi\\mapsto g_t$): $\\mathbb E\\lVert g_t\\rVert^2=\\sum_kW_k\\lVert A_te_k\\rVert^2-
      \\lVert A_tW\\rVert^2$, no statistical error (standard error 0), only the discretisation
      error of $\\mu_0$.  Cost: $P+1$ tangent solves ($A_tW$ is one more direction).

    At $t=0$ both give $V_0=\\sum_kW_kc_k^2\\lVert\\varphi(\\cdot;z_k)\\rVert^2-\\lVert f_0\\rVert^2$
    (in expectation for `"gaussian"`, exactly for `"exact"`).  Runs in float64.

    **Arguments:**

    - `model`: the [`MeanFieldModel`][limitlab.numerics.MeanFieldModel].
    - `particles`: the reference [`Particles`][limitlab.numerics.Particles] of $\\mu_0$
      ([`reference_particles`][limitlab.numerics.reference_particles]); weights $\\ge0$
      summing to 1.
    - `times`: non-decreasing times $\\ge0$.
    - `method`: `"gaussian"` or `"exact"`.
    - `directions`: $R\\ge2$ for `"gaussian"`.
    - `key`: PRNG key of the Gaussian directions (required for `"gaussian"`).
    - `batch`: directions per solve (memory $\\propto$ `batch` x $P$ x $q$ x stages).
    - `regularisation`, `train_features`, `solver`, `dt`, `rtol`, `atol`, `max_steps`: as in
      [`mean_field_flow`][limitlab.numerics.mean_field_flow]; adaptive steps are controlled
      on the flow and its tangents together.

    **Returns:** a dict of numpy arrays: `"times"` `(T,)`; `"train"`, `"train_se"`, `"test"`,
    `"test_se"` `(T,)`: the estimate of $\\mathbb E\\lVert g_t\\rVert^2$ on each measure and its
    standard error; `"samples_train"`, `"samples_test"` `(R, T)`: the $\\lVert g^{(r)}_t\\rVert^2$
    (`"gaussian"` only); `"directions"`: the number of tangent directions solved ($R$, or
    $P+1$).

    **Raises:** `ValueError` naming the argument for an unknown method, $R<2$, a missing key,
    weights that are negative or do not sum to 1, and the arguments `mean_field_flow` rejects;
    `FloatingPointError` naming the solver step if the solution becomes non-finite.

    !!! cite "Source"

        mean-field-clt.md §4.3, §4.4, §6 [derived, checked numerically]; Chen, Rotskoff,
        Bruna & Vanden-Eijnden, NeurIPS 2020 (arXiv:2008.09623).
    """
    if method not in ("gaussian", "exact"):
        raise ValueError(f"method must be 'gaussian' or 'exact', got {method!r}")
    batch = _int_at_least("batch", batch, 1)
    with float64():
        times = _check_times(times)
        lam = _check_regularisation(regularisation)
        integ = _integrator(solver, dt, rtol, atol, max_steps, train_features)
        p = _check_particles(model, particles)
        w = np.asarray(p.w)
        if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
            raise ValueError(f"particles.w must be >= 0 and sum to 1 (a discretisation of "
                             f"mu_0), got min {w.min():.3g} and sum {w.sum():.12g}")
        n_part = w.shape[0]
        if method == "gaussian":
            directions = _check_seeds("directions", directions)
            if key is None:
                raise ValueError("method 'gaussian' needs key= for the Gaussian directions")
            z = np.asarray(jax.random.normal(key, (directions, n_part), jnp.float64))
            root = np.sqrt(w)
            xi = root * z - np.outer(z @ root, w)
        else:
            # Direction 0 is W itself (for ||A W||^2), then the basis vectors e_k.
            xi = np.concatenate([w[None, :], np.eye(n_part)])
            directions = xi.shape[0]
        batch = min(batch, directions)
        n_batches = -(-directions // batch)
        tj, lamj = jnp.asarray(times), jnp.asarray(lam)
        samples = {name: [] for name in _MEASURES}
        for b in range(n_batches):
            lo, hi = b * batch, min((b + 1) * batch, directions)
            dw = np.zeros((batch, n_part))  # the last batch is padded with zero directions
            dw[: hi - lo] = xi[lo:hi]
            per_time, (ok, steps, reached) = _tangent_run(
                model, p.c, p.z, p.w, jnp.asarray(dw), tj, lamj, integ)
            if not bool(ok):
                raise FloatingPointError(_failure_message(
                    "linear_response_fluctuation", int(steps), float(reached), integ))
            for name in _MEASURES:
                samples[name].append(np.asarray(per_time[name]).T[: hi - lo])  # (B, T)
        out: dict[str, np.ndarray] = {"times": times, "directions": np.asarray(directions)}
        for name in _MEASURES:
            s = np.concatenate(samples[name])
            if method == "exact":
                out[name] = w @ s[1:] - s[0]
                out[f"{name}_se"] = np.zeros_like(out[name])
            else:
                out[f"samples_{name}"] = s
                out[name] = s.mean(axis=0)
                out[f"{name}_se"] = s.std(axis=0, ddof=1) / math.sqrt(directions)
        check_finite("linear_response_fluctuation", out)
        return out
