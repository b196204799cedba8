"""Claim `correlation-function-orders`: correlation functions of derivative tensors of wide
networks at initialisation scale with the width as the cluster-graph rule says (Dyer & Gur-Ari,
ICLR 2020, Conjecture 1; `random-tensor-orders.md` §3, §8)."""

from __future__ import annotations

import numpy as np

from limitlab import numerics, theory

from .._claim import Claim, ClaimSize, FigureSpec, Measurement, Prediction
from .._criteria import Agreement, SlopeMatches
from .._figures import draw_violation_counts
from .._registry import register

# name -> (notation or tower, note); every one has an even number of tensors (odd m is 0)
CASES: dict[str, str] = {
    "f1 f2": "E[f(x1) f(x2)]",
    "f1 f2 f3 f4": "E[f(x1) f(x2) f(x3) f(x4)]",
    "mean NTK": "E[df(x1)_a df(x2)_a]",
    "dTheta/dt term": "E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]",
    "d3f star": "E[df(x1)_a df(x2)_b df(x3)_c d3f(x4)_abc]",
    "disjoint stars": "E[df(x1)_a df(x2)_b d2f(x3)_ab df(x4)_c df(x5)_d d2f(x6)_cd]",
    "O_3 f": "tower:3",
    "O_4 f f": "tower:4",
}


def _terms(spec: str) -> list:
    """The correlation functions whose sum is the case (one, or the terms of a tower)."""
    if not spec.startswith("tower:"):
        return [theory.parse_correlation(spec)]
    s = int(spec.split(":")[1])
    extra = "f(x9)" if s % 2 else "f(x9) f(x10)"
    factor = theory.parse_correlation(f"E[{extra}]")
    return [term * factor for term in theory.operator_tower(s)]


def _exponent(spec: str) -> float:
    return float(theory.exponent_of_terms(_terms(spec)))


def _label(case: str, activation: str) -> str:
    return f"{case} [{activation}]"


def predict(params) -> Prediction:
    widths = np.asarray(params["widths"], dtype=float)
    x, y, series, exponents, curves = [], [], [], {}, {}
    for activation in params["activations"]:
        for case in params["cases"]:
            p = _exponent(CASES[case])
            label = _label(case, activation)
            exponents[label] = p
            x.extend(widths)
            y.extend(widths**p)  # shape only: the rule gives no coefficient
            series.extend([label] * widths.size)
    return Prediction(
        np.array(x), np.array(y), series=tuple(series), exponents=exponents, curves=curves,
        expression="|E C| = O(n^{s_C}), s_C = n_e + n_o/2 - m/2 (cluster graph; upper bound)",
        extra={"cases": {c: CASES[c] for c in params["cases"]}},
    )


