"""`limitlab clt`: the dynamical central limit theorem of mean-field two-layer networks
(mean-field-clt.md of the project's theory reference): fluctuations of finite-width networks
around their mean-field limit, against the resampling bound and the linear-response limit.

    limitlab clt --model gauss1d|relu-teacher [--widths 32,64,128,256] [--seeds 200]
                 [--time 10] [--points 5] [--train-points N] [--reg 0.01]
                 [--quadrature NY NC | --d D --inputs gaussian|sphere --reference-width M]
                 [--linear-response [--directions R]] [--solver tsit5 --rtol --atol --dt]
                 [--seed S] [--checkpoint-dir DIR [--resume]] [--plot FILE] [--json]
                 [--no-progress]

Per recorded time t: the resampling variance V_t and the loss of the mean-field reference,
its 2-norm, and for every width m the brute-force fluctuation m E||f_m - f_t||^2 (mean and
standard error over seeds, [`finite_width_ensemble`][limitlab.numerics.finite_width_ensemble])
on the training and the test measure; with `--linear-response`, the limit E||g_t||^2
([`linear_response_fluctuation`][limitlab.numerics.linear_response_fluctuation]).  Bad input
(a width below 1, fewer than 2 seeds, a negative time or regularisation, an unknown model, an
option of the other model, a plot file matplotlib cannot write) is one line on stderr with
exit code 2; so is a run that becomes non-finite (naming the width, seed and solver step;
finished seeds stay in the checkpoints).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._cli_kernel_flow import _float_at_least
from ._cli_linearise import _positive_float
from ._cli_orders import _widths

__all__ = ["MODELS", "SOLVERS", "add_parsers", "check_plot_file", "run_clt"]

MODELS = ("gauss1d", "relu-teacher")
# The same names as limitlab.numerics.MEAN_FIELD_SOLVERS (a test checks it): literal here so
# that the parser is built without importing JAX.
SOLVERS = ("tsit5", "dopri5", "rk4", "euler")
_ADAPTIVE = ("tsit5", "dopri5")
_QUADRATURE = (64, 10)  # gaussian_units_model's default quadrature of mu_0 (§9.1)
_REFERENCE_MIN, _REFERENCE_PER_WIDTH, _REFERENCE_CAP = 4096, 64, 16384  # §10.3: M >= 64 m
_DIRECTIONS = 256
_MANIFEST = "clt.json"
# Far from the seed indices 0, 1, ... of the ensembles, which use fold_in(key(S), r).
_REFERENCE_INDEX, _DIRECTIONS_INDEX = 2**32 - 1, 2**32 - 2
_MEASURES = ("train", "test")


def check_plot_file(path: str, option: str = "--plot") -> None:
    """A figure file matplotlib can write: a known extension in an existing directory
    (`ValueError` naming `option` otherwise), checked before any computation."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    extension = Path(path).suffix.lower().lstrip(".")
    if extension not in formats:
        what = f"extension {extension!r}" if extension else "no extension"
        raise ValueError(f"{option} {path!r} has {what}; matplotlib writes "
                         f"{', '.join(sorted(formats))}")
    folder = Path(path).parent
    if not folder.is_dir():
        raise ValueError(f"{option} {path!r}: the directory {str(folder)!r} does not exist")


