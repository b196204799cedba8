"""Claims on noisy gradient descent near a manifold of minimisers (Shalova, Schlichting &
Peletier 2024; Li, Wang & Arora 2022; `manifold-drift.md`):

- `toy-limiting-ode`: on $L=\\frac12(xy-1)^2$ from $(2,\\frac12)$, label noise and perturbed GD
  follow their limiting ODEs in rescaled time (§9 toy 1), both ending at $(1,1)$;
- `drift-time-scales`: the number of steps for a fixed displacement along $\\Gamma$ scales as
  $\\alpha^{-2}$ (label noise) and $\\alpha^{-1}$ (perturbed GD, DropConnect), the exponents
  the symbolic classification predicts (§3, §4);
- `minibatch-no-motion`: minibatch SGD and sample-weight noise under interpolation leave a
  point of $\\Gamma$ where it is, over $1/\\alpha^2$ steps (§5 item 2);
- `diagonal-network-end-points`: on the diagonal linear network the limiting flows of label
  noise and DropConnect end at the weighted-$\\ell_1$ and weighted-minimum-$\\ell_2$
  interpolants (§9 toy 3);
- `diagonal-network-approach`: the noisy-GD chains approach those end points, their mean squared
  distance shrinking as $\\alpha$ decreases.

Every comparison of a finite-$\\alpha$ simulation with an $\\alpha\\to0$ limit has a finite-size
bias: $O(\\alpha)$ for the slow scale and, on the fast scale, $O(\\sigma^2)$ and $O(\\alpha)$
(§8).  The claims remove it by Richardson extrapolation (`toy-limiting-ode`), fit it as the
next-order term (`drift-time-scales`), or state it as what shrinks
(`diagonal-network-approach`); no tolerance is widened to absorb it.

Why the perturbed-GD bias is $O(\\sigma^2)$ on the toy [derived here]: $\\Delta^2L=4$ is
constant, so $\\mathbb E\\nabla L(w+\\sigma\\xi)=\\nabla\\big(L+\\frac{\\sigma^2}2(x^2+y^2)\\big)$
exactly; the mean dynamics is GD on that function, whose minimiser $x=y=\\sqrt{1-\\sigma^2}$ lies
$\\sigma^2/2$ below $(1,1)$: measured $-0.0050$ at $\\sigma=0.1$ and $-0.0012$ at $\\sigma=0.05$
($\\tau=8$).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from scipy import integrate

from limitlab import numerics, theory

from .._claim import Claim, ClaimSize, FigureSpec, Measurement, Prediction
from .._criteria import Agreement, SlopeMatches
from .._figures import draw_violation_counts
from .._registry import register

_TOY_START = (2.0, 0.5)


def _toy_residuals(w):
    return jnp.stack([w[0] * w[1] - 1.0])


_TOY = numerics.LeastSquares(_toy_residuals)
"""$L=\\frac12(xy-1)^2$ as one residual (the §5 convention with $n=1$)."""


def _microbatch(n: int, largest: int = 256) -> int:
    """Seeds per vmap batch: as even a split of `n` into batches of at most `largest` as can be
    (the ensemble runner pads the last batch)."""
    return math.ceil(n / math.ceil(n / largest))


def _steps(taus, tau_per_step: float) -> list[int]:
    """Step counts at the rescaled times `taus`; they must be whole (the sizes are chosen so)."""
    raw = np.asarray(taus, dtype=float) / tau_per_step
    steps = np.rint(raw)
    if np.any(np.abs(steps - raw) > 1e-6 * np.maximum(raw, 1)):
        raise ValueError(f"rescaled times {list(taus)} are not whole numbers of steps of "
                         f"{tau_per_step:g}")
    return [int(s) for s in steps]


@functools.lru_cache(maxsize=None)
def _toy_derivation(kind: str) -> theory.DriftDerivation:
    """The symbolic limit on the toy at its start (exact: the point is rational)."""
    point = (2, sp.Rational(1, 2))
    if kind == "label":
        return theory.derive_drift("x*y", ["x", "y"], "label", data=[((), 1)], point=point)
    return theory.derive_drift("(x*y - 1)**2/2", ["x", "y"], kind, point=point)


def _toy_flow(kind: str, taus, dense: int = 0):
    """The limiting ODE of `derive_drift` (drift valid on Gamma, lambdified with numpy)
    integrated from (2, 1/2) with DOP853 at rtol 1e-12: x at `taus` and a dense curve."""
    d = _toy_derivation(kind)
    field = sp.lambdify(d.parameters, list(d.drift), "numpy")
    taus = np.asarray(taus, dtype=float)
    grid = np.union1d(taus, np.linspace(0, taus.max(), dense)) if dense else taus
    sol = integrate.solve_ivp(lambda t, w: np.asarray(field(*w), dtype=float), (0, taus.max()),
                              np.array(_TOY_START), method="DOP853", rtol=1e-12, atol=1e-14,
                              t_eval=grid)
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise FloatingPointError(f"the limiting ODE of {kind} noise failed: {sol.message}")
    off = np.abs(sol.y[0] * sol.y[1] - 1).max()
    if off > 1e-8:
        raise FloatingPointError(f"the limiting ODE left the manifold xy = 1 by {off:.2g}")
    x = sol.y[0]
    return x[np.searchsorted(grid, taus)], (grid, x)


def _toy_chain_x(key, kind: str, alpha: float, sigma: float, taus):
    model = numerics.NoiseModel(kind, sigma=sigma)
    steps = _steps(taus, model.tau_per_step(alpha))
    w = numerics.noisy_gd(_TOY, jnp.asarray(_TOY_START), noise=model, alpha=alpha,
                          steps=steps[-1], key=key, record_steps=steps)
    return w[:, 0]


# ---------------------------------------------------------------------------------------------
# toy-limiting-ode

_TOY_KINDS = ("label", "perturbed")
# Richardson extrapolation to the limit: (alpha factor, sigma^2 factor, weight).  Label noise's
# bias is O(alpha) (sigma fixed: it enters only through tau = k alpha^2 sigma^2); perturbed
# GD's is a + b alpha + c sigma^2 to first order, removed by three runs.
_RICHARDSON = {
    "label": ((1.0, 1.0, -1.0), (0.5, 1.0, 2.0)),
    "perturbed": ((1.0, 1.0, -3.0), (0.5, 1.0, 2.0), (1.0, 0.5, 2.0)),
}


def predict_toy(params) -> Prediction:
    taus = np.asarray(params["taus"], dtype=float)
    x, y, series, curves = [], [], [], {}
    for kind in _TOY_KINDS:
        at, curve = _toy_flow(kind, taus, dense=200)
        x += list(taus)
        y += list(at)
        series += [kind] * taus.size
        curves[kind] = curve
    c = {k: _toy_derivation(k).sharpness_coefficient for k in _TOY_KINDS}
    return Prediction(np.array(x), np.array(y), series=tuple(series), curves=curves,
                      expression=("x(tau) of dW/dtau = drift of derive_drift; closed form "
                                  "x^2 - x^-2 = 3.75 exp(-2 c tau) with c = 1/2 (label, slow "
                                  "scale) and c = 1 (perturbed, fast scale); sharpness "
                                  f"coefficients {c}"))


def simulate_toy(params, context) -> Measurement:
    taus = tuple(params["taus"])
    runs = {kind: [(params["alpha"][kind] * a, params["sigma"][kind] * math.sqrt(s2), wgt)
                   for a, s2, wgt in _RICHARDSON[kind]] for kind in _TOY_KINDS}

    def one(key):
        out = {}
        for i, kind in enumerate(_TOY_KINDS):
            out[kind] = jnp.stack([
                _toy_chain_x(jax.random.fold_in(key, 10 * i + j), kind, alpha, sigma, taus)
                for j, (alpha, sigma, _) in enumerate(runs[kind])])
        return out

    raw = context.ensemble(one, tag="toy", config={**params, "runs": runs},
                           microbatch=_microbatch(context.n_seeds))
    weights = {k: np.array([w for *_, w in runs[k]]) for k in _TOY_KINDS}
    # per chain: the extrapolated x at every tau, label block then perturbed block
    samples = np.concatenate([np.einsum("r,srt->st", weights[k], raw[k]) for k in _TOY_KINDS],
                             axis=1)
    series = tuple(k for k in _TOY_KINDS for _ in taus)
    extra = {
        "raw": {k: {f"alpha={a:g}, sigma={s:g}": raw[k][:, j].mean(axis=0).tolist()
                    for j, (a, s, _) in enumerate(runs[k])} for k in _TOY_KINDS},
        "details": {"runs (alpha, sigma, Richardson weight)": runs},
    }
    return Measurement.from_samples(np.tile(np.asarray(taus, dtype=float), len(_TOY_KINDS)),
                                    samples, lambda s: s.mean(axis=0), series=series,
                                    extra=extra)


def _draw_toy(fig, prediction, measurement):
    """Top: chain means against the limiting ODE; bottom: their deviation from it, where the
    finite-(alpha, sigma) bias and its extrapolation are visible."""
    axes = fig.subplots(2, 2, sharex="col", gridspec_kw={"height_ratios": [3, 2]})
    for col, kind in enumerate(_TOY_KINDS):
        top, bottom = axes[0, col], axes[1, col]
        grid, x = prediction.curves[kind]
        top.plot(grid, x, color="k", lw=1.2, label="limiting ODE")
        idx = np.flatnonzero(np.asarray(measurement.series) == kind)
        taus, predicted = measurement.x[idx], prediction.y[idx]
        for j, (label, means) in enumerate(measurement.extra["raw"][kind].items()):
            means = np.asarray(means)
            top.plot(taus, means, "o", ms=3, mfc="none", color=f"C{j + 1}", label=label)
            bottom.plot(taus * (1 + 0.02 * (j + 1)), means - predicted, "o-", ms=3, lw=0.8,
                        mfc="none", color=f"C{j + 1}")
        top.errorbar(taus, measurement.y[idx], 3 * measurement.stderr[idx], fmt="s", ms=4,
                     color="C0", label="extrapolated, ±3 s.e.")
        bottom.errorbar(taus, measurement.y[idx] - predicted, 3 * measurement.stderr[idx],
                        fmt="s", ms=4, color="C0")
        bottom.axhline(0.0, color="k", lw=0.8)
        top.axhline(1.0, color="0.6", lw=0.8, ls=":")
        scale = "k alpha^2 sigma^2" if kind == "label" else "k alpha sigma^2"
        bottom.set_xlabel(f"tau = {scale}")
        top.set_ylabel("mean x over chains")
        bottom.set_ylabel("mean x - ODE")
        top.set_title(f"{kind} noise", fontsize=9)
        top.legend(fontsize=6)
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)


_TOY_SIZES = {
    "quick": ClaimSize(seeds=100, params={"taus": [0.5, 1.0, 2.0, 8.0],
                                          "alpha": {"label": 0.01, "perturbed": 0.01},
                                          "sigma": {"label": 1.0, "perturbed": 0.1}}),
    "full": ClaimSize(seeds=400, params={"taus": [0.5, 1.0, 2.0, 8.0],
                                         "alpha": {"label": 0.005, "perturbed": 0.005},
                                         "sigma": {"label": 1.0, "perturbed": 0.1}}),
}

register(
    Claim(
        name="toy-limiting-ode",
        statement=("On L = (xy-1)^2/2 from (2, 1/2), label noise (tau = k alpha^2 sigma^2) and "
                   "perturbed GD (tau = k alpha sigma^2) follow their limiting ODEs: the chain "
                   "mean of x, extrapolated to alpha, sigma^2 -> 0, matches at tau = 0.5, 1, 2, "
                   "and both reach (1, 1) by tau = 8."),
        reference=("manifold-drift.md §4, §9 toy 1 [derived]; Shalova, Schlichting & Peletier "
                   "2024 [reconstructed]"),
        predict=predict_toy,
        simulate=simulate_toy,
        # 8 points: z = 3.4 keeps the family-wise false-alarm rate near 0.5 % (Bonferroni).
        criterion=Agreement(z=3.4),
        sizes=_TOY_SIZES,
        figure=FigureSpec(xlabel="tau", ylabel="x", draw=_draw_toy),
    )
)


# ---------------------------------------------------------------------------------------------
# the diagonal linear network (§9 toy 3)


@functools.lru_cache(maxsize=None)
def _diagonal(n: int, d: int, data_seed: int):
    """Data, the problem object (one per data set, so compilations are shared), the start and
    its gradient-flow limit Phi(w0).  X has i.i.d. N(0, 1) entries; beta_true is 1.5 and -1 in
    coordinates 1 and 4 (§9), y = X beta_true; u, v = 1 + 0.3 N(0, 1)."""
    rng = np.random.default_rng(data_seed)
    X = rng.standard_normal((n, d))
    beta = np.zeros(d)
    beta[0], beta[min(3, d - 1)] = 1.5, -1.0
    y = X @ beta
    w0 = 1.0 + 0.3 * rng.standard_normal(2 * d)
    with numerics.float64():  # the data must be float64 even when this runs outside x64
        Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def residuals(w):
        return Xj @ (w[:d] * w[d:]) - yj

    problem = numerics.LeastSquares(residuals)
    with numerics.float64():
        start = np.asarray(numerics.flow_limit(problem, jnp.asarray(w0)))
    return X, y, problem, w0, start


def _beta(w, d):
    return w[..., :d] * w[..., d:]


def _end_points(X, y):
    return {"label": theory.weighted_l1_interpolant(X, y),
            "dropconnect": theory.weighted_min_norm_interpolant(X, y)}


_DIAGONAL_NOISE = {"label": {"sigma": 1.0}, "dropconnect": {"p": 0.01}}
_DIAGONAL_TARGET = {"label": "weighted l1", "dropconnect": "weighted min-l2"}


# ---------------------------------------------------------------------------------------------
# drift-time-scales


def _time_scale_exponent(derivation) -> int:
    """The power of alpha in the number of steps per unit of tau (-1 fast, -2 slow)."""
    powers = sp.powsimp(derivation.time_scale).as_powers_dict()
    return int(powers[sp.Symbol("alpha", positive=True)])


@functools.lru_cache(maxsize=None)
def _diagonal_derivation(n: int, d: int, data_seed: int, kind: str):
    X, y, _, _, start = _diagonal(n, d, data_seed)
    names = [f"u{i}" for i in range(d)] + [f"v{i}" for i in range(d)]
    inputs = [f"x{i}" for i in range(d)]
    model = " + ".join(f"u{i}*v{i}*x{i}" for i in range(d))
    data = [(tuple(float(t) for t in X[j]), float(y[j])) for j in range(n)]
    return theory.derive_drift(model, names, kind, data=data, inputs=inputs,
                               point=tuple(float(t) for t in start), symbolic=False)


def _scale_series(params):
    """(label, problem kind, noise kind, noise parameters)."""
    return [("label (toy)", "toy", "label", {"sigma": 1.0}),
            ("perturbed (toy)", "toy", "perturbed", {"sigma": 0.1}),
            ("dropconnect (diagonal network)", "diagonal", "dropconnect", {"p": params["p"]})]


def predict_scales(params) -> Prediction:
    alphas = np.asarray(params["alphas"], dtype=float)
    x, series, exponents = [], [], {}
    for label, problem, kind, _ in _scale_series(params):
        derivation = (_toy_derivation(kind) if problem == "toy"
                      else _diagonal_derivation(*params["network"], kind))
        exponents[label] = _time_scale_exponent(derivation)
        x += list(alphas)
        series += [label] * alphas.size
    return Prediction(np.array(x), np.ones(len(x)), series=tuple(series), exponents=exponents,
                      expression=("steps for a fixed displacement along Gamma ~ time_scale of "
                                  f"derive_drift ~ alpha^q, q = {exponents}"),
                      extra={"tau_star": _limit_crossing_times(params)})


def _limit_crossing_times(params) -> dict[str, float]:
    """The rescaled time at which the limiting flow reaches the claim's threshold: toy
    x^2 - y^2 = 3.75 exp(-2 c tau) = 3.75/e at tau = 1/(2c); the network's progress 1/2 from
    the AD limiting flow on a fine grid (for the figure)."""
    X, y, problem, w0, start = _diagonal(*params["network"])
    d = X.shape[1]
    b0 = _beta(start, d)
    direction = _end_points(X, y)["dropconnect"] - b0
    taus = np.linspace(0.0, 4 * params["dropconnect_tau"], 401)[1:]
    with numerics.float64():
        w = np.asarray(numerics.limiting_flow(problem, w0, noise="dropconnect", taus=taus)["w"])
    progress = (_beta(w, d) - b0) @ direction / np.dot(direction, direction)
    return {"label (toy)": 1.0, "perturbed (toy)": 0.5,
            "dropconnect (diagonal network)": float(np.interp(0.5, progress, taus))}


def _progress_grid(taus_star: float, points: int) -> np.ndarray:
    return taus_star * np.geomspace(0.5, 2.0, points)


def _scale_progress(params, label, problem_kind, kind, noise_params, alpha, grid):
    """A function key -> (progress along Gamma at the recorded steps, the steps)."""
    model = numerics.NoiseModel(kind, **noise_params)
    steps = np.unique(np.maximum(np.rint(grid / model.tau_per_step(alpha)), 1).astype(int))
    if problem_kind == "toy":
        problem, w0 = _TOY, np.asarray(_TOY_START)

        def progress(w):
            # x^2 - y^2 is constant along the normal (y, x) of xy = 1: a coordinate on Gamma
            # that the normal fluctuations move only at second order.
            return w[:, 0] ** 2 - w[:, 1] ** 2
    else:
        X, y, problem, w0, start = _diagonal(*params["network"])
        d = X.shape[1]
        b0 = _beta(start, d)
        direction = _end_points(X, y)[kind] - b0
        direction = direction / np.dot(direction, direction)
        w0 = start  # numpy float64: converted inside the float64 tracing of the ensemble

        def progress(w):
            return (_beta(w, d) - b0) @ direction

    def one(key):
        w = numerics.noisy_gd(problem, w0, noise=model, alpha=alpha, steps=int(steps[-1]),
                              key=key, record_steps=[int(s) for s in steps])
        return progress(w)

    return one, steps


def _crossing(steps, values, level, decreasing) -> float:
    """The first step at which the (chain-mean) progress crosses `level`, by linear
    interpolation between records; nan if it never does."""
    above = values <= level if decreasing else values >= level
    if not above.any() or above[0]:
        return np.nan
    i = int(np.argmax(above))
    v0, v1 = values[i - 1], values[i]
    return float(steps[i - 1] + (steps[i] - steps[i - 1]) * (v0 - level) / (v0 - v1))


def simulate_scales(params, context) -> Measurement:
    alphas = [float(a) for a in params["alphas"]]
    series_info = _scale_series(params)
    plans, grids = [], []
    for label, problem_kind, kind, noise_params in series_info:
        tau_star = {"label": 1.0, "perturbed": 0.5}.get(kind, params["dropconnect_tau"])
        grid = _progress_grid(tau_star, params["records"])
        for alpha in alphas:
            one, steps = _scale_progress(params, label, problem_kind, kind, noise_params,
                                         alpha, grid)
            per_step = numerics.NoiseModel(kind, **noise_params).tau_per_step(alpha)
            plans.append((label, kind, alpha, one, steps, per_step))
        grids.append(grid)

    samples, steps_list = [], []
    for label, kind, alpha, one, steps, _ in plans:
        tag = f"scales-{kind}-{alpha:g}"
        samples.append(context.ensemble(one, tag=tag, config={**params, "tag": tag},
                                        microbatch=_microbatch(context.n_seeds)))
        steps_list.append(steps)
    # Thresholds: toy x^2 - y^2 falls from 3.75 to 3.75/e (tau* = 1 label, 1/2 perturbed);
    # the network's progress towards its end point rises to 1/2.
    levels = [(3.75 / math.e, True) if kind != "dropconnect" else (0.5, False)
              for _, kind, *_ in plans]

    def statistic(s):
        return np.array([
            _crossing(steps_list[j], s[:, j, : steps_list[j].size].mean(axis=0), *levels[j])
            for j in range(len(plans))])

    width = max(st.size for st in steps_list)
    stacked = np.full((context.n_seeds, len(plans), width), np.nan)
    for j, s in enumerate(samples):
        stacked[:, j, : s.shape[1]] = s
    measured = statistic(stacked)
    if not np.all(np.isfinite(measured)):
        missing = [f"{p[0]} alpha={p[2]:g}" for p, m in zip(plans, measured) if not np.isfinite(m)]
        raise FloatingPointError(f"the progress threshold was not crossed for {missing}")
    series = tuple(p[0] for p in plans)
    x = np.array([p[2] for p in plans])
    per_step = np.array([p[5] for p in plans])
    rescaled = {f"{p[0]} alpha={p[2]:g}": float(m * p[5]) for p, m in zip(plans, measured)}
    return Measurement.from_samples(x, stacked, statistic, series=series,
                                    extra={"tau_per_step": per_step,
                                           "details": {"crossing tau (steps x tau per step)":
                                                       rescaled}})


def _draw_scales(fig, prediction, measurement):
    """Left: steps against alpha with lines of the predicted slope through the smallest alpha;
    right: the same in rescaled time, against the limiting flow's crossing time."""
    left, right = fig.subplots(1, 2)
    series = np.asarray(measurement.series)
    for j, label in enumerate(dict.fromkeys(measurement.series)):
        idx = np.flatnonzero(series == label)
        a, steps, se = measurement.x[idx], measurement.y[idx], measurement.stderr[idx]
        q = prediction.exponents[label]
        anchor = np.argmin(a)
        left.errorbar(a, steps, 3 * se, fmt="o", ms=4, color=f"C{j}", label=label)
        left.plot(a, steps[anchor] * (a / a[anchor]) ** q, color=f"C{j}", lw=1,
                  label=f"slope {q:g}")
        per_step = np.asarray(measurement.extra["tau_per_step"])[idx]
        right.errorbar(a, steps * per_step, 3 * se * per_step, fmt="o-", ms=4, lw=0.8,
                       color=f"C{j}", label=label)
        right.axhline(prediction.extra["tau_star"][label], color=f"C{j}", ls="--", lw=1)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("step size alpha")
    left.set_ylabel("steps to the displacement (chain mean, ±3 s.e.)")
    left.legend(fontsize=6)
    right.set_xscale("log")
    right.set_xlabel("step size alpha")
    right.set_ylabel("rescaled crossing time tau (dashed: limiting flow)")
    right.legend(fontsize=6)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)