def simulate(params, context) -> Measurement:
    widths = [int(w) for w in params["widths"]]
    columns, x, series = [], [], []
    for activation in params["activations"]:
        for case in params["cases"]:
            terms = _terms(CASES[case])
            inputs = numerics.default_inputs(
                sorted({t.input for term in terms for t in term.tensors}), params["input_dim"])
            per_width = []
            for n in widths:
                config = numerics.MLPConfig(depth=params["depth"], width=n,
                                            input_dim=params["input_dim"], activation=activation)
                total = 0.0
                for i, term in enumerate(terms):
                    samples = context.ensemble(
                        lambda key, term=term, config=config: numerics.correlation_sample(
                            term, config, inputs, key=key),
                        tag=f"{case.replace(' ', '_').replace('/', '_')}-{activation}-n{n}-t{i}",
                        config={"term": str(term), "width": n, "depth": params["depth"],
                                "activation": activation, "input_dim": params["input_dim"]},
                        microbatch=max(1, min(64, 2**22 // max(1, numerics.num_parameters(config)))),
                    )
                    total = total + float(term.coefficient) * np.asarray(samples, dtype=float)
                per_width.append(total)
            columns.append(np.stack(per_width, axis=1))
            x.extend(widths)
            series.extend([_label(case, activation)] * len(widths))
    samples = np.concatenate(columns, axis=1)
    return Measurement.from_samples(np.array(x, dtype=float), samples,
                                    lambda s: np.abs(s.mean(axis=0)), series=tuple(series))


def _draw(fig, prediction, measurement):
    labels = list(dict.fromkeys(measurement.series))
    activations = sorted({label.rsplit("[", 1)[1].rstrip("]") for label in labels})
    axes = fig.subplots(1, len(activations), squeeze=False)[0]
    for ax, activation in zip(axes, activations, strict=True):
        mine = [label for label in labels if label.endswith(f"[{activation}]")]
        for i, label in enumerate(mine):
            mask = np.array([s == label for s in measurement.series])
            x, y, e = measurement.x[mask], measurement.y[mask], measurement.stderr[mask]
            p = prediction.exponents[label]
            # normalise by the value at the first width so that all cases share one panel
            scale = y[0] if y[0] > 0 else 1.0
            ax.errorbar(x, y / scale, yerr=e / scale, fmt="o", ms=3, capsize=2, color=f"C{i}",
                        label=f"{label.rsplit(' [', 1)[0]} (s_C = {p:g})")
            ax.plot(x, (x / x[0]) ** p, "--", color=f"C{i}", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_ylabel("|mean| / value at the smallest width")
        ax.set_title(f"{activation}: points measured, dashes n^s_C", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)


_BASE = {"cases": list(CASES), "input_dim": 4}

claim = register(
    Claim(
        name="correlation-function-orders",
        statement=(
            "Correlation functions of derivative tensors of wide networks at initialisation "
            "(NTK parametrisation) are O(n^{s_C}), s_C = n_e + n_o/2 - m/2: the fitted log-log "
            "slope of |mean| in the width is consistent with s_C or below it (upper bound)."
        ),
        reference=(
            "Dyer & Gur-Ari, ICLR 2020, Conjecture 1 and their tables [paper]; "
            "random-tensor-orders.md §3, §5.6 (operator tower), §8"
        ),
        predict=predict,
        simulate=simulate,
        # The rule is an upper bound: pass when the 99.7% bootstrap interval of the slope
        # reaches the predicted exponent or lies below it; the details say for every case
        # and activation whether it is tight (interval contains s_C) or below.
        criterion=SlopeMatches(level=0.997, bound="upper"),
        sizes={
            # quick: one hidden layer (the rule is proven there for smooth activations) and
            # no O_4 tower (six terms): compilation, not sampling, dominates at these sizes
            "quick": ClaimSize(seeds=256, params={**_BASE, "cases": list(CASES)[:-1],
                                                  "depth": 1, "activations": ["tanh"],
                                                  "widths": [32, 64, 128, 256]}),
            "full": ClaimSize(seeds=1000, params={**_BASE, "depth": 3,
                                                  "activations": ["linear", "relu", "tanh"],
                                                  "widths": [128, 256, 512, 1024, 2048, 4096]}),
        },
        figure=FigureSpec(xlabel="width n", ylabel="|mean|", draw=_draw),
    )
)


# ---------------------------------------------------------------------------------------------
# cluster-exponent-properties: the rule's invariants over random patterns

PROPERTIES = (
    "invariant under relabelling indices and inputs and reordering tensors",
    "2 s_C is an integer (s_C integer or half-integer)",
    "s_C <= 0 for connected patterns with m >= 3",
)


def _violations(c, connected_c, rng) -> list[int]:
    """For one random pattern (and one connected one): 1 where a property fails, else 0."""
    letters = list(rng.permutation(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")))
    inputs = [f"y{k}" for k in rng.permutation(len(c.inputs))]
    relabelled = c.relabel(dict(zip(c.index_letters, letters)), dict(zip(c.inputs, inputs)))
    order = rng.permutation(c.m)
    shuffled = theory.CorrelationFunction(tuple(relabelled.tensors[i] for i in order))
    s = theory.correlation_exponent(c)
    invariant = all(
        theory.correlation_exponent(shuffled, name, dynamical=dyn)
        == theory.correlation_exponent(c, name, dynamical=dyn)
        for name in ("ntk", "standard", "mean-field") for dyn in (False, True))
    half_integer = (2 * s).is_integer
    s_connected = theory.correlation_exponent(connected_c)
    single = len(theory.cluster_graph(connected_c).components) == 1
    return [int(not invariant), int(not half_integer), int(not (single and s_connected <= 0))]


def predict_properties(params) -> Prediction:
    k = len(PROPERTIES)
    return Prediction(np.arange(k, dtype=float), np.zeros(k), series=PROPERTIES,
                      expression="number of random patterns violating each property = 0")


def simulate_properties(params, context) -> Measurement:
    # `seeds` is the number of random patterns; numpy's generator from the base seed, so a
    # violation is reproducible from the report's seed.
    rng = np.random.default_rng(context.seed)
    counts = np.zeros(len(PROPERTIES))
    m_seen = {}
    for _ in range(context.n_seeds):
        c = theory.random_correlation_function(rng, max_tensors=params["max_tensors"],
                                               max_order=params["max_order"])
        connected = theory.random_correlation_function(rng, max_tensors=params["max_tensors"],
                                                       connected=True)
        counts += _violations(c, connected, rng)
        m_seen[c.m] = m_seen.get(c.m, 0) + 1
    k = len(PROPERTIES)
    return Measurement(np.arange(k, dtype=float), counts, np.zeros(k), context.n_seeds,
                       series=PROPERTIES,
                       extra={"details": {"patterns": context.n_seeds,
                                          "tensors_per_pattern": dict(sorted(m_seen.items()))}})


def _draw_properties(fig, prediction, measurement):
    draw_violation_counts(fig, measurement, "patterns")


properties_claim = register(
    Claim(
        name="cluster-exponent-properties",
        statement=(
            "For random correlation-function patterns the cluster-graph exponent is invariant "
            "under relabelling of indices and inputs, is an integer or half-integer, and is "
            "never above 0 for connected patterns with m >= 3."
        ),
        reference=("Dyer & Gur-Ari, ICLR 2020, Conjecture 1 [paper]; random-tensor-orders.md "
                   "§3, §7 [derived]"),
        predict=predict_properties,
        simulate=simulate_properties,
        criterion=Agreement(),  # exact: no violation allowed
        sizes={
            "quick": ClaimSize(seeds=500, params={"max_tensors": 7, "max_order": 4}),
            "full": ClaimSize(seeds=20000, params={"max_tensors": 10, "max_order": 5}),
        },
        figure=FigureSpec(xlabel="violations", ylabel="property", draw=_draw_properties),
    )
)