def add_parsers(sub, int_at_least, seed_type) -> None:
    """Add the `clt` sub-command."""
    p = sub.add_parser(
        "clt",
        help="dynamical CLT of mean-field networks: finite-width fluctuations vs their limit",
        description="Train independent width-m two-layer networks in mean-field time (gradient "
        "flow, float64) and measure m E||f_m - f_t||^2 against the mean-field limit f_t on the "
        "training and the test measure; compare with the resampling variance V_t (the bound, "
        "and the exact value at t = 0) and, with --linear-response, with the limiting "
        "fluctuation E||g_t||^2 (mean-field-clt.md §4-§6, §10).  gauss1d: 1-D Gaussian units "
        "(§9.1), reference = flow of a quadrature of mu_0.  relu-teacher: ReLU teacher-student "
        "(§9.4), reference = a wide i.i.d. network.",
    )
    p.add_argument("--model", choices=MODELS, required=True,
                   help="gauss1d (1-D Gaussian units, §9.1) or relu-teacher (ReLU "
                   "teacher-student, §9.4)")
    p.add_argument("--widths", type=_widths, default=_widths("32,64,128,256"), metavar="M,...",
                   help="network widths, at least two distinct integers >= 1 "
                   "(default 32,64,128,256)")
    p.add_argument("--seeds", type=int_at_least(2, "--seeds"), default=200,
                   help="independent networks per width, >= 2 (default 200)")
    p.add_argument("--time", type=_positive_float("--time"), default=10.0, metavar="T",
                   help="final mean-field time T > 0 (default 10)")
    p.add_argument("--points", type=int_at_least(2, "--points"), default=5, metavar="K",
                   help="recorded times, equally spaced from 0 to T (default 5)")
    p.add_argument("--train-points", type=int_at_least(1, "--train-points"), default=None,
                   metavar="N", help="train on N points instead of the population loss: "
                   "gauss1d, N equispaced points of [-3, 3] (the interpolation variant; test norm "
                   "on a grid of [-5, 5]); relu-teacher, N inputs drawn with key(S) (test norm: "
                   "the population)")
    p.add_argument("--reg", type=_float_at_least(0.0, "--reg"), default=0.0, metavar="LAMBDA",
                   help="penalty lambda/2 int c^2 dmu, lambda >= 0 (default 0)")
    p.add_argument("--quadrature", type=int_at_least(1, "--quadrature"), nargs=2, default=None,
                   metavar=("NY", "NC"), help="gauss1d: Gauss-Legendre x Gauss-Hermite "
                   f"quadrature of mu_0 for the reference (default {_QUADRATURE[0]} "
                   f"{_QUADRATURE[1]})")
    p.add_argument("--d", type=int_at_least(2, "--d"), default=None,
                   help="relu-teacher: input dimension d >= 2 (default 10)")
    p.add_argument("--inputs", choices=("gaussian", "sphere"), default=None,
                   help="relu-teacher: x ~ N(0, I_d) (default) or uniform on the sphere of "
                   "radius sqrt(d); only matters with --train-points (the population kernels "
                   "are the same)")
    p.add_argument("--reference-width", type=int_at_least(2, "--reference-width"), default=None,
                   metavar="M", help="relu-teacher: width of the i.i.d. reference network "
                   f"(default max({_REFERENCE_MIN}, {_REFERENCE_PER_WIDTH} x the largest width) "
                   f"capped at {_REFERENCE_CAP}: §10.3 recommends M >= 64 m, and the population "
                   "loss costs O(M^2) per step)")
    p.add_argument("--linear-response", action="store_true",
                   help="also the limit E||g_t||^2 by linear response: exact covariance for "
                   "gauss1d, Gaussian directions for relu-teacher")
    p.add_argument("--directions", type=int_at_least(2, "--directions"), default=None,
                   metavar="R", help="relu-teacher with --linear-response: Gaussian "
                   f"directions R >= 2 (default {_DIRECTIONS})")
    p.add_argument("--solver", choices=SOLVERS, default=None,
                   help="ODE solver: tsit5 or dopri5, adaptive unless --dt; rk4 and euler need "
                   "--dt.  Default: tsit5, except relu-teacher with --train-points, where a "
                   "unit's velocity jumps whenever its hyperplane crosses a data point and "
                   "adaptive steps stall: rk4 with --dt 0.05 (the reference's choice)")
    p.add_argument("--rtol", type=_positive_float("--rtol"), default=1e-6,
                   help="relative tolerance of the adaptive solver (default 1e-6)")
    p.add_argument("--atol", type=_positive_float("--atol"), default=1e-8,
                   help="absolute tolerance of the adaptive solver (default 1e-8)")
    p.add_argument("--dt", type=_positive_float("--dt"), default=None,
                   help="fixed step (e.g. --solver rk4 --dt 0.05, the reference's choice)")
    p.add_argument("--seed", type=seed_type, default=0,
                   help="base integer seed (default 0): network r of width m from "
                   "fold_in(fold_in(key(S), r), m)")
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="write one checkpoint per width to DIR, atomically after every chunk "
                   "of seeds (default: none)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoints in --checkpoint-dir (same settings)")
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="write a figure (PNG, PDF, SVG, ...): m E||f_m - f_t||^2 against t per "
                   "width, the linear response and V_t, train and test panels")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-progress", action="store_true", help="never show progress bars")


