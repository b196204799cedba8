"""`limitlab drift`: the limiting drift of noisy gradient descent on the manifold of minimisers
(manifold-drift.md), derived symbolically and optionally compared with a simulation.

    limitlab drift --loss "(x*y - 1)**2/2" --params x,y --noise label --sigma 1 --at x=2,y=0.5
                   [--simulate [--alpha 0.005] [--chains 400] [--tau 0.5,1,2] [--seed S]
                   [--plot FILE]] [--json]
    limitlab drift --model "a*b*t" --inputs t --data "1:1;2:2" --params a,b --noise label ...

Prints the noisy loss, Reg, the case (fast or slow scale) with the reason, the time scale, the
drift on the zero set as an expression and at the point, the diffusion if any and the notes
of [`derive_drift`][limitlab.theory.derive_drift].  Label, minibatch and sample-weight noise
act on residuals: a `--loss` is then read as a sum of squares by
[`residuals_of`][limitlab.theory.residuals_of].  With `--simulate`, noisy gradient descent
(float64) from the point is compared with the limiting flow at the rescaled times `--tau`.
Every string (loss, model, point, data) goes through the whitelist parser; bad input is one
line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import fractions
import json
import math

__all__ = ["NOISE_KINDS", "add_parsers", "run_drift"]

# The same names as limitlab.theory.NOISE_KINDS (a test checks it): literal here so that the
# parser is built without importing sympy.
NOISE_KINDS = (
    "label", "perturbed", "dropconnect", "dropout", "minibatch", "sample_weights", "additive"
)
_NOISE_PARAMETER = {
    "label": "sigma", "perturbed": "sigma", "sample_weights": "sigma", "additive": "sigma",
    "dropconnect": "p", "dropout": "p", "minibatch": "batch",
}
_RESIDUAL_KINDS = ("label", "minibatch", "sample_weights")
_SIMULATED_KINDS = tuple(k for k in NOISE_KINDS if k != "dropout")
_PLOT_POINTS = 101
# Rational functions up to this many tree nodes are cancelled and factored for display
# (0.3 s at ~600 nodes in two variables); larger ones are printed as derived.
_DISPLAY_NODES = 1500
_TEXT_CHARACTERS = 400  # longer expressions are only in the JSON output
# About two minutes of label-noise steps on one CPU core (benchmarks/noisy_gd.py: ~8e7 per s)
_MAX_CHAIN_STEPS = 10**10


# ------------------------------------------------------------------------------------------
# argument types (no sympy, no JAX)


def _names(option: str):
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"{option} must list at least one name, got {text!r}")
        for name in names:
            if not name.isidentifier():
                raise argparse.ArgumentTypeError(
                    f"{option}: {name!r} is not a valid name (letters, digits, underscores)")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"{option} repeats a name: {text!r}")
        return names

    return parse


def _exact_positive(option: str, *, below_one: bool = False):
    """A number > 0 (and < 1), kept as its text: turned into an exact sympy Rational later."""
    allowed = "a number in (0, 1)" if below_one else "a finite number > 0"

    def parse(text: str) -> str:
        try:
            value = fractions.Fraction(text.strip())  # "0.005", "1e-3", "1/2": exact
        except (ValueError, ZeroDivisionError):
            value = None
        if value is None or value <= 0 or (below_one and value >= 1):
            raise argparse.ArgumentTypeError(f"{option} must be {allowed}, got {text!r}")
        return text.strip()

    return parse


def _taus(text: str) -> list[float]:
    values = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(
                f"--tau must list finite rescaled times > 0, got {part!r}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("--tau must list at least one rescaled time, e.g. 0.5,1,2")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"--tau must be strictly increasing, got {text!r}")
    return values


def add_parsers(sub, int_at_least, seed_type) -> None:
    """Add the `drift` sub-command."""
    p = sub.add_parser(
        "drift",
        help="limiting drift of noisy gradient descent on the manifold of minimisers",
        description="Derive the limit of noisy gradient descent w <- w - alpha grad_w "
        "L_hat(w, eta) near the zero set of a loss (manifold-drift.md): the regulariser Reg, "
        "the time scale (fast 1/(alpha sigma^2) or slow 1/(alpha^2 sigma^2) steps per unit of "
        "rescaled time tau), the drift on the zero set and, with --simulate, a comparison with "
        "simulated chains.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--loss", metavar="EXPR",
                        help='the loss L(w) >= 0, e.g. "(x*y - 1)**2/2"; with label, minibatch '
                        "or sample_weights noise it must be a sum of squares c_j r_j(w)^2")
    source.add_argument("--model", metavar="EXPR",
                        help="a model f(x; w) (with --data): L = 1/(2n) sum_j (f(x_j; w) - y_j)^2")
    p.add_argument("--params", type=_names("--params"), required=True, metavar="NAMES",
                   help="the parameters w, comma-separated, e.g. x,y")
    p.add_argument("--inputs", type=_names("--inputs"), default=None, metavar="NAMES",
                   help="the model's input variables (with --model)")
    p.add_argument("--data", default=None, metavar="X:Y;...",
                   help='data points for --model, e.g. "1:2;3:4" or with two inputs "1,2:3;4,5:6"')
    p.add_argument("--noise", choices=NOISE_KINDS, required=True,
                   help="the noise: " + ", ".join(NOISE_KINDS))
    p.add_argument("--sigma", type=_exact_positive("--sigma"), default=None,
                   help="noise scale sigma > 0 (label, perturbed, sample_weights, additive)")
    p.add_argument("--p", type=_exact_positive("--p", below_one=True), default=None,
                   help="drop probability in (0, 1) (dropconnect, dropout)")
    p.add_argument("--batch", type=int_at_least(1, "--batch"), default=None,
                   help="batch size B >= 1, below the number of residuals (minibatch)")
    p.add_argument("--at", default=None, metavar="NAME=VALUE,...",
                   help="a point of the zero set, e.g. x=2,y=0.5 (exact: decimals are read as "
                   "fractions; sqrt(2), pi and the like are allowed)")
    p.add_argument("--simulate", action="store_true",
                   help="compare with noisy gradient descent from the point (needs --at)")
    p.add_argument("--alpha", type=_exact_positive("--alpha"), default="0.005",
                   help="step size alpha for the steps per unit tau and the simulation "
                   "(default 0.005)")
    p.add_argument("--chains", type=int_at_least(1, "--chains"), default=400,
                   help="independent chains of the simulation (default 400)")
    p.add_argument("--tau", type=_taus, default=_taus("0.5,1,2"), metavar="T,...",
                   help="rescaled times to compare at, strictly increasing (default 0.5,1,2)")
    p.add_argument("--seed", type=seed_type, default=0, help="integer seed (default 0)")
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="with --simulate: the chain mean (± 3 s.e.) of each coordinate against "
                   "tau and the limiting flow (PNG, PDF, SVG)")
    p.add_argument("--json", action="store_true", help="print JSON")


# ------------------------------------------------------------------------------------------
# reading the input (sympy, whitelist parser)


def _check_options(args) -> None:
    """Checks that need no sympy: option combinations."""
    kind = args.noise
    needed = _NOISE_PARAMETER[kind]
    for name in ("sigma", "p", "batch"):
        given = getattr(args, name) is not None
        if name == needed and not given:
            what = {"sigma": "S (a number > 0)", "p": "P (a drop probability in (0, 1))",
                    "batch": "B (an integer >= 1)"}[name]
            raise ValueError(f"--noise {kind} needs --{name} {what}")
        if name != needed and given:
            raise ValueError(f"--noise {kind} takes no --{name} (it takes --{needed})")
    if args.plot and not args.simulate:
        raise ValueError("--plot needs --simulate (it draws the simulated chains against the "
                         "limiting flow)")
    if args.simulate and args.at is None:
        raise ValueError("--simulate needs --at NAME=VALUE,... (the start, a point of the zero "
                         "set)")
    if args.simulate and kind not in _SIMULATED_KINDS:
        raise ValueError(f"--simulate supports --noise {', '.join(_SIMULATED_KINDS)}; there is "
                         f"no simulator for {kind}")
    if args.model is None:
        for option, value in (("--data", args.data), ("--inputs", args.inputs)):
            if value is not None:
                raise ValueError(f"{option} is only for --model (a loss given with --loss has "
                                 "no data)")
        if kind == "dropout":
            raise ValueError("--noise dropout needs --model with --data (the units it drops "
                             "are the additive terms of the model); with --loss use "
                             f"{', '.join(k for k in NOISE_KINDS if k != 'dropout')}")
    elif args.data is None:
        raise ValueError('--model needs --data X:Y;X:Y;... (e.g. "1:2;3:4")')


def _number(text: str, option: str):
    """An exact real number through the whitelist parser: decimals become fractions."""
    import sympy as sp

    from limitlab import theory

    value = theory.parse_expression(text, [], argument=option)
    if not isinstance(value, sp.Expr) or not value.is_number or value.is_real is not True \
            or value.is_finite is not True:
        raise ValueError(f"{option} must be a real number, got {text!r}")
    return value


def _point(text: str, params: list[str]) -> dict:
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not value:
            raise ValueError(f"--at must be NAME=VALUE pairs such as x=2,y=0.5, got {item!r}")
        if name not in params:
            raise ValueError(f"--at: {name!r} is not a parameter; the parameters (--params) are "
                             f"{', '.join(params)}")
        if name in values:
            raise ValueError(f"--at gives {name} twice")
        values[name] = _number(value, f"--at {name}")
    missing = [name for name in params if name not in values]
    if missing:
        raise ValueError(f"--at must give a value for every parameter {', '.join(params)}; "
                         f"missing {', '.join(missing)}")
    return {name: values[name] for name in params}


def _data(text: str, inputs: list[str]):
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        x, sep, y = item.rpartition(":")
        if not sep or not y.strip():
            raise ValueError(f"--data must be X:Y pairs separated by ';' (X: one value per input "
                             f"{', '.join(inputs) or '(none: empty X)'}), got {item!r}")
        xs = [s.strip() for s in x.split(",")] if x.strip() else []
        if len(xs) != len(inputs):
            raise ValueError(f"--data: {item!r} has {len(xs)} input value(s), but --inputs names "
                             f"{len(inputs)} ({', '.join(inputs) or 'none'})")
        pairs.append((tuple(_number(v, "--data") for v in xs), _number(y.strip(), "--data")))
    if not pairs:
        raise ValueError('--data must give at least one X:Y pair, e.g. "1:2;3:4"')
    return pairs


def _selector_names(count: int, taken: set[str]) -> list[str]:
    base = "e"
    while any(name == base or name.startswith(base + "_") for name in taken):
        base += "_"
    return [f"{base}_{j + 1}" for j in range(count)]


class _Problem:
    """The parsed input: what derive_drift gets, and the residuals or loss to simulate."""

    def __init__(self, args):
        import sympy as sp

        from limitlab import theory

        self.params = list(args.params)
        self.symbols = [sp.Symbol(name, real=True) for name in self.params]
        by_name = dict(zip(self.params, self.symbols, strict=True))
        kind = args.noise
        self.model = None
        self.inputs: list[str] = []
        self.data = None
        self.converted = False  # a --loss read as a sum of squares
        taken = set(self.params) | set(args.inputs or [])
        self.alpha = sp.Symbol(next(name for name in ("alpha", "alpha_", "alpha__", "step_size")
                                    if name not in taken), positive=True)
        if args.model is not None:
            self.inputs = list(args.inputs or [])
            clash = sorted(set(self.inputs) & set(self.params))
            if clash:
                raise ValueError(f"--inputs and --params share the names {', '.join(clash)}")
            input_symbols = [sp.Symbol(name, real=True) for name in self.inputs]
            names = dict(by_name, **dict(zip(self.inputs, input_symbols, strict=True)))
            self.model = theory.parse_expression(args.model, names, argument="--model")
            self.data = _data(args.data, self.inputs)
            self.source = self.model
            self.derive_args = dict(data=self.data, inputs=self.inputs)
            self.residuals = [
                self.model.xreplace(dict(zip(input_symbols, x, strict=True))) - y
                for x, y in self.data
            ]
            n = len(self.residuals)
            self.loss = sp.Add(*[r**2 for r in self.residuals]) / (2 * n)
            return
        self.loss = theory.parse_expression(args.loss, by_name, argument="--loss")
        if kind in _RESIDUAL_KINDS:
            try:
                self.residuals = list(theory.residuals_of(self.loss, self.symbols,
                                                          argument="--loss"))
            except ValueError as err:
                raise ValueError(f"{err}; --noise {kind} acts on residuals, so it needs a "
                                 "sum-of-squares --loss or --model with --data") from None
            # f = sum_j e_j f_j with one-hot inputs e: data point j selects residual j exactly
            self.converted = True
            names = _selector_names(len(self.residuals), set(self.params))
            selectors = [sp.Symbol(name, real=True) for name in names]
            self.source = sp.Add(*[e * f for e, f in zip(selectors, self.residuals, strict=True)])
            n = len(self.residuals)
            unit = [tuple(sp.Integer(int(i == j)) for i in range(n)) for j in range(n)]
            self.derive_args = dict(data=[(u, 0) for u in unit], inputs=names)
        else:
            self.residuals = None
            self.source = self.loss
            self.derive_args = {}


def _noise(args):
    from limitlab import theory

    name = _NOISE_PARAMETER[args.noise]
    if name == "batch":
        return theory.noise_model(args.noise, batch=args.batch)
    value = _number(getattr(args, name), f"--{name}")
    return theory.noise_model(args.noise, **{name: value})


def _derive(args, problem: _Problem, point):
    from limitlab import theory

    noise = _noise(args)
    try:
        return theory.derive_drift(problem.source, problem.symbols, noise, point=point,
                                   alpha=problem.alpha, **problem.derive_args)
    except ValueError as err:
        message = str(err).splitlines()[0]
        if message.startswith(("point", "the zero set")):
            raise ValueError(f"--at {args.at}: {message}") from None
        if message.startswith("minibatch: batch"):
            n = len(problem.residuals or ())
            raise ValueError(f"--batch must be below the number of residuals n = {n} (B = n "
                             f"is plain gradient descent), got {args.batch}") from None
        raise ValueError(message) from None


# ------------------------------------------------------------------------------------------
# output helpers


def _display(expr, symbols):
    """A small rational function cancelled and factored; anything else as built."""
    import sympy as sp

    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > _DISPLAY_NODES:
            return expr
    if expr.is_rational_function(*symbols):
        return sp.factor(sp.cancel(expr))
    return expr


def _float(value) -> float:
    return float(value.evalf()) if hasattr(value, "evalf") else float(value)


def _short(value) -> str:
    return f"{value:.6g}"


def _result(args, problem: _Problem, derivation, point) -> dict:
    alpha = _number(args.alpha, "--alpha")
    symbols = problem.symbols
    time_scale = derivation.time_scale
    steps_per_tau = None if time_scale is None else time_scale.xreplace({problem.alpha: alpha})
    drift = derivation.drift
    drift_display = None if drift is None else [_display(e, symbols) for e in drift]
    diffusion = derivation.diffusion
    diffusion0 = derivation.diffusion_at_point
    noisy = diffusion0 is not None and any(e != 0 for e in diffusion0)
    if diffusion is not None and any(e != 0 for e in diffusion):
        noisy = True
    noise = derivation.noise
    return {
        "loss": str(problem.loss),
        "parameters": problem.params,
        "model": None if problem.model is None else str(problem.model),
        "inputs": problem.inputs or None,
        "data": None if problem.data is None else [
            {"x": [str(v) for v in x], "y": str(y)} for x, y in problem.data],
        "residuals": None if problem.residuals is None else [str(r) for r in problem.residuals],
        "residuals_from_loss": problem.converted,
        "noise": {"kind": noise.kind,
                  **{k: str(v) for k, v in noise.parameters.items()},
                  "variance": str(derivation.noise_variance),
                  "description": noise.description},
        "noisy_loss": str(derivation.noisy_loss),
        "regulariser": str(derivation.regulariser),
        "case": derivation.case,
        "reason": derivation.reason,
        "limit": derivation.limit,
        "trivial": derivation.trivial,
        "time_scale": None if time_scale is None else str(time_scale),
        "alpha": float(alpha),
        "alpha_text": args.alpha,
        "alpha_symbol": str(problem.alpha),
        "steps_per_unit_tau": None if steps_per_tau is None else _float(steps_per_tau),
        "point": None if point is None else {k: str(v) for k, v in point.items()},
        "exact": derivation.exact,
        "drift": None if drift_display is None else [str(e) for e in drift_display],
        "drift_at_point": None if derivation.drift_at_point is None else
        [str(e) for e in derivation.drift_at_point],
        "drift_at_point_float": None if derivation.drift_at_point is None else
        [_float(e) for e in derivation.drift_at_point],
        "stochastic": bool(noisy),
        "diffusion": None if not noisy or diffusion is None else
        [[str(_display(e, symbols)) for e in diffusion.row(i)] for i in range(diffusion.rows)],
        "diffusion_at_point": None if not noisy else
        [[str(e) for e in diffusion0.row(i)] for i in range(diffusion0.rows)],
        "simplified": derivation.simplified,
        "sharpness_coefficient": None if derivation.sharpness_coefficient is None else
        str(derivation.sharpness_coefficient),
        "notes": list(derivation.notes),
        "simulation": None,
    }


# ------------------------------------------------------------------------------------------
# the simulation


def _simulate(args, problem: _Problem, derivation, result) -> dict:
    import jax
    import numpy as np

    from limitlab import numerics

    symbols = problem.symbols
    D = len(symbols)
    alpha = float(args.alpha)
    tau_per_step = 1.0 / result["steps_per_unit_tau"]
    steps = [max(1, math.ceil(tau / tau_per_step * (1 - 1e-12))) for tau in args.tau]
    if len(set(steps)) != len(steps):
        raise ValueError(f"--tau values {args.tau} fall on the same step counts {steps} "
                         f"(tau per step {tau_per_step:.3g}); space them further apart")
    if steps[-1] * args.chains > _MAX_CHAIN_STEPS:
        raise ValueError(f"--simulate would run {steps[-1]:.3g} steps x {args.chains} chains "
                         f"(tau per step {tau_per_step:.3g}), more than {_MAX_CHAIN_STEPS:.0e} "
                         "chain-steps; raise --alpha or the noise, or lower --tau or --chains")
    taus = np.asarray(steps, dtype=float) * tau_per_step
    scale = "fast" if derivation.case == "non-degenerate" else "slow"
    kind = args.noise
    nm = numerics.NoiseModel(
        kind,
        sigma=None if args.sigma is None else float(_number(args.sigma, "--sigma")),
        p=None if args.p is None else float(_number(args.p, "--p")),
        batch=args.batch,
    )
    with numerics.float64():
        import jax.numpy as jnp

        if problem.residuals is not None:
            function = numerics.lambdify(symbols, list(problem.residuals))

            def residuals(w):
                values = function(*(w[i] for i in range(D)))
                return jnp.stack([jnp.asarray(v, w.dtype) for v in values])

            objective = numerics.LeastSquares(residuals)
        else:
            function = numerics.lambdify(symbols, problem.loss)
            objective = numerics.Loss(lambda w: jnp.asarray(function(*(w[i] for i in range(D))),
                                                            w.dtype))
        w0 = np.asarray([_float(v) for v in derivation.point], dtype=float)
        chains_out = numerics.noisy_gd(
            objective, w0, noise=nm, alpha=alpha, steps=steps[-1],
            key=numerics.seed_key(args.seed, 0), record_steps=steps, chains=args.chains)
        chains_out = np.asarray(jax.device_get(chains_out))  # (R, chains, D)
        if not np.all(np.isfinite(chains_out)):
            raise ValueError(f"the simulation diverged (non-finite iterates) at --alpha "
                             f"{args.alpha}; lower --alpha")
        grid = np.union1d(np.linspace(0.0, taus[-1], _PLOT_POINTS), taus) if args.plot else taus
        flow = numerics.limiting_flow(
            objective, w0, noise=nm, taus=grid, scale=scale,
            key=numerics.seed_key(args.seed, 1), paths=args.chains)
        limit = np.asarray(jax.device_get(flow["w"]))
        start = np.asarray(jax.device_get(flow["start"]))
    stochastic = bool(flow["stochastic"])
    if stochastic:  # (T, paths, D): the mean over sample paths of the SDE
        limit_mean = limit.mean(axis=1)
        limit_se = (limit.std(axis=1, ddof=1) / math.sqrt(limit.shape[1])
                    if limit.shape[1] > 1 else None)
    else:
        limit_mean, limit_se = limit, None
    index = np.searchsorted(grid, taus)
    mean = chains_out.mean(axis=1)
    se = (chains_out.std(axis=1, ddof=1) / math.sqrt(args.chains)) if args.chains > 1 else None
    rows = []
    for i, (tau, k) in enumerate(zip(taus, steps, strict=True)):
        lim = limit_mean[index[i]]
        lim_se = None if limit_se is None else limit_se[index[i]]
        row = {"tau": float(tau), "steps": int(k), "mean": mean[i].tolist(),
               "stderr": None if se is None else se[i].tolist(), "limit": lim.tolist(),
               "limit_stderr": None if lim_se is None else lim_se.tolist(), "gap_over_se": None}
        if se is not None:
            total = se[i] ** 2 + (0.0 if lim_se is None else lim_se**2)
            gap = np.divide(mean[i] - lim, np.sqrt(total), out=np.full(D, np.nan),
                            where=total > 0)
            row["gap_over_se"] = [None if not np.isfinite(g) else float(g) for g in gap]
        rows.append(row)
    simulation = {
        "alpha": alpha, "chains": args.chains, "seed": args.seed, "steps": steps[-1],
        "scale": scale, "tau_per_step": tau_per_step, "start": w0.tolist(),
        "limit_start": start.tolist(), "limit_stochastic": stochastic,
        "limit_paths": args.chains if stochastic else None, "rows": rows,
    }
    if args.plot:
        _plot(args, problem, result, simulation, grid, limit_mean, limit_se)
        simulation["plot"] = args.plot
    return simulation


def _plot(args, problem, result, simulation, grid, limit_mean, limit_se) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    D = len(problem.params)
    rows = simulation["rows"]
    taus = np.asarray([r["tau"] for r in rows])
    mean = np.asarray([r["mean"] for r in rows])
    se = np.asarray([r["stderr"] for r in rows]) if rows[0]["stderr"] is not None else None
    fig, axes = plt.subplots(D, 1, figsize=(6.4, 2.2 + 1.8 * D), dpi=120, sharex=True,
                             squeeze=False)
    try:
        for i, (ax, name) in enumerate(zip(axes[:, 0], problem.params, strict=True)):
            label = "limiting flow" + (" (mean of SDE paths)" if limit_se is not None else "")
            ax.plot(grid, limit_mean[:, i], "-", color="C0", label=label)
            if limit_se is not None:
                ax.fill_between(grid, limit_mean[:, i] - 3 * limit_se[:, i],
                                limit_mean[:, i] + 3 * limit_se[:, i], color="C0", alpha=0.2)
            ax.errorbar(taus, mean[:, i], yerr=None if se is None else 3 * se[:, i], fmt="o",
                        color="C3", capsize=3,
                        label=f"noisy GD, mean of {simulation['chains']} chains (± 3 s.e.)")
            ax.set_ylabel(name)
            ax.grid(True, alpha=0.3)
            if i == 0:
                ax.legend(fontsize=7)
        scale = "k α σ²" if simulation["scale"] == "fast" else "k α² σ²"
        axes[-1, 0].set_xlabel(f"rescaled time τ = {scale}")
        noise = result["noise"]
        parameter = next((f"{k} = {noise[k]}" for k in ("sigma", "p", "batch") if k in noise), "")
        axes[0, 0].set_title(f"{noise['kind']} noise ({parameter}), α = {result['alpha_text']}; "
                             f"L = {result['loss']}", fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------
# text output


def _elide(text: str) -> str:
    if len(text) <= _TEXT_CHARACTERS:
        return text
    return f"<an expression of {len(text)} characters: see --json>"


def _print_text(result: dict) -> None:
    params = result["parameters"]
    if result["model"] is not None:
        inputs = ", ".join(result["inputs"] or []) or "none"
        print(f"model       f = {result['model']}   (inputs: {inputs}; {len(result['data'])} "
              "data points)")
    print(f"loss        L = {result['loss']}")
    if result["residuals_from_loss"]:
        n = len(result["residuals"])
        listed = ", ".join(f"f_{j + 1} = {r}" for j, r in enumerate(result["residuals"]))
        print(f"residuals   L = 1/(2n) sum_j f_j^2 with n = {n}: {listed}")
    noise = result["noise"]
    parameter = next((f"{k} = {noise[k]}" for k in ("sigma", "p", "batch") if k in noise), "")
    print(f"noise       {noise['kind']} ({parameter}): {noise['description']}")
    print(f"noisy loss  L_hat = {result['noisy_loss']}")
    print(f"Reg         {result['regulariser']}")
    print(f"case        {result['case']}: {result['reason']}")
    print(f"limit       {result['limit']}")
    if result["time_scale"] is None:
        print("time scale  undetermined (give --at, a point of the zero set)")
    else:
        print(f"time scale  {result['time_scale']} steps per unit tau "
              f"(= {_short(result['steps_per_unit_tau'])} at alpha = {result['alpha_text']})")
    if result["drift"] is not None:
        what = "drift" if result["stochastic"] else "drift on the zero set"
        print(f"{what}:")
        for name, expr in zip(params, result["drift"], strict=True):
            print(f"  d{name}/dtau = {_elide(expr)}")
    if result["drift_at_point"] is not None:
        point = ", ".join(f"{k} = {v}" for k, v in result["point"].items())
        exact = ", ".join(result["drift_at_point"])
        floats = ", ".join(_short(v) for v in result["drift_at_point_float"])
        same = all(e == _short(v) for e, v in zip(result["drift_at_point"],
                                                     result["drift_at_point_float"], strict=True))
        print(f"at {point}: dW/dtau = ({exact})" + ("" if same else f" = ({floats})"))
    if result["stochastic"]:
        print("diffusion   dW = drift dtau + diffusion dB, B a standard Brownian motion:")
        rows = result["diffusion"] or result["diffusion_at_point"]
        where = "" if result["diffusion"] is not None else " (at the point)"
        for name, row in zip(params, rows, strict=True):
            print(f"  {name}: [{', '.join(_elide(e) for e in row)}]{where}")
        if result["diffusion"] is not None:
            at_point = "; ".join(", ".join(_elide(e) for e in row)
                                 for row in result["diffusion_at_point"])
            print(f"  at the point (rows): [{at_point}]")
    if result["simplified"]:
        print(f"simplified  {result['simplified']}")
    for note in result["notes"]:
        print(f"note        {note}")
    simulation = result["simulation"]
    if simulation is None:
        return
    scale = "k*alpha*sigma^2" if simulation["scale"] == "fast" else "k*alpha^2*sigma^2"
    kind = "SDE, mean of " + str(simulation["limit_paths"]) + " paths" \
        if simulation["limit_stochastic"] else "ODE"
    start = ", ".join(_short(v) for v in simulation["start"])
    print()
    print(f"simulation: noisy GD in float64 from ({start}), alpha = {result['alpha_text']}, "
          f"{simulation['chains']} chains, seed {simulation['seed']}, {simulation['steps']} "
          f"steps; tau = {scale} = {_short(simulation['tau_per_step'])} per step; limit: "
          f"{kind} on the zero set from Phi(w0)")
    header = f"{'tau':>8}  {'steps':>8}"
    for name in params:
        header += f"  {name + ': mean ± s.e.':>24}  {name + ': limit':>12}  {'gap/s.e.':>8}"
    print(header)
    for row in simulation["rows"]:
        line = f"{_short(row['tau']):>8}  {row['steps']:>8d}"
        for i in range(len(params)):
            se = "" if row["stderr"] is None else f" ± {row['stderr'][i]:.2g}"
            limit = _short(row["limit"][i])
            if row["limit_stderr"] is not None:
                limit += f"±{row['limit_stderr'][i]:.1g}"
            gap = "-" if row["gap_over_se"] is None or row["gap_over_se"][i] is None else \
                f"{row['gap_over_se'][i]:+.2f}"
            line += f"  {_short(row['mean'][i]) + se:>24}  {limit:>12}  {gap:>8}"
        print(line)
    print("gap/s.e. = (simulated mean - limit) / standard error.  The limit is asymptotic: at "
          "finite alpha and noise, deviations of O(alpha) and O(sigma^2) are expected "
          "(manifold-drift.md §8); halve --alpha (and the noise) to see them shrink.")
    if simulation.get("plot"):
        print(f"figure written to {simulation['plot']}")


# ------------------------------------------------------------------------------------------


def run_drift(args) -> int:
    _check_options(args)
    problem = _Problem(args)
    point = None if args.at is None else _point(args.at, problem.params)
    derivation = _derive(args, problem, None if point is None else list(point.values()))
    result = _result(args, problem, derivation, point)
    if args.simulate:
        result["simulation"] = _simulate(args, problem, derivation, result)
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    _print_text(result)
    return 0
