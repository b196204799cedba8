"""`limitlab spectrum` and `limitlab risk-curve`: kernel gradient flow from the command line.

    limitlab spectrum --kernel "exp(z)" --d 100 [--kmax 6] [--exact] [--json]
    limitlab risk-curve --kernel K --d D --n N --energies 1:1,2:1 [--noise S2] [--times T]
                        [--level L] [--regime polynomial|boundary] [--simulate --seeds S]
                        [--plot FILE] [--json]

Arguments are checked before anything heavy is imported; a value the theory layer rejects
(an unknown name in the kernel, a kernel that is not positive definite, an energy on a degree
the kernel cannot learn) is reported as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math

__all__ = ["add_parsers", "run_risk_curve", "run_spectrum"]

_MAX_DEGREE = 64


def int_at_least(minimum: int, name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}, got {value}")
        return value

    return parse


def _float_at_least(minimum: float, name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum:
            raise argparse.ArgumentTypeError(
                f"{name} must be a finite number >= {minimum:g}, got {text!r}"
            )
        return value

    return parse


def parse_energies(text: str) -> dict[int, float]:
    """`"1:1,2:0.5"` -> `{1: 1.0, 2: 0.5}`: degree k (integer >= 0) : energy F_k (>= 0)."""
    energies: dict[int, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        degree, sep, energy = item.partition(":")
        if not sep:
            raise argparse.ArgumentTypeError(
                f"energies must be comma-separated DEGREE:ENERGY pairs such as 1:1,2:0.5, got {item!r}"
            )
        k = int_at_least(0, "energies: a degree")(degree.strip())
        if k > _MAX_DEGREE:
            raise argparse.ArgumentTypeError(f"energies: degree {k} is above {_MAX_DEGREE}")
        if k in energies:
            raise argparse.ArgumentTypeError(f"energies: degree {k} given twice")
        energies[k] = _float_at_least(0.0, f"energies: the energy of degree {k}")(energy.strip())
    if not energies:
        raise argparse.ArgumentTypeError("energies must name at least one DEGREE:ENERGY pair")
    return energies


def parse_times(text: str) -> list[float]:
    """`"1,100,1e4"` (a list) or `"geom:1:1e7:29"` (29 log-spaced times from 1 to 1e7)."""
    if text.startswith("geom:"):
        parts = text.split(":")
        if len(parts) != 4:
            raise argparse.ArgumentTypeError(
                f"times: expected geom:START:STOP:COUNT, got {text!r}"
            )
        start = _float_at_least(0.0, "times: START")(parts[1])
        stop = _float_at_least(0.0, "times: STOP")(parts[2])
        count = int_at_least(2, "times: COUNT")(parts[3])
        if not 0 < start < stop:
            raise argparse.ArgumentTypeError(f"times: need 0 < START < STOP, got {text!r}")
        ratio = (stop / start) ** (1 / (count - 1))
        return [start * ratio**i for i in range(count)]
    values = [
        _float_at_least(0.0, "times: every time")(part.strip())
        for part in text.split(",")
        if part.strip()
    ]
    if not values:
        raise argparse.ArgumentTypeError("times must list at least one time")
    return values


def add_parsers(sub, common_seed) -> None:
    """Add the `spectrum` and `risk-curve` sub-commands to an argparse sub-parser set."""
    p_spec = sub.add_parser(
        "spectrum",
        help="Funk-Hecke eigenvalues of an inner-product kernel on the sphere",
        description="Eigenvalues lambda_{d,k} of K(x,x') = h(<x,x'>/d) on S^{d-1}(sqrt d), "
        "with degeneracies N(d,k), the high-d asymptotic h^(k)(0)/d^k, mu_k and kappa_{>k}.",
    )
    p_spec.add_argument("--kernel", required=True,
                        help='h(z): an expression in z such as "exp(z)", or a named kernel '
                        'such as "relu-ntk:depth=2"')
    p_spec.add_argument("--d", type=int_at_least(3, "--d"), required=True, help="dimension (>= 3)")
    p_spec.add_argument("--kmax", type=int_at_least(0, "--kmax"), default=6,
                        help="largest degree (default 6)")
    p_spec.add_argument("--exact", action="store_true",
                        help="exact values (rationals for polynomial kernels, 30 digits otherwise)")
    p_spec.add_argument("--json", action="store_true", help="print JSON")

    p_risk = sub.add_parser(
        "risk-curve",
        help="oracle / empirical risk curves of kernel gradient flow (optionally simulated)",
        description="Predicted risks of gradient flow on kernel least squares at the given times: "
        "the exact Oracle World risk and the asymptotic Empirical World train and test risks "
        "(polynomial regime, or the boundary regime n ~ N(d,l)); with --simulate, the exact "
        "finite-n simulation averaged over seeds.  Risks include the label noise.",
    )
    p_risk.add_argument("--kernel", required=True, help="h(z), as for `limitlab spectrum`")
    p_risk.add_argument("--d", type=int_at_least(3, "--d"), required=True, help="dimension (>= 3)")
    p_risk.add_argument("--n", type=int_at_least(1, "--n"), required=True, help="sample size")
    p_risk.add_argument("--energies", type=parse_energies, required=True,
                        help="target energy per degree, e.g. 1:1,2:1,3:1")
    p_risk.add_argument("--noise", type=_float_at_least(0.0, "--noise"), default=0.0,
                        help="label-noise variance sigma^2 (default 0)")
    p_risk.add_argument("--times", type=parse_times, default=parse_times("geom:1:1e7:15"),
                        help="times: a list such as 1,100,1e4 or geom:START:STOP:COUNT "
                        "(default geom:1:1e7:15)")
    p_risk.add_argument("--level", type=int_at_least(0, "--level"), default=None,
                        help="the level l of the regime (default: from d and n)")
    p_risk.add_argument("--regime", choices=("polynomial", "boundary"), default="polynomial",
                        help="asymptotic train/test formulas: polynomial regime (default) or the "
                        "boundary regime n = psi N(d,l)")
    p_risk.add_argument("--kmax", type=int_at_least(1, "--kmax"), default=None,
                        help="degrees kept in the spectrum (default: max(8, top energy degree + 4))")
    p_risk.add_argument("--simulate", action="store_true", help="also run the finite-n simulation")
    p_risk.add_argument("--seeds", type=int_at_least(2, "--seeds"), default=8,
                        help="seeds of the simulation (default 8)")
    p_risk.add_argument("--seed", type=common_seed, default=0, help="base integer seed (default 0)")
    p_risk.add_argument("--heldout", type=int_at_least(0, "--heldout"), default=0,
                        help="also estimate the test risk on this many fresh points per seed")
    p_risk.add_argument("--plot", default=None, metavar="FILE", help="write a figure (PNG, PDF, SVG)")
    p_risk.add_argument("--json", action="store_true", help="print JSON")
    p_risk.add_argument("--no-progress", action="store_true", help="never show progress bars")


# ------------------------------------------------------------------------------------------
# spectrum


def run_spectrum(args) -> int:
    from limitlab import theory

    spectrum = theory.kernel_spectrum(args.kernel, args.d, args.kmax)
    taylor = _taylor(theory, spectrum.kernel, args.kmax)
    rows = []
    for k in range(args.kmax + 1):
        row = {
            "k": k,
            "degeneracy": spectrum.degeneracy(k),
            "eigenvalue": spectrum.eigenvalue(k),
            "asymptotic": None if taylor is None else float(taylor[k] * math.factorial(k)) / args.d**k,
            "mu": spectrum.mu(k),
            "mu_limit": None if taylor is None else float(taylor[k]),
            "tail": spectrum.tail(k),
        }
        if row["asymptotic"]:
            row["relative_gap"] = row["eigenvalue"] / row["asymptotic"] - 1
        else:
            row["relative_gap"] = None
        if args.exact:
            row["eigenvalue_exact"] = str(theory.funk_hecke_eigenvalue(spectrum.kernel, args.d, k, dps=30))
        rows.append(row)
    if args.json:
        print(json.dumps({"kernel": str(spectrum.kernel), "d": args.d, "trace": spectrum.trace,
                          "degrees": rows}, indent=2))
        return 0
    print(f"kernel h(z) = {spectrum.kernel}   d = {args.d}   h(1) = {spectrum.trace:.12g}")
    head = ("k", "N(d,k)", "lambda_{d,k}", "h^(k)(0)/d^k", "rel. gap", "N*lambda", "mu_k",
            "kappa_{>k}")
    print("  ".join(f"{h:>14}" if i else f"{h:>3}" for i, h in enumerate(head)))
    for row in rows:
        cells = [f"{row['k']:>3}", f"{row['degeneracy']:>14d}"
                 if row["degeneracy"] < 10**14 else f"{row['degeneracy']:>14.6e}"]
        for key in ("eigenvalue", "asymptotic", "relative_gap", "mu", "mu_limit", "tail"):
            value = row[key]
            cells.append(f"{'-':>14}" if value is None else f"{value:>14.6e}")
        print("  ".join(cells))
        if args.exact:
            print(f"      exact lambda_{{d,{row['k']}}} = {row['eigenvalue_exact']}")
    return 0


def _taylor(theory, kernel, order):
    """Taylor coefficients h_j = h^(j)(0)/j! as floats, or None when h is not analytic at 0."""
    try:
        return theory.kernel_taylor_coefficients(kernel, order)
    except ValueError:
        try:
            return theory.kernel_taylor_coefficients(kernel, order, digits=20)
        except ValueError:
            return None


# ------------------------------------------------------------------------------------------
# risk-curve


def _microbatch(n: int) -> int:
    # a handful of n x n float64 arrays per seed; keep one micro-batch under about 2 GB
    return max(1, min(32, int(2e9 / (48.0 * n * n))))


def run_risk_curve(args) -> int:
    import numpy as np

    from limitlab import theory

    kmax = args.kmax if args.kmax is not None else max(8, max(args.energies) + 4)
    if max(args.energies) > kmax:
        raise ValueError(f"--kmax {kmax} is below the top energy degree {max(args.energies)}")
    spectrum = theory.kernel_spectrum(args.kernel, args.d, kmax)
    times = np.asarray(args.times, dtype=float)
    oracle, train, test = _predicted(args, spectrum, times)
    windows = theory.stage_windows(spectrum, args.energies, args.noise, args.n, level=args.level)
    simulated = _simulate(args, spectrum, times) if args.simulate else None

    result = {
        "kernel": str(spectrum.kernel),
        "d": args.d,
        "n": args.n,
        "energies": {str(k): v for k, v in sorted(args.energies.items())},
        "noise": args.noise,
        "regime": args.regime,
        "stages": windows.to_dict(),
        "points": [],
    }
    for i, t in enumerate(times):
        point = {"t": float(t), "oracle": float(oracle[i]), "train": float(train[i]),
                 "test": float(test[i])}
        if simulated is not None:
            point["simulated"] = {name: {"mean": float(m[i]), "stderr": float(s[i])}
                                  for name, (m, s) in simulated.items()}
        result["points"].append(point)
    if simulated is not None:
        result["seeds"] = args.seeds
        result["seed"] = args.seed
    if args.plot:
        _plot(args, spectrum, times, simulated, windows)
        result["plot"] = args.plot
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    _print_table(result, windows, simulated is not None)
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def _predicted(args, spectrum, times):
    """Oracle risk (exact) and the asymptotic train and test risks of the chosen regime."""
    from limitlab import theory

    oracle = theory.oracle_risk(times, spectrum, args.energies, args.noise)
    if args.regime == "polynomial":
        train, test = theory.empirical_risk_asymptotic(
            times, spectrum, args.energies, args.noise, args.n, level=args.level)
    else:
        train, test = theory.boundary_regime_risk(
            times / args.n, spectrum, args.energies, args.noise, args.n, level=args.level)
    return oracle, train, test


def _simulate(args, spectrum, times):
    import numpy as np

    from limitlab import numerics

    kernel_fn = numerics.lambdify("z", spectrum.kernel)
    eigenvalues = np.asarray(spectrum.eigenvalues, dtype=float)
    energies = tuple(sorted(args.energies.items()))

    def one(key):
        return numerics.simulate_kernel_flow(
            kernel_fn, eigenvalues, d=args.d, n=args.n, energies=energies, noise=args.noise,
            times=times, key=key, heldout=args.heldout)

    out = numerics.run_ensemble(
        one, seed=args.seed, n_seeds=args.seeds, microbatch=_microbatch(args.n),
        progress=False if args.no_progress else None, description="risk-curve")
    simulated = {}
    for name, key in (("train", "train"), ("test", "test"), ("heldout", "heldout")):
        if key not in out:
            continue
        values = np.asarray(out[key], dtype=float)
        if name != "train":
            values = values + args.noise  # excess -> risk including the label noise
        simulated[name] = (values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(args.seeds))
    return simulated


def _print_table(result, windows, simulated: bool) -> None:
    stages = result["stages"]
    print(f"kernel h(z) = {result['kernel']}   d = {result['d']}   n = {result['n']}   "
          f"noise = {result['noise']:g}   regime = {result['regime']}")
    print(f"level l = {stages['level']}, alpha = log n/log d = {stages['alpha']:.4g}, "
          f"kappa_{{>l}} = {stages['kappa']:.6g}")
    print(f"stage 1|2 at t ~ n = d^{stages['stage12_exponent']:.3g} (train time constant "
          f"n/kappa = {_fmt(stages['stage12_time'])}); stage 2|3 at t ~ d^{stages['stage23_exponent']} "
          f"(1/lambda_{{l+1}} = {_fmt(stages['stage23_time'])})")
    print(f"plateaus: initial {stages['initial_risk']:.6g}, stage-2/3 test "
          f"{stages['plateau_risk']:.6g}, oracle final {stages['oracle_final_risk']:.6g}")
    head = ["t", "oracle", "train", "test"]
    if simulated:
        head += ["sim train", "s.e.", "sim test", "s.e."]
    print("  ".join(f"{h:>11}" for h in head))
    for p in result["points"]:
        cells = [p["t"], p["oracle"], p["train"], p["test"]]
        if simulated:
            s = p["simulated"]
            cells += [s["train"]["mean"], s["train"]["stderr"], s["test"]["mean"], s["test"]["stderr"]]
        print("  ".join(f"{c:>11.5g}" for c in cells))


def _fmt(value) -> str:
    return "inf" if value is None else f"{value:.4g}"


def _plot(args, spectrum, times, simulated, windows) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    positive = times[times > 0]
    low = positive.min() if positive.size else 1.0
    high = max(times.max(), low * 10)
    dense = np.geomspace(low, high, 300)
    oracle, train, test = _predicted(args, spectrum, dense)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    try:
        ax.plot(dense, oracle, "-", color="C2", label="oracle (exact)")
        ax.plot(dense, test, "-", color="C0", label=f"test ({args.regime} asymptotic)")
        ax.plot(dense, train, "-", color="C1", label=f"train ({args.regime} asymptotic)")
        if simulated is not None:
            for name, colour in (("test", "C0"), ("train", "C1"), ("heldout", "C4")):
                if name in simulated:
                    mean, stderr = simulated[name]
                    keep = times > 0
                    ax.errorbar(times[keep], mean[keep], yerr=stderr[keep], fmt="o", ms=4,
                                capsize=2, color=colour,
                                label=f"{name} (simulated, {args.seeds} seeds)")
        # stage boundaries t ~ n = d^alpha and t ~ d^(l+1)
        for t in (float(args.n), float(args.d) ** windows.stage23_exponent):
            if low <= t <= high:
                ax.axvline(t, color="0.6", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("gradient-flow time t")
        ax.set_ylabel("risk (incl. noise)")
        ax.set_title(f"h = {spectrum.kernel}, d = {args.d}, n = {args.n}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot)
    finally:
        plt.close(fig)