# ------------------------------------------------------------------------------------------
# checks and settings (no JAX)


_MODEL_OPTIONS = {  # option: (its model, why the other model has none)
    "quadrature": ("gauss1d", "relu-teacher has no quadrature of mu_0: its reference is a wide "
                   "network, --reference-width M"),
    "d": ("relu-teacher", "gauss1d has one-dimensional inputs"),
    "inputs": ("relu-teacher", "gauss1d's inputs are a grid, or --train-points"),
    "reference_width": ("relu-teacher", "gauss1d's reference is a quadrature of mu_0, "
                        "--quadrature NY NC"),
}


def _resolve_solver(args) -> None:
    """Fill in the default solver (see --solver's help); idempotent."""
    if args.solver is None:
        kinks = args.model == "relu-teacher" and args.train_points is not None
        args.solver = "rk4" if kinks else "tsit5"
        if kinks and args.dt is None:
            args.dt = 0.05


def _check_options(args) -> None:
    relu = args.model == "relu-teacher"
    for name, (model, reason) in _MODEL_OPTIONS.items():
        if getattr(args, name) is not None and model != args.model:
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option} is only for --model {model} ({reason})")
    if args.directions is not None:
        if not args.linear_response:
            raise ValueError("--directions needs --linear-response")
        if not relu:
            raise ValueError("--directions is only for --model relu-teacher (gauss1d uses the "
                             "exact covariance of its quadrature, no directions)")
    _resolve_solver(args)
    if args.dt is None and args.solver not in _ADAPTIVE:
        raise ValueError(f"--solver {args.solver} needs --dt (a fixed step, e.g. 0.05); "
                         f"adaptive: {', '.join(_ADAPTIVE)}")
    if args.resume and args.checkpoint_dir is None:
        raise ValueError("--resume needs --checkpoint-dir DIR (the checkpoints to continue)")
    if args.plot:
        check_plot_file(args.plot)


def _settings(args) -> dict:
    """Everything the results depend on except the widths and the number of seeds."""
    _resolve_solver(args)
    relu = args.model == "relu-teacher"
    if relu:
        reference_width = args.reference_width or min(
            _REFERENCE_CAP, max(_REFERENCE_MIN, _REFERENCE_PER_WIDTH * max(args.widths)))
        reference = {"kind": "network", "width": reference_width}
    else:
        reference = {"kind": "quadrature", "quadrature": list(args.quadrature or _QUADRATURE)}
    return {
        "model": args.model,
        "train_points": args.train_points,
        "d": (args.d or 10) if relu else None,
        "inputs": (args.inputs or "gaussian") if relu else None,
        "reference": reference,
        "time": args.time,
        "points": args.points,
        "regularisation": args.reg,
        "solver": {"name": args.solver, "dt": args.dt,
                   "rtol": None if args.dt is not None else args.rtol,
                   "atol": None if args.dt is not None else args.atol},
        "seed": args.seed,
    }


