"""`limitlab linearise`: how many feature updates does training need?  A sweep of iterative
linearisation (Goldwaser & Ge) over the period K of the feature updates.

    limitlab linearise --data digits|teacher [--model mlp:width=512,depth=2,act=relu,param=ntk]
                       [--K 1,10,100,1000,inf] [--steps 3000] [--seeds 3]
                       [--optimizer sgd|momentum|adam] [--lr 0.5] [--batch 64|full]
                       [--train-points N] [--seed S] [--plot FILE] [--json] [--no-progress]

K = 1 is plain SGD (a feature update every step), K = inf trains the network linearised at
initialisation (no feature update after the first).  Each seed draws one initialisation and
one minibatch order, shared by every K (paired comparison), and all K of a seed run in one
`vmap`-ed call of one compiled program.  A K below 1, a number of steps or seeds below 1, an
unknown data set, model key or optimiser, or the digits without scikit-learn is one line on
stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys

from ._cli_orders import _ACTIVATIONS

__all__ = ["add_parsers", "parse_model", "parse_periods", "run_linearise"]

_DATASETS = ("digits", "teacher")
_OPTIMIZERS = ("sgd", "momentum", "adam")
_PARAMETRIZATIONS = ("ntk", "standard", "mean-field")
_MODEL_KEYS = ("width", "depth", "act", "param")
_MODEL_DEFAULTS = {"width": 512, "depth": 2, "act": "relu", "param": "ntk"}
_DIGITS_IMAGES = 1797  # scikit-learn's bundled digits
_DIGITS_TRAIN = 1000
_TEACHER_TRAIN, _TEACHER_TEST, _TEACHER_DIM = 512, 1000, 8
_WITHIN = 0.01  # "within 1 percentage point" of the K = 1 test accuracy
_INF = math.inf


def parse_periods(text: str) -> list[float]:
    """`"1,10,inf"` -> `[1, 10, inf]`: distinct integers K >= 1 or `inf`, sorted ascending."""
    values: list[float] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part.lower() in ("inf", "infinity"):
            value = _INF
        else:
            try:
                value = int(part)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"every K must be an integer >= 1 or 'inf', got {part!r}") from None
            if not 1 <= value < 2**31:  # an int32 on the device
                raise argparse.ArgumentTypeError(
                    f"every K must be an integer >= 1 (and < 2**31) or 'inf', got {value}")
        if value in values:
            raise argparse.ArgumentTypeError(f"K = {part} is listed twice in {text!r}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("--K must list at least one period, e.g. 1,10,inf")
    return sorted(values)


def parse_model(text: str) -> dict[str, int | str]:
    """`"mlp:width=512,depth=2,act=relu,param=ntk"` -> a dict of those four keys (defaults
    width 512, depth 2, act relu, param ntk).  A whitelist grammar: nothing is evaluated."""
    allowed = ", ".join(_MODEL_KEYS)
    family, _, rest = text.partition(":")
    if family.strip() != "mlp":
        raise argparse.ArgumentTypeError(
            f"model must be mlp:KEY=VALUE,... with keys {allowed}, got {text!r}")
    model = dict(_MODEL_DEFAULTS)
    seen = set()
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not value:
            raise argparse.ArgumentTypeError(
                f"model: expected KEY=VALUE with a key in {allowed}, got {item!r}")
        if key not in _MODEL_KEYS:
            raise argparse.ArgumentTypeError(
                f"model: unknown key {key!r}; allowed keys: {allowed}")
        if key in seen:
            raise argparse.ArgumentTypeError(f"model: key {key!r} given twice")
        seen.add(key)
        if key in ("width", "depth"):
            try:
                number = int(value)
            except ValueError:
                number = 0
            if number < 1:
                raise argparse.ArgumentTypeError(
                    f"model: {key} must be an integer >= 1, got {value!r}")
            model[key] = number
        else:
            choices = _ACTIVATIONS if key == "act" else _PARAMETRIZATIONS
            if value not in choices:
                raise argparse.ArgumentTypeError(
                    f"model: {key} must be one of {', '.join(choices)}, got {value!r}")
            model[key] = value
    return model


def _batch(text: str) -> int | None:
    if text == "full":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--batch must be an integer >= 1 or 'full', got {text!r}")
    return value


def _positive_float(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a finite number > 0, got {text!r}")
        return value

    return parse


def add_parsers(sub, int_at_least, seed_type) -> None:
    """Add the `linearise` sub-command."""
    p = sub.add_parser(
        "linearise",
        help="iterative linearisation: test accuracy against the number of feature updates",
        description="Train a network with feature updates every K steps (iterative "
        "linearisation, Goldwaser & Ge): between updates the network's linearisation at the "
        "last update point is trained.  K=1 is plain SGD, K=inf the linearisation at "
        "initialisation.  Prints, per K, the number of feature updates ceil(steps/K) and the "
        "final test accuracy (mean and standard error over seeds), how many feature updates "
        "get within 1 percentage point of K=1, and the K=inf minus K=1 accuracy gap.",
    )
    p.add_argument("--data", choices=_DATASETS, required=True,
                   help="digits (scikit-learn's 8x8 digits, 10 classes; needs "
                   "'limitlab[data]') or teacher (x ~ N(0, I_8), y = 1[x_1 x_2 > 0])")
    p.add_argument("--model", type=parse_model, default=dict(_MODEL_DEFAULTS),
                   help="mlp:width=W,depth=L,act=A,param=P (default "
                   "mlp:width=512,depth=2,act=relu,param=ntk; act one of "
                   f"{', '.join(_ACTIVATIONS)}; param one of {', '.join(_PARAMETRIZATIONS)})")
    p.add_argument("--K", type=parse_periods, default=parse_periods("1,10,100,1000,inf"),
                   dest="periods", metavar="K,...",
                   help="periods of the feature updates: integers >= 1 and inf "
                   "(default 1,10,100,1000,inf; K=1 is always run, as the reference)")
    p.add_argument("--steps", type=int_at_least(1, "--steps"), default=3000,
                   help="optimiser steps (default 3000)")
    p.add_argument("--seeds", type=int_at_least(1, "--seeds"), default=3,
                   help="initialisations (default 3)")
    p.add_argument("--optimizer", choices=_OPTIMIZERS, default="sgd",
                   help="sgd (default), momentum (0.9) or adam")
    p.add_argument("--lr", type=_positive_float("--lr"), default=0.5,
                   help="learning rate, as given to the optimiser (default 0.5)")
    p.add_argument("--batch", type=_batch, default=64,
                   help="minibatch size or 'full' (default 64)")
    p.add_argument("--train-points", type=int_at_least(1, "--train-points"), default=None,
                   metavar="N", help=f"training set size (default {_DIGITS_TRAIN} for digits, "
                   f"the other images the test set; {_TEACHER_TRAIN} for teacher, "
                   f"with {_TEACHER_TEST} test points)")
    p.add_argument("--seed", type=seed_type, default=0, help="base integer seed (default 0)")
    p.add_argument("--plot", default=None, metavar="FILE", help="write a figure (PNG, PDF, SVG)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-progress", action="store_true", help="never show progress bars")


# ------------------------------------------------------------------------------------------
# the simulation


def _dataset(args, key):
    from limitlab import numerics

    if args.data == "digits":
        n_train = _DIGITS_TRAIN if args.train_points is None else args.train_points
        if n_train >= _DIGITS_IMAGES:
            raise ValueError(f"--train-points must be at most {_DIGITS_IMAGES - 1} for digits "
                             f"({_DIGITS_IMAGES} images, at least one for testing), got {n_train}")
        try:
            data = numerics.digits_dataset(n_train=n_train, n_test=_DIGITS_IMAGES - n_train,
                                           key=key)
        except ImportError as err:  # one line naming the extra, through cli.main
            raise ValueError(str(err)) from None
        return data, 10, "digits (8x8, 10 classes)"
    n_train = _TEACHER_TRAIN if args.train_points is None else args.train_points
    data = numerics.sign_product_dataset(n_train=n_train, n_test=_TEACHER_TEST,
                                         input_dim=_TEACHER_DIM, key=key)
    return data, 2, "teacher (x ~ N(0, I_8), y = 1[x_1 x_2 > 0])"


@functools.lru_cache(maxsize=8)
def _apply_fn(config):
    # One object per network: the compiled sweep is cached on the static apply_fn.
    from limitlab import numerics

    return functools.partial(numerics.mlp_apply, config)


@functools.cache
def _compiled_sweep():
    """The jit-compiled sweep over periods (built on first use: JAX is imported lazily)."""
    import jax

    from limitlab import numerics

    @functools.partial(jax.jit, static_argnames=("apply_fn", "steps", "batch_size", "optimizer"))
    def linearised_sweep(params, data, key, learning_rate, periods, *, apply_fn, steps,
                         batch_size, optimizer):
        # periods: int32 array, 0 for K = inf; vmap traces the period, so every K (and every
        # seed: params and key are arguments) runs the same compiled program.
        def one(period):
            out = numerics.iterative_linearised_training(
                apply_fn, params, **data._asdict(), steps=steps, period=period,
                learning_rate=learning_rate, key=key, loss="cross-entropy",
                batch_size=batch_size, optimizer=optimizer, record_every=steps,
                evaluate_network=False)
            return {name: out[name][-1] for name in
                    ("test_accuracy", "train_loss", "train_accuracy", "feature_updates")}

        return jax.vmap(one)(periods)

    return linearised_sweep


def _simulate(args, periods):
    """Per seed and K: final test accuracy, train loss and accuracy, feature updates."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from tqdm.auto import tqdm

    from limitlab import numerics

    with numerics.float64():
        base = numerics.key_from_seed(args.seed)
        data, classes, description = _dataset(args, base)
        n_train = data.x_train.shape[0]
        if args.batch is not None and args.batch > n_train:
            raise ValueError(f"--batch must be at most the training set size {n_train}, "
                             f"got {args.batch}")
        model = args.model
        config = numerics.MLPConfig(
            depth=model["depth"], width=model["width"], input_dim=data.x_train.shape[1],
            activation=model["act"], parametrization=model["param"], output_dim=classes)
        apply_fn = _apply_fn(config)
        sweep = _compiled_sweep()
        codes = jnp.asarray([0 if k == _INF else k for k in periods], dtype=jnp.int32)
        learning_rate = jnp.asarray(args.lr, dtype=jnp.float64)
        rows = []
        bar = tqdm(range(args.seeds), desc="linearise", unit="seed", leave=False,
                   disable=True if args.no_progress else None, file=sys.stderr)
        try:
            for i in bar:
                # seed i: fold_in(key(S), i), split into initialisation and minibatch order;
                # the data set is drawn from key(S) itself, the same for every seed.
                init_key, batch_key = jax.random.split(numerics.seed_key(args.seed, i))
                params = numerics.init_mlp(config, key=init_key)
                out = jax.device_get(sweep(
                    params, data, batch_key, learning_rate, codes, apply_fn=apply_fn,
                    steps=args.steps, batch_size=args.batch, optimizer=args.optimizer))
                for name in ("train_loss", "test_accuracy"):
                    bad = ~np.isfinite(out[name])
                    if bad.any():
                        k = periods[int(np.argmax(bad))]
                        raise ValueError(
                            f"training diverged (non-finite {name.replace('_', ' ')}) for "
                            f"K={_label(k)} at seed index {i}; lower --lr (now {args.lr:g})")
                rows.append(out)
        finally:
            bar.close()
    stacked = {name: np.stack([r[name] for r in rows]) for name in rows[0]}
    return stacked, data, description, config


