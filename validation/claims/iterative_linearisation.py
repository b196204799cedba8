"""Claims on iterative linearisation (Goldwaser & Ge; `iterative-linearisation.md`):

- `k-one-is-gd`: period $K=1$ reproduces plain GD / minibatch SGD (§3, §6 item 1);
- `linear-model-any-k`: a model linear in its parameters trains identically for every $K$
  (§6 item 2);
- `k-infinity-kernel-regression`: $K=\\infty$, MSE, full-batch GD to convergence gives NTK kernel
  regression at initialisation plus the $f_0$ offset (§3, §6 item 3);
- `k-step-closed-form`: one round of $K$ GD steps equals
  $\\delta_K=J^\\top[I-(I-\\eta JJ^\\top)^K](JJ^\\top)^{-1}r$ (§4, §6 item 4), with the exact error of
  the Levenberg–Marquardt analogy $\\lambda_d=1/(\\eta K)$ drawn over $K$;
- `few-feature-updates`: about ten feature updates get within one percentage point of standard
  training (the paper's headline, §1, §5 [paper, reconstructed]);
- `feature-learning-matters`: $K=\\infty$ (no feature learning) is clearly worse (§1 [paper]).

The first four are identities, checked to round-off in float64 with deterministic
measurements (the "seeds" vary the initialisation and the minibatch order; the criterion takes
the largest error over seeds).  The last two are the paper's empirical statements, checked on
data available offline: scikit-learn's digits (full) and a synthetic degree-2 task (quick).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from limitlab import numerics, theory

from .._claim import Claim, ClaimSize, FigureSpec, Measurement, Prediction
from .._criteria import Agreement, BoundHolds, SignMatches
from .._registry import register


@functools.lru_cache(maxsize=None)
def _apply(config: numerics.MLPConfig):
    """One `apply_fn` object per network, so that compilations are shared."""
    return functools.partial(numerics.mlp_apply, config)


def _config(params, output_dim=1):
    return numerics.MLPConfig(depth=params["depth"], width=params["width"],
                              input_dim=params["input_dim"], activation=params["activation"],
                              output_dim=output_dim)


def _sphere_data(params, n, seed_offset=0):
    rng = np.random.default_rng(params["data_seed"] + seed_offset)
    z = rng.standard_normal((n, params["input_dim"]))
    return np.sqrt(params["input_dim"]) * z / np.linalg.norm(z, axis=1, keepdims=True)


def _regression_task(params):
    """Inputs on the sphere of radius sqrt(D), a fixed smooth teacher (numpy, `data_seed`)."""
    x_train = _sphere_data(params, params["n_train"])
    x_test = _sphere_data(params, params["n_test"], 1)
    w = np.random.default_rng(params["data_seed"] + 2).standard_normal(params["input_dim"])

    def teacher(x):
        return np.sin(x @ w / np.sqrt(params["input_dim"])) + 0.5 * np.cos(x[:, 0])

    return x_train, teacher(x_train), x_test, teacher(x_test)


def _exact_points(labels, values, what):
    """A deterministic measurement: per label, the largest value over seeds."""
    values = np.asarray(values, dtype=float)
    return Measurement(np.arange(len(labels), dtype=float), values.max(axis=0),
                       np.zeros(len(labels)), values.shape[0], series=tuple(labels),
                       extra={"details": {what: dict(zip(labels, values.max(axis=0).tolist()))}})


def _zero_prediction(labels, expression):
    return Prediction(np.arange(len(labels), dtype=float), np.zeros(len(labels)),
                      series=tuple(labels), expression=expression)


def _draw_errors(fig, prediction, measurement, *, floor, ylabel):
    ax = fig.subplots()
    y = np.maximum(measurement.y, 1e-18)
    ax.bar(np.arange(y.size), y, color="C0")
    ax.axhline(floor, color="C3", ls="--", lw=1, label=f"allowed {floor:g}")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(y.size), list(measurement.series), rotation=20, fontsize=7,
                  ha="right")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)


# ---------------------------------------------------------------------------------------------
# k-one-is-gd


def _modes(params):
    """(label, batch_size, optimizer) of every training mode of the claim."""
    return [(f"{'GD' if b is None else f'SGD b={b}'} {opt}", b, opt) for b, opt in params["modes"]]


def _epoch_batch(key, t, n, b):
    """The minibatch of step t under the documented "epoch" sampling, written independently:
    epoch e = t // (n // b) is the permutation drawn with fold_in(key, e)."""
    per_epoch = n // b
    perm = jax.random.permutation(jax.random.fold_in(key, t // per_epoch), n)
    return jax.lax.dynamic_slice(perm, ((t % per_epoch) * b,), (b,))


_OPTAX = {"sgd": optax.sgd, "momentum": functools.partial(optax.sgd, momentum=0.9),
          "adam": optax.adam}


def _reference_outputs(apply_fn, params0, x, y, *, steps, lr, batch_size, optimizer, key):
    """Plain optax (S)GD on the mean MSE 1/|B| sum_i 1/2 (f(x_i) - y_i)^2: f on x after every
    step (steps + 1 rows, including the start)."""
    opt = _OPTAX[optimizer](lr)
    x, y = jnp.asarray(x), jnp.asarray(y)
    n = x.shape[0]

    def loss(p, xb, yb):
        return 0.5 * jnp.mean((apply_fn(p, xb) - yb) ** 2)

    def step(carry, t):
        p, state = carry
        if batch_size is None:
            xb, yb = x, y
        else:
            idx = _epoch_batch(key, t, n, batch_size)
            xb, yb = x[idx], y[idx]
        updates, state = opt.update(jax.grad(loss)(p, xb, yb), state, p)
        p = optax.apply_updates(p, updates)
        return (p, state), apply_fn(p, x)

    _, outputs = jax.lax.scan(step, (params0, opt.init(params0)), jnp.arange(steps))
    return jnp.concatenate([apply_fn(params0, x)[None], outputs])


def predict_k_one(params) -> Prediction:
    return _zero_prediction([m for m, _, _ in _modes(params)],
                            "K = 1: the linearisation at theta_t has the true gradient at theta_t")


def simulate_k_one(params, context) -> Measurement:
    config = _config(params)
    apply_fn = _apply(config)
    x, y, xt, yt = _regression_task(params)
    columns = []
    for label, batch_size, optimizer in _modes(params):
        def one(key, batch_size=batch_size, optimizer=optimizer):
            key_init, key_batch = jax.random.split(key)
            params0 = numerics.init_mlp(config, key=key_init)
            out = numerics.iterative_linearised_training(
                apply_fn, params0, x_train=x, y_train=y, x_test=xt, y_test=yt,
                steps=params["steps"], period=1, learning_rate=params["lr"][optimizer],
                key=key_batch, batch_size=batch_size, optimizer=optimizer,
                return_outputs=True, evaluate_network=False)
            reference = _reference_outputs(apply_fn, params0, x, y, steps=params["steps"],
                                           lr=params["lr"][optimizer], batch_size=batch_size,
                                           optimizer=optimizer, key=key_batch)
            return jnp.max(jnp.abs(out["f_train"] - reference))

        columns.append(context.ensemble(one, tag=f"k1-{label.replace(' ', '-')}",
                                        config={**params, "mode": label}))
    return _exact_points([m for m, _, _ in _modes(params)], np.stack(columns, axis=1),
                         "max |f_K=1 - f_GD| over steps, points, seeds")


_K1 = {"depth": 2, "width": 32, "input_dim": 8, "activation": "tanh", "n_train": 32,
       "n_test": 8, "data_seed": 0, "steps": 100,
       "lr": {"sgd": 0.5, "momentum": 0.1, "adam": 0.01},
       "modes": [[None, "sgd"], [8, "sgd"], [8, "momentum"], [8, "adam"]]}

register(
    Claim(
        name="k-one-is-gd",
        statement=("Iterative linearisation with period K = 1 reproduces plain GD and "
                   "minibatch SGD (sgd, momentum, adam) to 1e-12 in float64 over 100 steps."),
        reference="iterative-linearisation.md §3, §6 item 1 [derived]",
        predict=predict_k_one,
        simulate=simulate_k_one,
        criterion=Agreement(abs_tol=1e-12),
        sizes={"quick": ClaimSize(seeds=4, params=_K1),
               "full": ClaimSize(seeds=32, params={**_K1, "width": 128})},
        figure=FigureSpec(
            xlabel="mode", ylabel="max |f_K=1 - f_GD|",
            draw=lambda fig, p, m: _draw_errors(fig, p, m, floor=1e-12,
                                                ylabel="max |f_{K=1} - f_GD| (outputs)")),
    )
)


# ---------------------------------------------------------------------------------------------
# linear-model-any-k


@functools.lru_cache(maxsize=None)
def _linear_model(input_dim: int, features: int, seed: int):
    """f(theta, x) = cos(x Omega / sqrt(D) + b) . theta: linear in theta, fixed features."""
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((input_dim, features))
    phase = rng.uniform(0, 2 * np.pi, features)

    def apply_fn(p, x):
        return jnp.cos(x @ omega / np.sqrt(input_dim) + phase) @ p["theta"] / np.sqrt(features)

    return apply_fn


def _periods(params):
    return [(f"K={k}" if k else "K=inf", k or None) for k in params["periods"]]


def predict_linear(params) -> Prediction:
    labels = [f"{m} {k}" for m, _, _ in _modes(params) for k, _ in _periods(params)]
    return _zero_prediction(labels, "f linear in theta: f_lin at any theta_s is f itself")


def simulate_linear(params, context) -> Measurement:
    apply_fn = _linear_model(params["input_dim"], params["features"], params["data_seed"])
    x, y, xt, yt = _regression_task(params)
    labels, columns = [], []
    for mode, batch_size, optimizer in _modes(params):
        def one(key, batch_size=batch_size, optimizer=optimizer):
            key_init, key_batch = jax.random.split(key)
            p0 = {"theta": jax.random.normal(key_init, (params["features"],))}

            def run(period):
                return numerics.iterative_linearised_training(
                    apply_fn, p0, x_train=x, y_train=y, x_test=xt, y_test=yt,
                    steps=params["steps"], period=period,
                    learning_rate=params["lr"][optimizer], key=key_batch,
                    batch_size=batch_size, optimizer=optimizer, return_outputs=True,
                    evaluate_network=False)["f_train"]

            base = run(1)
            return jnp.stack([jnp.max(jnp.abs(run(k) - base)) for _, k in _periods(params)])

        columns.append(context.ensemble(one, tag=f"linear-{mode.replace(' ', '-')}",
                                        config={**params, "mode": mode}))
        labels += [f"{mode} {k}" for k, _ in _periods(params)]
    return _exact_points(labels, np.concatenate(columns, axis=1),
                         "max |f_K - f_K=1| over steps, points, seeds")


_LINEAR = {**_K1, "features": 64, "periods": [3, 10, 0],
           "modes": [[None, "sgd"], [8, "adam"]]}

register(
    Claim(
        name="linear-model-any-k",
        statement=("For a model linear in its parameters every period K (3, 10, infinity) "
                   "gives the trajectory of K = 1, to 1e-12 in float64, under GD and SGD."),
        reference="iterative-linearisation.md §3, §6 item 2 [derived]",
        predict=predict_linear,
        simulate=simulate_linear,
        criterion=Agreement(abs_tol=1e-12),
        sizes={"quick": ClaimSize(seeds=4, params=_LINEAR),
               "full": ClaimSize(seeds=32, params={**_LINEAR, "features": 512,
                                                   "periods": [2, 3, 7, 10, 50, 0]})},
        figure=FigureSpec(
            xlabel="mode, K", ylabel="max |f_K - f_K=1|",
            draw=lambda fig, p, m: _draw_errors(fig, p, m, floor=1e-12,
                                                ylabel="max |f_K - f_{K=1}| (outputs)")),
    )
)


# ---------------------------------------------------------------------------------------------
# k-infinity-kernel-regression


def predict_kernel_regression(params) -> Prediction:
    return _zero_prediction(
        ["test points", "training points"],
        "f_lin -> f_0 + Theta_0(., X) Theta_0(X, X)^-1 (Y - f_0(X)) (GD on the summed MSE)")


def simulate_kernel_regression(params, context) -> Measurement:
    config = _config(params)
    apply_fn = _apply(config)
    x, y, xt, yt = _regression_task(params)
    steps = params["steps"]

    def one(key):
        key_init, key_batch = jax.random.split(key)
        params0 = numerics.init_mlp(config, key=key_init)
        ntk = numerics.empirical_ntk(config, params0, x)
        eigenvalues = jnp.linalg.eigvalsh(ntk)
        lr = params["lr_fraction"] / eigenvalues[-1]  # eta lambda_max = lr_fraction < 2
        out = numerics.iterative_linearised_training(
            apply_fn, params0, x_train=x, y_train=y, x_test=xt, y_test=yt, steps=steps,
            period=None, learning_rate=lr, key=key_batch, loss_normalisation="sum",
            record_every=steps, return_outputs=True, evaluate_network=False)
        f0 = numerics.mlp_apply(config, params0, jnp.concatenate([x, xt]))
        # residual of GD on the linear model after `steps`: at most the slowest mode's factor
        contraction = jnp.abs(1 - lr * eigenvalues[0]) ** steps
        return {"f_train": out["f_train"][-1], "f_test": out["f_test"][-1], "f0": f0,
                "ntk": ntk, "ntk_test": numerics.empirical_ntk(config, params0, xt, x),
                "contraction": contraction}

    runs = context.ensemble(one, tag="kernel-regression", config=params)
    n = x.shape[0]
    errors, worst_contraction = [], 0.0
    for s in range(context.n_seeds):
        f0 = np.asarray(runs["f0"][s])
        residual0 = np.max(np.abs(y - f0[:n]))
        contraction = float(runs["contraction"][s])
        worst_contraction = max(worst_contraction, contraction * residual0)
        predicted_test = theory.kernel_regression_prediction(
            np.asarray(runs["ntk_test"][s]), np.asarray(runs["ntk"][s]), f0[n:], f0[:n], y)
        errors.append([np.max(np.abs(np.asarray(runs["f_test"][s]) - predicted_test)),
                       np.max(np.abs(np.asarray(runs["f_train"][s]) - y))])
    if worst_contraction > params["converged"]:
        raise RuntimeError(
            f"GD has not converged: the slowest mode keeps {worst_contraction:.3g} of the "
            f"residual after {steps} steps (need < {params['converged']:g}); lengthen `steps`")
    measurement = _exact_points(["test points", "training points"], errors,
                                "max |f_lin - kernel regression|")
    measurement.extra["details"]["slowest-mode bound after the run"] = worst_contraction
    return measurement


_KR = {"depth": 1, "width": 512, "input_dim": 8, "activation": "tanh", "n_train": 8,
       "n_test": 16, "data_seed": 0, "steps": 2000, "lr_fraction": 1.0, "converged": 1e-9}

register(
    Claim(
        name="k-infinity-kernel-regression",
        statement=("With K = infinity, MSE and full-batch GD run to convergence, the trained "
                   "model's predictions equal NTK kernel regression at initialisation (plus the "
                   "f_0 offset) within 1e-6."),
        reference=("iterative-linearisation.md §3, §6 item 3 [derived]; Goldwaser & Ge, TMLR "
                   "submission abstract [paper]"),
        predict=predict_kernel_regression,
        simulate=simulate_kernel_regression,
        criterion=Agreement(abs_tol=1e-6),
        sizes={"quick": ClaimSize(seeds=4, params=_KR),
               "full": ClaimSize(seeds=16, params={**_KR, "depth": 2, "width": 256,
                                                   "n_train": 16, "steps": 4000})},
        figure=FigureSpec(
            xlabel="inputs", ylabel="max |f_lin - kernel regression|",
            draw=lambda fig, p, m: _draw_errors(fig, p, m, floor=1e-6,
                                                ylabel="max |f_lin - kernel regression|")),
    )
)


# ---------------------------------------------------------------------------------------------
# k-step-closed-form


def predict_closed_form(params) -> Prediction:
    labels = [f"K={k}" for k in params["periods"]]
    grid = np.unique(np.geomspace(1, params["lm_max_k"], 60).astype(int))
    return Prediction(np.arange(len(labels), dtype=float), np.zeros(len(labels)),
                      series=tuple(labels), extra={"lm_grid": grid},
                      expression="delta_K = J^T [I - (I - eta J J^T)^K] (J J^T)^+ r")


def simulate_closed_form(params, context) -> Measurement:
    config = _config(params)
    apply_fn = _apply(config)
    x, y, xt, yt = _regression_task(params)

    def one(key):
        key_init, key_batch = jax.random.split(key)
        params0 = numerics.init_mlp(config, key=key_init)
        theta0, unravel = ravel_pytree(params0)
        jacobian = jax.jacrev(lambda t: apply_fn(unravel(t), x))(theta0)
        lr = params["lr_fraction"] / jnp.linalg.eigvalsh(jacobian @ jacobian.T)[-1]
        moved = []
        for k in params["periods"]:
            out = numerics.iterative_linearised_training(
                apply_fn, params0, x_train=x, y_train=y, x_test=xt, y_test=yt, steps=k,
                period=None, learning_rate=lr, key=key_batch, loss_normalisation="sum",
                record_every=k, evaluate_network=False)
            moved.append(ravel_pytree(out["params"])[0] - theta0)
        return {"jacobian": jacobian, "residual": y - apply_fn(params0, x), "lr": lr,
                "moved": jnp.stack(moved)}

    runs = context.ensemble(one, tag="closed-form", config=params)
    grid = np.unique(np.geomspace(1, params["lm_max_k"], 60).astype(int))
    errors, lm = [], []
    for s in range(context.n_seeds):
        jacobian, residual = np.asarray(runs["jacobian"][s]), np.asarray(runs["residual"][s])
        lr = float(runs["lr"][s])
        row = []
        for j, k in enumerate(params["periods"]):
            exact = theory.k_step_update(jacobian, residual, lr, k)
            row.append(np.linalg.norm(np.asarray(runs["moved"][s][j]) - exact)
                       / np.linalg.norm(exact))
        errors.append(row)
        lm.append(theory.lm_analogy_error(jacobian, residual, lr, grid))
    measurement = _exact_points([f"K={k}" for k in params["periods"]], errors,
                                "relative error of one round against delta_K")
    measurement.extra["lm_grid"] = grid
    measurement.extra["lm_error"] = np.asarray(lm)
    return measurement


def _draw_closed_form(fig, prediction, measurement):
    ax_e, ax_lm = fig.subplots(1, 2)
    y = np.maximum(measurement.y, 1e-18)
    ax_e.bar(np.arange(y.size), y, color="C0")
    ax_e.axhline(1e-10, color="C3", ls="--", lw=1, label="allowed 1e-10")
    ax_e.set_yscale("log")
    ax_e.set_xticks(np.arange(y.size), list(measurement.series), fontsize=7)
    ax_e.set_ylabel("|delta_sim - delta_K| / |delta_K| (max over seeds)")
    ax_e.legend(fontsize=7)
    grid, lm = measurement.extra["lm_grid"], measurement.extra["lm_error"]
    for row in lm:
        ax_lm.plot(grid, row, color="C1", alpha=0.3, lw=0.8)
    ax_lm.plot(grid, np.median(lm, axis=0), color="C1", lw=2, label="median over seeds")
    ax_lm.set_xscale("log")
    ax_lm.set_xlabel("K (steps per round)")
    ax_lm.set_ylabel("|delta_K - delta_LM(1/(eta K))| / |delta_K|")
    ax_lm.set_title("exact error of the Levenberg-Marquardt analogy", fontsize=9)
    ax_lm.legend(fontsize=7)
    for ax in (ax_e, ax_lm):
        ax.grid(True, which="both", alpha=0.3)


_CF = {"depth": 1, "width": 16, "input_dim": 4, "activation": "tanh", "n_train": 8,
       "n_test": 4, "data_seed": 0, "periods": [1, 10, 100, 1000], "lr_fraction": 1.0,
       "lm_max_k": 10**5}

register(
    Claim(
        name="k-step-closed-form",
        statement=("One round of K GD steps on the linearised summed MSE equals "
                   "delta_K = J^T [I - (I - eta J J^T)^K] (J J^T)^+ r within 1e-10 (relative); "
                   "the figure shows the exact error of the Levenberg-Marquardt analogy over K."),
        reference="iterative-linearisation.md §4, §6 items 4 and 7 [derived]",
        predict=predict_closed_form,
        simulate=simulate_closed_form,
        criterion=Agreement(abs_tol=1e-10),
        sizes={"quick": ClaimSize(seeds=4, params=_CF),
               "full": ClaimSize(seeds=32, params={**_CF, "width": 64, "n_train": 16,
                                                   "periods": [1, 3, 10, 30, 100, 1000, 3000]})},
        figure=FigureSpec(xlabel="K", ylabel="relative error", draw=_draw_closed_form),
    )
)


# ---------------------------------------------------------------------------------------------
# few-feature-updates and feature-learning-matters: the period sweep


def _feature_updates(steps: int, k: int) -> int:
    return 1 if k == 0 else -(-steps // k)


def _sweep_data(params, key):
    if params["data"] == "digits":
        return numerics.digits_dataset(n_train=params["n_train"], n_test=params["n_test"],
                                       key=key), 10
    return numerics.sign_product_dataset(n_train=params["n_train"], n_test=params["n_test"],
                                         input_dim=params["input_dim"], key=key), 2


_SWEEPS: dict = {}


def _sweep(params, context):
    """Final test accuracy and training loss for every period of the sweep, per seed (seeds
    vary the initialisation and the batch order; the data split is fixed by `data_seed`).
    Shared by the two claims (kept for the process)."""
    cache_key = (repr(sorted(params.items())), context.size, context.seed, context.n_seeds)
    if cache_key in _SWEEPS:
        return _SWEEPS[cache_key]
    with numerics.float64():
        data, classes = _sweep_data(params, numerics.key_from_seed(params["data_seed"]))
    config = numerics.MLPConfig(depth=params["depth"], width=params["width"],
                                input_dim=data.x_train.shape[1], activation="relu",
                                output_dim=classes)
    apply_fn = _apply(config)
    periods = jnp.asarray(params["periods"], dtype=jnp.int32)  # 0: K = infinity

    def one(key):
        key_init, key_batch = jax.random.split(key)
        params0 = numerics.init_mlp(config, key=key_init)

        def run(period):
            out = numerics.iterative_linearised_training(
                apply_fn, params0, **data._asdict(), steps=params["steps"], period=period,
                learning_rate=params["lr"], key=key_batch, loss="cross-entropy",
                batch_size=params["batch_size"], record_every=params["steps"],
                evaluate_network=False)
            return out["test_accuracy"][-1], out["train_loss"][-1]

        accuracy, loss = jax.vmap(run)(periods)  # one compilation for every K
        return {"accuracy": accuracy, "loss": loss}

    runs = context.ensemble(one, tag="sweep", config=params, microbatch=1)
    runs = {k: np.asarray(v) for k, v in runs.items()}
    _SWEEPS.clear()
    _SWEEPS[cache_key] = runs
    return runs


def _sweep_details(params, runs):
    accuracy = runs["accuracy"]
    gap = accuracy[:, :1] - accuracy  # paired over seeds: K = 1 minus K
    updates = [_feature_updates(params["steps"], k) for k in params["periods"]]
    within = [u for u, g in zip(updates, gap.mean(axis=0)) if g <= 0.01]
    return {
        "feature_updates": updates,
        "test_accuracy_mean": accuracy.mean(axis=0).tolist(),
        "test_accuracy_stderr": (accuracy.std(axis=0, ddof=1) / np.sqrt(len(accuracy))).tolist(),
        "train_loss_mean": runs["loss"].mean(axis=0).tolist(),
        "gap_to_K1_mean": gap.mean(axis=0).tolist(),
        "fewest_updates_within_1pp": min(within) if within else None,
    }


def _checked_periods(params):
    """Indices of the sweep with at least `min_updates` feature updates (K > 1)."""
    return [i for i, k in enumerate(params["periods"])
            if k not in (0, 1) and _feature_updates(params["steps"], k) >= params["min_updates"]]


def predict_few(params) -> Prediction:
    idx = _checked_periods(params)
    x = [_feature_updates(params["steps"], params["periods"][i]) for i in idx]
    return Prediction(np.array(x, dtype=float), np.full(len(x), 0.01),
                      expression="accuracy(K=1) - accuracy(K) <= 1 percentage point once the "
                                 "run has about ten feature updates or more")


def simulate_few(params, context) -> Measurement:
    runs = _sweep(params, context)
    idx = _checked_periods(params)
    gap = runs["accuracy"][:, :1] - runs["accuracy"][:, idx]
    x = [_feature_updates(params["steps"], params["periods"][i]) for i in idx]
    return Measurement.from_samples(np.array(x, dtype=float), gap, lambda s: s.mean(axis=0),
                                    extra={"details": _sweep_details(params, runs),
                                           "runs": runs, "params": params})


def predict_matters(params) -> Prediction:
    return Prediction(np.array([0.0]), np.array([1.0]),
                      expression="accuracy(K=1) - accuracy(K=infinity) > 0")


def simulate_matters(params, context) -> Measurement:
    runs = _sweep(params, context)
    k_inf = list(params["periods"]).index(0)
    gap = runs["accuracy"][:, :1] - runs["accuracy"][:, k_inf:k_inf + 1]
    return Measurement.from_samples(np.array([0.0]), gap, lambda s: s.mean(axis=0),
                                    extra={"details": _sweep_details(params, runs),
                                           "runs": runs, "params": params})


def _draw_sweep(fig, prediction, measurement):
    ax = fig.subplots()
    runs, params = measurement.extra["runs"], measurement.extra["params"]
    updates = np.array([_feature_updates(params["steps"], k) for k in params["periods"]])
    accuracy = 100 * runs["accuracy"]
    mean = accuracy.mean(axis=0)
    err = accuracy.std(axis=0, ddof=1) / np.sqrt(len(accuracy))
    for row in accuracy:
        ax.plot(updates, row, "o", color="0.6", ms=2, alpha=0.5)
    ax.errorbar(updates, mean, yerr=err, fmt="o-", color="C0", capsize=3,
                label="mean ± s.e. over seeds (grey: seeds)")
    ax.axhspan(mean[0] - 1, mean[0] + 1, color="C2", alpha=0.15, label="K = 1 ± 1 pp")
    ax.set_xscale("log")
    ax.set_xlabel("number of feature updates (linearisation points) = ceil(T/K)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(f"{params['data']}: MLP depth {params['depth']} width {params['width']}, "
                 f"{params['steps']} SGD steps", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


_QUICK_SWEEP = {"data": "sign-product", "input_dim": 8, "n_train": 512, "n_test": 1000,
                "data_seed": 0, "depth": 2, "width": 64, "steps": 2000, "lr": 0.5,
                "batch_size": 64, "periods": [1, 10, 50, 200, 667, 0], "min_updates": 10}
_FULL_SWEEP = {"data": "digits", "input_dim": 64, "n_train": 1000, "n_test": 797,
               "data_seed": 0, "depth": 2, "width": 256, "steps": 3000, "lr": 0.5,
               "batch_size": 64, "periods": [1, 3, 10, 30, 100, 300, 1000, 0],
               "min_updates": 10}

register(
    Claim(
        name="few-feature-updates",
        statement=("About ten feature updates suffice: with K such that ceil(T/K) >= 10, the "
                   "final test accuracy is within 1 percentage point of standard training "
                   "(K = 1)."),
        reference=("Goldwaser & Ge, abstract [paper]; ~8-12 updates on CIFAR-10, "
                   "iterative-linearisation.md §5 [reconstructed]"),
        predict=predict_few,
        simulate=simulate_few,
        criterion=BoundHolds(direction="upper", z=3.0),
        sizes={"quick": ClaimSize(seeds=4, params=_QUICK_SWEEP),
               "full": ClaimSize(seeds=10, params=_FULL_SWEEP)},
        figure=FigureSpec(xlabel="feature updates", ylabel="test accuracy", draw=_draw_sweep),
    )
)

register(
    Claim(
        name="feature-learning-matters",
        statement=("Training the network linearised at initialisation (K = infinity, no "
                   "feature learning) ends with a clearly lower test accuracy than standard "
                   "training after the same number of steps."),
        reference="Goldwaser & Ge, abstract [paper]; iterative-linearisation.md §1, §5",
        predict=predict_matters,
        simulate=simulate_matters,
        criterion=SignMatches(z=3.0),
        sizes={"quick": ClaimSize(seeds=4, params=_QUICK_SWEEP),
               "full": ClaimSize(seeds=10, params=_FULL_SWEEP)},
        figure=FigureSpec(xlabel="feature updates", ylabel="test accuracy", draw=_draw_sweep),
    )
)
