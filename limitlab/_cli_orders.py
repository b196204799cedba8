"""`limitlab order` and `limitlab width-sweep`: asymptotic orders in the width of correlation
functions of derivative tensors (Dyer & Gur-Ari's cluster-graph rule), and their measurement.

    limitlab order "E[df(x1)_a df(x2)_a]" [--param ntk|standard|mean-field|general:a=..,b=..]
                   [--dynamical] [--json]
    limitlab width-sweep "E[...]" [--depth 3] [--act tanh] [--widths 128,256,...]
                         [--seeds 200] [--statistic mean|rms] [--param ...] [--plot FILE] [--json]

A malformed correlation string, a width or depth below 1, or an unknown activation or
parametrisation is one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math

__all__ = ["add_parsers", "run_order", "run_width_sweep"]

_ACTIVATIONS = ("linear", "relu", "tanh", "erf", "gelu")


def _widths(text: str) -> list[int]:
    values = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"widths must be integers, got {part!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"every width must be >= 1, got {value}")
        values.append(value)
    if len(values) < 2 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(
            f"widths must list at least two distinct widths, got {text!r}")
    return sorted(values)


def add_parsers(sub, int_at_least, seed_type) -> None:
    """Add the `order` and `width-sweep` sub-commands."""
    p_order = sub.add_parser(
        "order",
        help="width exponent of a correlation function (cluster-graph rule)",
        description="Parse a correlation function of derivative tensors at initialisation, build "
        "its cluster graph and print the exponent s_C = n_e + n_o/2 - m/2 of its order O(n^s_C) "
        "in the width n (an upper bound; Dyer & Gur-Ari 2020), for a parametrisation.",
    )
    p_order.add_argument("correlation", help='e.g. "E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]"')
    p_order.add_argument("--param", default="ntk",
                         help="ntk (default), standard, mean-field or general:a=A,b=B")
    p_order.add_argument("--dynamical", action="store_true",
                         help="every contracted pair comes with one learning rate (the "
                         "correlation function appears in the training dynamics)")
    p_order.add_argument("--json", action="store_true", help="print JSON")

    p_sweep = sub.add_parser(
        "width-sweep",
        help="measure a correlation function at several widths and fit its exponent",
        description="Monte Carlo over network initialisations at each width, a log-log slope "
        "with a bootstrap confidence interval over seeds, compared with the cluster-graph "
        "exponent (for the mean) or twice it (the variance bound, for --statistic rms).",
    )
    p_sweep.add_argument("correlation", help="as for `limitlab order`")
    p_sweep.add_argument("--depth", type=int_at_least(1, "--depth"), default=3,
                         help="hidden layers (default 3)")
    p_sweep.add_argument("--act", choices=_ACTIVATIONS, default="tanh",
                         help="activation (default tanh)")
    p_sweep.add_argument("--param", default="ntk", help="parametrisation, as for `order`")
    p_sweep.add_argument("--widths", type=_widths, default=_widths("128,256,512,1024"),
                         help="comma-separated widths (default 128,256,512,1024)")
    p_sweep.add_argument("--seeds", type=int_at_least(2, "--seeds"), default=200,
                         help="initialisations per width (default 200)")
    p_sweep.add_argument("--seed", type=seed_type, default=0, help="base integer seed (default 0)")
    p_sweep.add_argument("--input-dim", type=int_at_least(1, "--input-dim"), default=4,
                         help="input dimension (default 4)")
    p_sweep.add_argument("--statistic", choices=("mean", "rms"), default="mean",
                         help="fit the mean (compare with s_C) or the RMS over seeds (the "
                         "typical size; compare with s_C for even m)")
    p_sweep.add_argument("--plot", default=None, metavar="FILE", help="write a figure")
    p_sweep.add_argument("--json", action="store_true", help="print JSON")
    p_sweep.add_argument("--no-progress", action="store_true", help="never show progress bars")


def run_order(args) -> int:
    from limitlab import theory

    correlation = theory.parse_correlation(args.correlation)
    param = theory.parametrization(args.param)
    graph = theory.cluster_graph(correlation)
    exponent = theory.correlation_exponent(correlation, param, dynamical=args.dynamical)
    if args.json:
        out = graph.to_dict()
        out.update({"parametrization": param.name, "dynamical": args.dynamical,
                    "exponent": str(exponent), "exponent_float": float(exponent),
                    "cluster_exponent": str(graph.exponent)})
        print(json.dumps(out, indent=2))
        return 0
    print(graph.explanation(param, dynamical=args.dynamical))
    print(f"exponent ({param.name}{', dynamical' if args.dynamical else ''}): {exponent}")
    return 0


def run_width_sweep(args) -> int:
    import numpy as np

    from limitlab import numerics, theory
    from limitlab.validation import bootstrap, loglog_slope

    correlation = theory.parse_correlation(args.correlation)
    param = theory.parametrization(args.param)
    predicted = theory.correlation_exponent(correlation, param)
    zero_mean = theory.is_identically_zero(correlation)
    sweep = numerics.width_sweep(
        correlation, args.widths, depth=args.depth, activation=args.act,
        parametrization=_numeric_parametrization(param), input_dim=args.input_dim,
        seed=args.seed, n_seeds=args.seeds, statistic=args.statistic,
        progress=False if args.no_progress else None)
    widths = np.asarray(sweep["widths"], dtype=float)
    samples = np.asarray(sweep["samples"], dtype=float)

    def statistic(s):
        if args.statistic == "mean":
            return np.abs(s.mean(axis=0))
        return np.sqrt(np.mean(s**2, axis=0))

    values = statistic(samples)
    slope = loglog_slope(widths, values)
    replicates = bootstrap(samples, lambda s: loglog_slope(widths, statistic(s)), n_boot=1000,
                           seed=1)
    low, high = (float(q) for q in np.quantile(replicates, [0.0015, 0.9985]))
    # the mean is bounded by n^s_C; one realisation (RMS) by n^s_C as well (variance lemma)
    bound = float(predicted)
    verdict = ("consistent with the predicted exponent" if low <= bound <= high else
               "below the predicted exponent (the rule is an upper bound)" if high < bound else
               "ABOVE the predicted exponent")
    result = {
        "correlation": str(correlation), "parametrization": param.name, "depth": args.depth,
        "activation": args.act, "statistic": args.statistic, "seeds": args.seeds,
        "seed": args.seed, "widths": [int(w) for w in widths],
        "value": values.tolist(), "stderr": np.asarray(sweep["value_sem"]).tolist(),
        "predicted_exponent": str(predicted), "identically_zero_mean": bool(zero_mean),
        "slope": slope, "ci_99.7": [low, high], "verdict": verdict,
    }
    if args.plot:
        _plot(args, widths, values, np.asarray(sweep["value_sem"]), bound, slope, low, high)
        result["plot"] = args.plot
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    print(f"{correlation}   ({param.name}, depth {args.depth}, {args.act}, {args.seeds} seeds)")
    print(f"{'width':>8}  {args.statistic:>14}  {'s.e.':>10}")
    for w, v, e in zip(result["widths"], result["value"], result["stderr"], strict=True):
        print(f"{w:>8d}  {v:>14.6g}  {e:>10.3g}")
    print(f"fitted slope {slope:.3f}, 99.7% bootstrap CI [{low:.3f}, {high:.3f}]; "
          f"predicted exponent {predicted}: {verdict}")
    if zero_mean and args.statistic == "mean":
        print("note: m is odd, so the mean is exactly 0; use --statistic rms for the typical size")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def _numeric_parametrization(param) -> str:
    if param.name in ("ntk", "standard", "mean-field"):
        return param.name
    return f"general:a={param.a},b={param.b}"


def _plot(args, widths, values, stderr, bound, slope, low, high) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    try:
        ax.errorbar(widths, values, yerr=stderr, fmt="o", capsize=3, color="C3",
                    label=f"{args.statistic} over {args.seeds} seeds (±1 s.e.)")
        anchor = values[0] / widths[0] ** bound if values[0] > 0 else 1.0
        ax.plot(widths, anchor * widths**bound, "--", color="C0",
                label=f"n^{bound:g} (cluster-graph exponent, anchored at the first width)")
        fit = math.exp(np.mean(np.log(np.maximum(values, 1e-300)) - slope * np.log(widths)))
        ax.plot(widths, fit * widths**slope, "-", color="0.4", lw=1,
                label=f"fit: slope {slope:.3f} [{low:.3f}, {high:.3f}]")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_ylabel(f"{args.statistic} of the correlation function")
        ax.set_title(args.correlation, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot)
    finally:
        plt.close(fig)