def _label(k) -> str:
    return "inf" if k == _INF else str(int(k))


def _mean_stderr(values):
    import numpy as np

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    stderr = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else None
    return mean, stderr


def run_linearise(args) -> int:
    periods = list(args.periods)
    added_reference = 1 not in periods
    if added_reference:
        periods = sorted(periods + [1])
    out, data, description, config = _simulate(args, periods)
    accuracy = out["test_accuracy"]  # (seeds, K)
    ref = periods.index(1)
    rows = []
    for j, k in enumerate(periods):
        mean, stderr = _mean_stderr(accuracy[:, j])
        loss_mean, loss_stderr = _mean_stderr(out["train_loss"][:, j])
        rows.append({
            "K": "inf" if k == _INF else int(k),
            "feature_updates": int(out["feature_updates"][0, j]),
            "test_accuracy": {"mean": mean, "stderr": stderr,
                              "seeds": accuracy[:, j].tolist()},
            "train_loss": {"mean": loss_mean, "stderr": loss_stderr},
            "train_accuracy": {"mean": float(out["train_accuracy"][:, j].mean())},
        })
    reference = rows[ref]["test_accuracy"]["mean"]
    # rounding guard: accuracies are multiples of 1/n_test, their means of 1/(n_test seeds)
    close = [r for r, k in zip(rows, periods, strict=True)
             if k != 1 and r["test_accuracy"]["mean"] >= reference - _WITHIN - 1e-12]
    best = min(close, key=lambda r: (r["feature_updates"], -periods[rows.index(r)]),
               default=None)
    gap = None
    if _INF in periods:
        difference = accuracy[:, periods.index(_INF)] - accuracy[:, ref]
        mean, stderr = _mean_stderr(difference)
        gap = {"mean": mean, "stderr": stderr, "seeds": args.seeds}
    result = {
        "data": args.data, "n_train": int(data.x_train.shape[0]),
        "n_test": int(data.x_test.shape[0]),
        "model": {"family": "mlp", "width": config.width, "depth": config.depth,
                  "activation": config.activation, "parametrization": config.parametrization,
                  "input_dim": config.input_dim, "output_dim": config.output_dim},
        "loss": "cross-entropy", "optimizer": args.optimizer, "learning_rate": args.lr,
        "batch_size": args.batch, "steps": args.steps, "seeds": args.seeds, "seed": args.seed,
        "reference_added": added_reference,
        "rows": rows,
        "within_1pp_of_K1": None if best is None else {
            "feature_updates": best["feature_updates"], "K": best["K"]},
        "inf_minus_1": gap,
    }
    if args.plot:
        _plot(args, rows, accuracy, description)
        result["plot"] = args.plot
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    _print_table(result, description)
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def _pp(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _print_table(result, description: str) -> None:
    model = result["model"]
    batch = "full batch" if result["batch_size"] is None else f"batch {result['batch_size']}"
    print(f"{description}: {result['n_train']} train / {result['n_test']} test")
    print(f"mlp width {model['width']}, depth {model['depth']}, {model['activation']}, "
          f"{model['parametrization']}; {result['optimizer']} lr {result['learning_rate']:g}, "
          f"{batch}, {result['steps']} steps, cross-entropy; {result['seeds']} seed(s) from "
          f"seed {result['seed']}")
    if result["reference_added"]:
        print("(K=1, the reference, added to the sweep)")
    print(f"{'K':>6}  {'feature updates':>15}  {'test accuracy % (± s.e.)':>24}  "
          f"{'train loss':>10}")
    for row in result["rows"]:
        acc = row["test_accuracy"]
        cell = f"{_pp(acc['mean'])} ± {_pp(acc['stderr'])}"
        print(f"{row['K']!s:>6}  {row['feature_updates']:>15d}  {cell:>24}  "
              f"{row['train_loss']['mean']:>10.4g}")
    best = result["within_1pp_of_K1"]
    verdict = "none in the sweep" if best is None else f"{best['feature_updates']} (K={best['K']})"
    print(f"feature updates needed to get within 1 percentage point of K=1: {verdict}")
    gap = result["inf_minus_1"]
    if gap is not None:
        stderr = "" if gap["stderr"] is None else f" ± {_pp(gap['stderr'])}"
        print(f"K=inf minus K=1 test accuracy: {_pp(gap['mean'])}{stderr} percentage points "
              f"(paired over {gap['seeds']} seed(s))")


def _plot(args, rows, accuracy, description: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    updates = np.asarray([r["feature_updates"] for r in rows], dtype=float)
    mean = np.asarray([r["test_accuracy"]["mean"] for r in rows]) * 100
    stderr = np.asarray([r["test_accuracy"]["stderr"] or 0.0 for r in rows]) * 100
    reference = next(r for r in rows if r["K"] == 1)["test_accuracy"]["mean"] * 100
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    try:
        ax.axhspan(reference - 100 * _WITHIN, reference + 100 * _WITHIN, color="C2", alpha=0.15,
                   label="K=1 ± 1 percentage point")
        ax.axhline(reference, color="C2", lw=1, ls="--")
        seeds = accuracy.shape[0]
        ax.plot(np.broadcast_to(updates, accuracy.shape).ravel(), 100 * accuracy.ravel(), ".",
                color="0.5", alpha=0.35, ms=5, label=f"individual seeds ({seeds})")
        ax.errorbar(updates, mean, yerr=stderr, fmt="o", color="C0", capsize=3,
                    label="mean ± 1 s.e.")
        for row, x, y in zip(rows, updates, mean, strict=True):
            ax.annotate(f"K={row['K']}", (x, y), textcoords="offset points", xytext=(4, 6),
                        fontsize=7)
        ax.set_xscale("log")
        if updates.max() == updates.min():
            ax.set_xlim(updates.min() / 3, updates.max() * 3)
        else:
            ax.margins(x=0.12)  # room for the K labels
        ax.set_xlabel("feature updates ceil(steps / K)")
        ax.set_ylabel("final test accuracy (%)")
        ax.set_title(f"{description}; mlp width {args.model['width']}, depth "
                     f"{args.model['depth']}, {args.steps} steps", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot)
    finally:
        plt.close(fig)