def _prepare_checkpoints(args, settings: dict) -> Path | None:
    """Create the directory; on --resume check that its checkpoints have these settings,
    otherwise remove earlier ones; record the settings."""
    if args.checkpoint_dir is None:
        return None
    from limitlab.validation._runner import check_out_dir

    try:
        folder = check_out_dir(args.checkpoint_dir)
    except ValueError as err:
        raise ValueError(f"--checkpoint-dir: {err}") from None
    manifest = folder / _MANIFEST
    if args.resume and manifest.exists():
        try:
            stored = json.loads(manifest.read_text())["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ValueError(f"--resume: {manifest} cannot be read; remove the directory or "
                             "run without --resume") from None
        for name, value in settings.items():
            if stored.get(name) != value:
                raise ValueError(
                    f"--resume: the checkpoints in {folder} were written with {name} "
                    f"{stored.get(name)!r}, this run has {value!r}; use the same settings, "
                    "another --checkpoint-dir, or no --resume")
    if not args.resume:
        # A fresh start: checkpoints of earlier runs (perhaps of other settings, which the
        # per-width fingerprint does not all cover) must not be picked up by a later --resume.
        for stale in folder.glob("mean_field_m*.npz"):
            stale.unlink()
    temporary = manifest.with_name(manifest.name + ".tmp")
    temporary.write_text(json.dumps({"command": "clt", "settings": settings}, indent=2))
    os.replace(temporary, manifest)
    return folder


# ------------------------------------------------------------------------------------------
# the computation


def _model_and_description(settings: dict):
    n = settings["train_points"]
    if settings["model"] == "gauss1d":
        model = _cached_model(("gauss1d", n))
        if n is None:
            grid = model.train.x
            text = (f"1-D Gaussian units (§9.1), population loss: Lebesgue measure on a "
                    f"trapezoid grid of [{grid[0]:g}, {grid[-1]:g}] ({grid.shape[0]} nodes), "
                    "train = test")
        else:
            grid = model.test.x
            text = (f"1-D Gaussian units (§9.1), interpolation: {n} equispaced training points "
                    f"of [-3, 3]; test norm: Lebesgue on a grid of [{grid[0]:g}, {grid[-1]:g}] "
                    f"({grid.shape[0]} nodes)")
        return model, text + "; mu_0 = Unif[-2, 2](y) x N(0, 1)(c)"
    d, inputs = settings["d"], settings["inputs"]
    model = _cached_model(("relu-teacher", d, inputs, n, settings["seed"] if n else None))
    data = ("population loss (arc-cosine kernel), train = test" if n is None else
            f"{n} training inputs ({inputs}) from key(S); test norm: the population")
    return model, (f"ReLU teacher-student (§9.4), d = {d}, teacher ReLU<e_1, x>, "
                   f"z ~ N(0, I/d), c ~ N(0, 1); {data}")


_MODEL_CACHE: dict = {}


def _cached_model(spec: tuple):
    """One model object per specification: compiled solvers are cached on the model (its
    callables are static and hashed by identity), so repeated runs in one process reuse them."""
    if spec in _MODEL_CACHE:
        return _MODEL_CACHE[spec]
    from limitlab import numerics

    if spec[0] == "gauss1d":
        n = spec[1]
        model = numerics.gaussian_units_model("population") if n is None else (
            numerics.gaussian_units_model("interpolation", n_train=n))
    else:
        _, d, inputs, n, seed = spec
        model = numerics.relu_teacher_student_model(
            d, inputs=inputs, n_train=n, key=None if n is None else numerics.key_from_seed(seed))
    if len(_MODEL_CACHE) >= 8:
        _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
    _MODEL_CACHE[spec] = model
    return model