_SCALE_PARAMS = {"records": 40, "p": 0.01, "network": [3, 6, 0], "dropconnect_tau": 0.32}

register(
    Claim(
        name="drift-time-scales",
        statement=("The number of steps noisy GD needs for a fixed displacement along the zero "
                   "set scales as alpha^-2 for label noise and as alpha^-1 for perturbed GD and "
                   "DropConnect, the exponents of the time scales derive_drift classifies."),
        reference=("manifold-drift.md §3, §4 [derived]; Shalova, Schlichting & Peletier 2024 "
                   "(abstract: two time scales) [paper]"),
        predict=predict_scales,
        simulate=simulate_scales,
        # The limits hold as alpha -> 0 with an O(alpha) relative correction (§8); the fit
        # carries that term instead of letting it bias the exponent.
        criterion=SlopeMatches(correction=1.0),
        sizes={
            "quick": ClaimSize(seeds=32, params={**_SCALE_PARAMS,
                                                 "alphas": [0.004, 0.002, 0.001, 0.0005]}),
            "full": ClaimSize(seeds=256, params={**_SCALE_PARAMS,
                                                 "alphas": [0.004, 0.002, 0.001, 0.0005,
                                                            0.00025]}),
        },
        figure=FigureSpec(xlabel="step size alpha", ylabel="steps to a fixed displacement",
                          logx=True, logy=True, draw=_draw_scales),
    )
)


# ---------------------------------------------------------------------------------------------
# minibatch-no-motion


def _no_motion_series(params):
    """(label, problem, noise kind, noise parameters) of the claim, then of the contrast."""
    return [("toy: sample weights", "toy", "sample_weights", {"sigma": 1.0}),
            ("network: minibatch B=1", "network", "minibatch", {"batch": 1}),
            ("network: minibatch B=2", "network", "minibatch", {"batch": 2}),
            ("network: sample weights", "network", "sample_weights", {"sigma": 1.0})]


_CONTRAST = [("toy: label noise", "toy", "label", {"sigma": 1.0}),
             ("network: label noise", "network", "label", {"sigma": 1.0})]


def predict_no_motion(params) -> Prediction:
    labels = [s[0] for s in _no_motion_series(params)]
    return Prediction(np.arange(len(labels), dtype=float), np.zeros(len(labels)),
                      series=tuple(labels),
                      expression=("Reg = 0 and A = 0 on Gamma under interpolation: "
                                  "W(tau) = W(0) on both scales (§5 item 2)"))


def simulate_no_motion(params, context) -> Measurement:
    alpha = float(params["alpha"])
    steps = round(1 / alpha**2)
    records = [int(s) for s in np.unique(np.linspace(0, steps, params["records"] + 1)
                                         .round().astype(int))]
    _, _, network, _, network_start = _diagonal(*params["network"])
    # numpy starts: jnp.asarray outside the ensemble's float64 tracing would round to float32
    starts = {"toy": (_TOY, np.asarray(_TOY_START)), "network": (network, network_start)}
    out = {}
    for label, problem_kind, kind, noise_params in _no_motion_series(params) + _CONTRAST:
        problem, w0 = starts[problem_kind]
        model = numerics.NoiseModel(kind, **noise_params)

        def one(key, problem=problem, w0=w0, model=model):
            w = numerics.noisy_gd(problem, w0, noise=model, alpha=alpha, steps=steps, key=key,
                                  record_steps=records)
            return jnp.max(jnp.abs(w - jnp.asarray(w0)))

        out[label] = context.ensemble(one, tag=label.replace(" ", "-").replace(":", ""),
                                      config={**params, "series": label},
                                      microbatch=_microbatch(context.n_seeds))
    labels = [s[0] for s in _no_motion_series(params)]
    values = np.array([out[k].max() for k in labels])
    contrast = {k: float(np.median(out[k])) for k, *_ in _CONTRAST}
    return Measurement(np.arange(len(labels), dtype=float), values, np.zeros(len(labels)),
                       context.n_seeds, series=tuple(labels),
                       extra={"contrast": contrast,
                              "details": {"max |w_k - w_0| over chains and steps":
                                          dict(zip(labels, values.tolist())),
                                          "label noise, median over chains (contrast)":
                                          contrast, "steps": steps}})