def _compute(args, settings: dict, checkpoints: Path | None) -> dict:
    import numpy as np

    from limitlab import numerics

    model, description = _model_and_description(settings)
    times = np.linspace(0.0, args.time, args.points)
    solver = dict(solver=args.solver, dt=args.dt, rtol=args.rtol, atol=args.atol,
                  regularisation=args.reg)
    reference = settings["reference"]
    if reference["kind"] == "quadrature":
        particles = numerics.reference_particles(model, tuple(reference["quadrature"]))
    else:
        particles = numerics.reference_particles(
            model, reference["width"], key=numerics.seed_key(args.seed, _REFERENCE_INDEX))
    n_particles = int(particles.w.shape[0])
    flow = numerics.mean_field_flow(model, particles, times, **solver)
    response = None
    if args.linear_response:
        if reference["kind"] == "quadrature":
            response = numerics.linear_response_fluctuation(
                model, particles, times, method="exact", **solver)
        else:
            response = numerics.linear_response_fluctuation(
                model, particles, times, method="gaussian",
                directions=args.directions or _DIRECTIONS,
                key=numerics.seed_key(args.seed, _DIRECTIONS_INDEX), **solver)
    ensemble = numerics.finite_width_ensemble(
        model, args.widths, times, n_seeds=args.seeds, seed=args.seed, reference=flow,
        checkpoint_dir=checkpoints, resume=args.resume,
        progress=False if args.no_progress else None, **solver)

    def floats(values):
        return [float(v) for v in np.asarray(values, dtype=float)]

    result = {
        "model": args.model,
        "description": description,
        "train_points": args.train_points,
        "d": settings["d"],
        "inputs": settings["inputs"],
        "same_measure": model.train is model.test,
        "reference": dict(reference, particles=n_particles),
        "widths": list(args.widths),
        "seeds": args.seeds,
        "seed": args.seed,
        "regularisation": args.reg,
        "solver": settings["solver"],
        "times": floats(times),
        "mean_field": {name: floats(flow[name]) for name in (
            "resampling_train", "resampling_test", "loss_train", "loss_test", "norm2")},
        "finite_width": [
            {"width": m, **{name: floats(summary[name]) for name in (
                "train", "train_se", "test", "test_se", "loss_gap_train", "loss_gap_train_se",
                "loss_gap_test", "loss_gap_test_se", "norm2", "norm2_se")}}
            for m, summary in ensemble.items()
        ],
        "linear_response": None if response is None else {
            "method": "exact" if reference["kind"] == "quadrature" else "gaussian",
            "directions": int(response["directions"]),
            **{name: floats(response[name]) for name in ("train", "train_se", "test",
                                                          "test_se")}},
        "checkpoint_dir": None if checkpoints is None else str(checkpoints),
        "resumed": bool(args.resume),
    }
    if reference["kind"] == "network":
        # The reference network fluctuates too: m E||f_m - f_M||^2 = (1 + m/M) E||g||^2 + ...
        result["reference"]["largest_width_ratio"] = max(args.widths) / reference["width"]
    return result


# ------------------------------------------------------------------------------------------
# output


def _cell(mean: float, stderr: float | None) -> str:
    return f"{mean:.4g}" if not stderr else f"{mean:.4g} ± {stderr:.2g}"