def _draw_no_motion(fig, prediction, measurement):
    ax = fig.subplots()
    labels = list(measurement.series) + list(measurement.extra["contrast"])
    values = list(np.maximum(measurement.y, 1e-18)) + list(measurement.extra["contrast"].values())
    colors = ["C0"] * measurement.y.size + ["C1"] * len(measurement.extra["contrast"])
    ax.barh(np.arange(len(labels)), values, color=colors)
    for i, value in enumerate(measurement.y):
        if value == 0:
            ax.text(3e-18, i, "exactly 0", va="center", fontsize=7)
    ax.axvline(_NO_MOTION_TOL, color="C3", ls="--", lw=1, label=f"allowed {_NO_MOTION_TOL:g}")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
    ax.set_xlabel("max |w_k - w_0| over 1/alpha^2 steps (blue: claim, max over chains; "
                  "orange: label noise, median)", fontsize=7)
    ax.legend(fontsize=7)
    ax.grid(True, axis="x", alpha=0.3)


# Round-off: started on Gamma (residual ~1e-16), each step changes w by alpha (1 + eta) times a
# gradient of size |r| |grad f| ~ 1e-16, below half an ulp of w, so w is not even rounded; the
# allowance leaves six orders of magnitude to the O(1) motion of label noise.
_NO_MOTION_TOL = 1e-10
_NO_MOTION_PARAMS = {"records": 20, "network": [3, 6, 0]}

register(
    Claim(
        name="minibatch-no-motion",
        statement=("Under interpolation, minibatch SGD (B = 1, 2 of n = 3) and i.i.d. "
                   "sample-weight noise started on the zero set do not move over 1/alpha^2 "
                   "steps (so neither on the fast nor on the slow scale), where label noise "
                   "moves by O(1)."),
        reference=("manifold-drift.md §5 item 2 [derived]; Shalova, Schlichting & Peletier 2024 "
                   "(abstract: classical SGD trivial on both scales) [paper]"),
        predict=predict_no_motion,
        simulate=simulate_no_motion,
        criterion=Agreement(abs_tol=_NO_MOTION_TOL),
        sizes={"quick": ClaimSize(seeds=16, params={**_NO_MOTION_PARAMS, "alpha": 0.01}),
               "full": ClaimSize(seeds=128, params={**_NO_MOTION_PARAMS, "alpha": 0.005})},
        figure=FigureSpec(xlabel="max |w_k - w_0|", ylabel="noise", draw=_draw_no_motion),
    )
)


# ---------------------------------------------------------------------------------------------
# diagonal-network-end-points


def predict_end_points(params) -> Prediction:
    labels = [f"{k} -> {_DIAGONAL_TARGET[k]}" for k in _DIAGONAL_NOISE]
    return Prediction(np.arange(len(labels), dtype=float), np.zeros(len(labels)),
                      series=tuple(labels),
                      expression=("end of dW/dtau = -P_T grad Reg (DropConnect, Reg = "
                                  "(1/n) sum_i C_i beta_i^2) = C-weighted min-l2 interpolant; end "
                                  "of dW/dtau = -(1/4n) P_T grad tr H (label noise) = C-weighted "
                                  "l1 interpolant, C_i = |X_:,i|^2"))