def _print_text(result: dict) -> None:
    reference = result["reference"]
    solver = result["solver"]
    steps = (f"fixed step {solver['dt']:g}" if solver["dt"] is not None else
             f"adaptive, rtol {solver['rtol']:g}, atol {solver['atol']:g}")
    print(f"model: {result['model']}: {result['description']}")
    if reference["kind"] == "quadrature":
        ny, nc = reference["quadrature"]
        print(f"reference: mean-field flow of a {ny} x {nc} Gauss-Legendre x Gauss-Hermite "
              f"quadrature of mu_0 ({reference['particles']} particles)")
    else:
        print(f"reference: a width-{reference['width']} i.i.d. network (M/m >= "
              f"{1 / reference['largest_width_ratio']:.3g}: its own fluctuation adds about m/M "
              f"<= {100 * reference['largest_width_ratio']:.2g}% to m E||f_m - f||^2)")
    print(f"widths {', '.join(map(str, result['widths']))}; {result['seeds']} seeds each from "
          f"seed {result['seed']}; lambda = {result['regularisation']:g}; {solver['name']} "
          f"({steps}), float64")
    response = result["linear_response"]
    if response is not None:
        how = ("exact covariance" if response["method"] == "exact" else
               "Gaussian directions")
        print(f"linear response: {how}, {response['directions']} tangent directions")
    measures = ("train",) if result["same_measure"] else _MEASURES
    for name in measures:
        title = "population (train = test)" if result["same_measure"] else f"{name} measure"
        print()
        print(f"{title}: m E||f_m - f_t||^2 (± s.e.)")
        head = [f"{'t':>8}", f"{'V_t':>10}"]
        head += [f"{'m=' + str(m):>18}" for m in result["widths"]]
        if response is not None:
            head.append(f"{'linear resp.':>18}")
        head += [f"{'loss':>10}", f"{'||mu_t||_2^2':>12}"]
        print("  ".join(head))
        mean_field = result["mean_field"]
        for i, t in enumerate(result["times"]):
            row = [f"{t:>8.4g}", f"{mean_field['resampling_' + name][i]:>10.4g}"]
            for entry in result["finite_width"]:
                row.append(f"{_cell(entry[name][i], entry[name + '_se'][i]):>18}")
            if response is not None:
                row.append(f"{_cell(response[name][i], response[name + '_se'][i]):>18}")
            row += [f"{mean_field['loss_' + name][i]:>10.4g}",
                    f"{mean_field['norm2'][i]:>12.4g}"]
            print("  ".join(row))
    print()
    print("At t = 0, m E||f_m - f_0||^2 = V_0 in expectation; later the columns of the widths "
          "should agree (CLT scaling) and with the linear response; staying below V_t is "
          "a soft check, not a theorem (it fails on some random-features problems).")
    if result.get("plot"):
        print(f"figure written to {result['plot']}")


def _plot(args, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    times = np.asarray(result["times"])
    spread = 0.012 * (times[-1] - times[0])
    count = len(result["finite_width"])
    measures = ("train",) if result["same_measure"] else _MEASURES
    fig, axes = plt.subplots(1, len(measures), figsize=(5.5 * len(measures), 4.4), dpi=120,
                             sharex=True, squeeze=False)
    try:
        for ax, name in zip(axes[0], measures, strict=True):
            for j, entry in enumerate(result["finite_width"]):
                shift = (j - (count - 1) / 2) * spread
                ax.errorbar(times + shift, entry[name], yerr=entry[name + "_se"], fmt="o-",
                            ms=4, lw=1, capsize=2, color=f"C{j % 10}",
                            label=f"m = {entry['width']} (± 1 s.e.)")
            response = result["linear_response"]
            if response is not None:
                value, stderr = np.asarray(response[name]), np.asarray(response[name + "_se"])
                ax.plot(times, value, "-", color="k", lw=1.5, label="linear response "
                        "E||g_t||^2" + (" (± 1 s.e.)" if stderr.any() else ""))
                if stderr.any():
                    ax.fill_between(times, value - stderr, value + stderr, color="k", alpha=0.15)
            ax.plot(times, result["mean_field"]["resampling_" + name], "--", color="0.4",
                    label="V_t (resampling variance)")
            where = "population (train = test)" if result["same_measure"] else f"{name} measure"
            ax.set_title(where, fontsize=9)
            ax.set_xlabel("mean-field time t")
            ax.set_ylabel("m E||f_m - f_t||^2")
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
        axes[0, 0].legend(fontsize=7)
        fig.suptitle(f"{args.model}: {result['seeds']} seeds per width, lambda = "
                     f"{result['regularisation']:g}", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.plot)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------


def run_clt(args) -> int:
    _check_options(args)
    settings = _settings(args)
    checkpoints = _prepare_checkpoints(args, settings)
    try:
        result = _compute(args, settings, checkpoints)
    except FloatingPointError as err:  # one line through cli.main, exit code 2
        kept = ("" if checkpoints is None else
                f"; the checkpoints in {checkpoints} keep the finished seeds")
        raise ValueError(f"{str(err).splitlines()[0]}{kept}") from None
    if args.plot:
        _plot(args, result)
        result["plot"] = args.plot
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    _print_text(result)
    return 0