def simulate_end_points(params, context) -> Measurement:
    # Deterministic: `seeds` random data sets (X, beta_true, the start), numpy from the seed.
    n, d = params["shape"]
    rows = {kind: [] for kind in _DIAGONAL_NOISE}
    table, singular = {}, []
    with numerics.float64():
        for s in range(context.n_seeds):
            data_seed = 1000 * context.seed + s
            X, y, problem, w0, _ = _diagonal(n, d, data_seed)
            targets = _end_points(X, y)
            for kind in _DIAGONAL_NOISE:
                support = int(np.count_nonzero(targets[kind]))
                if support < n:
                    # At an interpolant with fewer than n non-zeros the Jacobian
                    # [X diag(v), X diag(u)] has rank < n: Gamma is not a manifold at the end
                    # point, the theorem does not apply and H^+ blows up along the flow.
                    singular.append(f"data set {data_seed}: {kind}")
                    table[f"data set {data_seed}: {kind}"] = {
                        "closed form": targets[kind].round(6).tolist(),
                        "not checked": (f"support {support} < n = {n}: the end point is a "
                                        "singular point of the zero set")}
                    continue
                taus = [params["tau"][kind] / 10, params["tau"][kind]]
                w = np.asarray(numerics.limiting_flow(problem, jnp.asarray(w0), noise=kind,
                                                      taus=taus,
                                                      max_steps=params["max_steps"])["w"])
                beta = _beta(w, d)
                distance = float(np.abs(beta[-1] - targets[kind]).max())
                rows[kind].append(distance)
                table[f"data set {data_seed}: {kind}"] = {
                    "end point": beta[-1].round(6).tolist(),
                    "closed form": targets[kind].round(6).tolist(),
                    "max |difference|": distance,
                    "change over the last decade of tau": float(np.abs(beta[-1] - beta[0]).max()),
                }
    empty = [kind for kind, r in rows.items() if not r]
    if empty:
        raise ValueError(f"every data set has a singular end point for {empty}; use more seeds")
    values = np.array([max(rows[kind]) for kind in _DIAGONAL_NOISE])
    labels = [f"{k} -> {_DIAGONAL_TARGET[k]}" for k in _DIAGONAL_NOISE]
    table["singular end points (not checked)"] = singular
    table["data sets checked"] = {k: len(r) for k, r in rows.items()}
    return Measurement(np.arange(len(labels), dtype=float), values, np.zeros(len(labels)),
                       context.n_seeds, series=tuple(labels), extra={"details": table})


def _draw_end_points(fig, prediction, measurement):
    ax = fig.subplots()
    ax.bar(np.arange(measurement.y.size), np.maximum(measurement.y, 1e-18), color="C0")
    ax.axhline(_END_POINT_TOL, color="C3", ls="--", lw=1, label=f"allowed {_END_POINT_TOL:g}")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(measurement.y.size), list(measurement.series), fontsize=7)
    ax.set_ylabel(f"max |beta(tau_end) - closed form| over {measurement.n_seeds} data sets")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)


# The flows converge exponentially (the label flow slowest, through the decay of the off-support
# u_i, v_i); the report gives, per data set, the change of beta over the last decade of tau.
_END_POINT_TOL = 1e-6
_END_POINT_PARAMS = {"shape": [3, 6], "tau": {"label": 2e4, "dropconnect": 2e3},
                     "max_steps": 400_000}

register(
    Claim(
        name="diagonal-network-end-points",
        statement=("On over-parameterised diagonal linear networks the limiting flow of label "
                   "noise ends at the weighted-l1 (sparse) interpolant and that of DropConnect "
                   "at the column-norm-weighted minimum-l2 interpolant, wherever the zero set "
                   "is a manifold at that interpolant (n non-zeros)."),
        reference="manifold-drift.md §7 (sparse linear model), §9 toy 3 [derived]",
        predict=predict_end_points,
        simulate=simulate_end_points,
        criterion=Agreement(abs_tol=_END_POINT_TOL),
        sizes={"quick": ClaimSize(seeds=2, params=_END_POINT_PARAMS),
               "full": ClaimSize(seeds=16, params=_END_POINT_PARAMS)},
        figure=FigureSpec(xlabel="noise", ylabel="distance", draw=_draw_end_points),
    )
)


# ---------------------------------------------------------------------------------------------
# diagonal-network-approach


def predict_approach(params) -> Prediction:
    alphas = np.asarray(params["alphas"], dtype=float)
    series = tuple(k for k in _DIAGONAL_NOISE for _ in alphas)
    return Prediction(np.tile(1 / alphas, len(_DIAGONAL_NOISE)), np.ones(2 * alphas.size),
                      series=series, exponent=0.0,
                      expression=("E|beta_k - beta*|^2 at tau_end -> 0 as alpha -> 0 (o(1) in "
                                  "1/alpha): chains converge to the limiting flow's end point"))


def simulate_approach(params, context) -> Measurement:
    X, y, problem, w0, _ = _diagonal(*params["network"])
    d = X.shape[1]
    targets = _end_points(X, y)
    alphas = [float(a) for a in params["alphas"]]
    columns, means, mean_beta = [], {}, {}
    for kind, noise_params in _DIAGONAL_NOISE.items():
        model = numerics.NoiseModel(kind, **noise_params)
        target = targets[kind]
        for alpha in alphas:
            steps = round(params["tau"][kind] / model.tau_per_step(alpha))

            def one(key, model=model, alpha=alpha, steps=steps, target=target):
                w = numerics.noisy_gd(problem, jnp.asarray(w0), noise=model, alpha=alpha,
                                      steps=steps, key=key)[-1]
                return _beta(w, d) - jnp.asarray(target)

            tag = f"approach-{kind}-{alpha:g}"
            delta = context.ensemble(one, tag=tag, config={**params, "tag": tag},
                                     microbatch=_microbatch(context.n_seeds))
            columns.append(np.sum(delta**2, axis=1))
            mean_beta[kind] = targets[kind] + delta.mean(axis=0)  # at the smallest alpha last
            means[f"{kind} alpha={alpha:g}"] = {
                "|mean beta - beta*|": float(np.linalg.norm(delta.mean(axis=0))),
                "RMS distance": float(np.sqrt(np.mean(np.sum(delta**2, axis=1)))),
                "steps": steps}
    samples = np.stack(columns, axis=1)
    series = tuple(k for k in _DIAGONAL_NOISE for _ in alphas)
    return Measurement.from_samples(np.tile(1 / np.asarray(alphas), len(_DIAGONAL_NOISE)),
                                    samples, lambda s: s.mean(axis=0), series=series,
                                    extra={"details": means, "mean_beta": mean_beta,
                                           "targets": targets, "smallest_alpha": min(alphas)})


def _draw_approach(fig, prediction, measurement):
    """Left: mean squared distance to the predicted end point against 1/alpha (a line of slope
    -1 for comparison); right: the chain mean of beta at the smallest alpha beside the two
    interpolants."""
    left, right = fig.subplots(1, 2)
    series = np.asarray(measurement.series)
    for j, kind in enumerate(_DIAGONAL_NOISE):
        idx = np.flatnonzero(series == kind)
        x, y = measurement.x[idx], measurement.y[idx]
        left.errorbar(x, y, 3 * measurement.stderr[idx], fmt="o-", ms=4, lw=0.8,
                      color=f"C{j}", label=f"{kind} -> {_DIAGONAL_TARGET[kind]}")
        left.plot(x, y[0] * x[0] / x, color=f"C{j}", ls=":", lw=1)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("1/alpha")
    left.set_ylabel("E|beta_k - beta*|^2 (±3 s.e.; dotted: ~alpha)")
    left.legend(fontsize=6)
    left.grid(True, which="both", alpha=0.3)
    targets, means = measurement.extra["targets"], measurement.extra["mean_beta"]
    d = len(next(iter(targets.values())))
    coords = np.arange(d)
    for j, kind in enumerate(_DIAGONAL_NOISE):
        right.plot(coords + 0.1 * (j - 0.5), targets[kind], "_", ms=14, mew=2, color=f"C{j}",
                   label=_DIAGONAL_TARGET[kind])
        right.plot(coords + 0.1 * (j - 0.5), means[kind], "o", ms=4, mfc="none",
                   color=f"C{j}", label=f"{kind}: chain mean")
    right.axhline(0.0, color="0.6", lw=0.8)
    right.set_xticks(coords, [f"beta_{i + 1}" for i in coords], fontsize=7)
    right.set_title(f"alpha = {measurement.extra['smallest_alpha']:g}", fontsize=8)
    right.legend(fontsize=6)
    right.grid(True, alpha=0.3)


register(
    Claim(
        name="diagonal-network-approach",
        statement=("Noisy GD on a diagonal linear network approaches the end points of the "
                   "limiting flows (label noise: weighted-l1 interpolant at tau = k alpha^2 "
                   "sigma^2 = 100; DropConnect: weighted min-l2 at tau = k alpha sigma^2 = 20): "
                   "the mean squared distance shrinks as alpha decreases."),
        reference="manifold-drift.md §8, §9 toy 3 [derived]",
        predict=predict_approach,
        simulate=simulate_approach,
        criterion=SlopeMatches(bound="below"),
        sizes={"quick": ClaimSize(seeds=32, params={"network": [3, 6, 0],
                                                    "alphas": [0.05, 0.025, 0.0125],
                                                    "tau": {"label": 100.0, "dropconnect": 20.0}}),
               "full": ClaimSize(seeds=128, params={"network": [3, 6, 0],
                                                    "alphas": [0.05, 0.025, 0.0125, 0.00625],
                                                    "tau": {"label": 100.0,
                                                            "dropconnect": 20.0}})},
        figure=FigureSpec(xlabel="1/alpha", ylabel="E |beta_k - beta*|^2", logx=True,
                          logy=True, draw=_draw_approach),
    )
)


# ---------------------------------------------------------------------------------------------
# flow-map-properties

PROPERTIES = (
    "P_T is an orthogonal projection onto the chart's tangent space",
    "the drift is tangent to the zero set (perturbed, DropConnect, Sigma = cH)",
    "d2Phi[Sigma] matches finite differences of the numerical flow map Phi",
)


@jax.jit
def _pointwise(f, a0, sigmas, c):
    """P_T, the chart's tangent frame, three drifts and d2Phi[Sigma_s] at phi(a0).  The
    loss's coefficients are traced (one compilation for all losses of one shape), so the
    problem wraps them in a fresh, hashable closure."""
    problem = numerics.Loss(lambda w: f(w))
    r = f.normal_dim
    w = f.chart(a0)
    hess = numerics.loss_hessian(problem, w)
    return dict(
        p_t=numerics.tangent_projector(problem, w, codim=r),
        frame=jax.jacfwd(f.chart)(a0),
        drifts=jnp.stack([
            numerics.fast_drift(problem, w, noise="perturbed", codim=r),
            numerics.fast_drift(problem, w, noise="dropconnect", codim=r),
            0.5 * numerics.flow_map_second_derivative(problem, w, c * hess, codim=r)]),
        d2phi=jax.vmap(lambda s: numerics.flow_map_second_derivative(problem, w, s,
                                                                     codim=r))(sigmas),
    )


def _flow_map_differences(loss, point, u, v, h, codim, flow):
    """Central second differences of Phi along u, v and u + v (Phi(p) = p on Gamma):
    d2Phi[uu^T], d2Phi[vv^T] and d2Phi[uv^T + vu^T] = 2 d_u d_v Phi, to O(h^2)."""
    starts = [point + h * u, point - h * u, point + h * v, point - h * v,
              point + h * (u + v), point + h * (u - v), point - h * (u - v), point - h * (u + v)]
    phi = np.asarray(numerics.flow_limit(loss, np.array(starts), codim=codim, **flow))
    return np.stack([(phi[0] - 2 * point + phi[1]) / h**2,
                     (phi[2] - 2 * point + phi[3]) / h**2,
                     (phi[4] - phi[5] - phi[6] + phi[7]) / (2 * h**2)])


def _property_violations(loss_seed, params) -> tuple[list[int], dict]:
    k, r = params["tangent_dim"], params["normal_dim"]
    problem = numerics.random_quadratic_normal_loss(loss_seed, k, r)
    rng = np.random.default_rng([loss_seed, 1])
    u, v = rng.standard_normal((2, k + r))
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    sigmas = np.stack([np.outer(u, u), np.outer(v, v), np.outer(u, v) + np.outer(v, u)])
    c = float(rng.uniform(0.1, 10.0))
    with numerics.float64():
        out = {key: np.asarray(val) for key, val in _pointwise(
            problem.function, jnp.asarray(problem.tangent_coordinates), jnp.asarray(sigmas),
            jnp.asarray(c)).items()}
        h, flow = params["h"], params["flow"]
        # Richardson (4 D(h/2) - D(h))/3 = d2Phi + O(h^4); its error is estimated by the next
        # level, and the flow map's own error eps = rtol |w| + atol, divided by h^2 in a second
        # difference, adds at most 34/3 eps/h^2 (the property test derives both).
        levels = [_flow_map_differences(problem.loss, problem.point, u, v, h / 2**j, r, flow)
                  for j in range(3)]
    tol = params["rtol"]
    p_t, frame = out["p_t"], out["frame"]
    chart = frame @ np.linalg.solve(frame.T @ frame, frame.T)
    projection_error = max(np.abs(p_t - p_t.T).max(), np.abs(p_t @ p_t - p_t).max(),
                           np.abs(p_t - chart).max())
    normal_part = np.abs((np.eye(k + r) - chart) @ out["drifts"].T).max()
    drift_scale = max(1.0, np.abs(out["drifts"]).max())
    fine = (4 * levels[1] - levels[0]) / 3
    finer = (4 * levels[2] - levels[1]) / 3
    eps = flow["rtol"] * (1 + np.abs(problem.point).max()) + flow["atol"]
    allowed = 2 * np.abs(fine - finer) + 2 * 34 / 3 * eps / h**2
    scale = max(1.0, np.abs(out["d2phi"]).max())
    fd_error = np.abs(fine - out["d2phi"])
    violations = [int(projection_error > tol), int(normal_part > tol * drift_scale),
                  int(np.any(fd_error > allowed + 1e-12 * scale)
                      or np.abs(fine - finer).max() > 1e-5 * scale)]
    return violations, {"projection error": float(projection_error),
                        "normal part of the drifts": float(normal_part / drift_scale),
                        "d2Phi - finite differences": float(fd_error.max() / scale),
                        "allowed (relative)": float(allowed.min() / scale)}


def predict_flow_properties(params) -> Prediction:
    k = len(PROPERTIES)
    return Prediction(np.arange(k, dtype=float), np.zeros(k), series=PROPERTIES,
                      expression="number of random losses violating each property = 0")


def simulate_flow_properties(params, context) -> Measurement:
    # `seeds` random losses; loss s is drawn from the integer seed (base seed, s), so a
    # violation is reproducible from the report.
    counts = np.zeros(len(PROPERTIES))
    worst: dict[str, float] = {}
    for s in range(context.n_seeds):
        loss_seed = int(np.random.SeedSequence([context.seed, s]).generate_state(1)[0])
        violations, sizes = _property_violations(loss_seed, params)
        counts += violations
        for key, value in sizes.items():
            worst[key] = max(worst.get(key, 0.0), value) if key != "allowed (relative)" \
                else min(worst.get(key, np.inf), value)
    return Measurement(np.arange(len(PROPERTIES), dtype=float), counts,
                       np.zeros(len(PROPERTIES)), context.n_seeds, series=PROPERTIES,
                       extra={"details": {"largest errors over the losses": worst}})


def _draw_flow_properties(fig, prediction, measurement):
    draw_violation_counts(fig, measurement, "losses")


_PROPERTY_PARAMS = {"tangent_dim": 2, "normal_dim": 2, "h": 1e-2, "rtol": 1e-10,
                    "flow": {"rtol": 1e-12, "atol": 1e-14, "gtol": 1e-10}}

register(
    Claim(
        name="flow-map-properties",
        statement=("For random losses quadratic in the normal direction around a curved zero "
                   "set, P_T is the orthogonal projection onto the tangent space, the drifts "
                   "are tangent, and d2Phi[Sigma] matches finite differences of the "
                   "numerically integrated gradient-flow limit map."),
        reference="manifold-drift.md §7, §8 [derived]",
        predict=predict_flow_properties,
        simulate=simulate_flow_properties,
        criterion=Agreement(),  # exact: no violation allowed
        sizes={"quick": ClaimSize(seeds=3, params=_PROPERTY_PARAMS),
               "full": ClaimSize(seeds=60, params=_PROPERTY_PARAMS)},
        figure=FigureSpec(xlabel="violations", ylabel="property", draw=_draw_flow_properties),
    )
)
