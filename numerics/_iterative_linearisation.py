"""Iterative linearisation: train a model's linearisation, re-linearise every $K$ steps.

Goldwaser & Ge, *Understanding Sparse Feature Updates in Deep Networks using Iterative
Linearisation*, arXiv:2211.12345 (iterative-linearisation.md).  For a model
$f_\\theta(x)\\in\\mathbb R^C$ (any JAX function of a parameter pytree) the linearisation
around $\\theta_s$ is

$$f^{\\rm lin}_{\\theta_s}(x;\\theta)=f_{\\theta_s}(x)+J_{\\theta_s}(x)\\,(\\theta-\\theta_s),
\\qquad J_{\\theta_s}(x)=\\partial_\\theta f_{\\theta_s}(x),$$

and iterative linearisation with period $K$ takes, with $s(t)=K\\lfloor t/K\\rfloor$,

$$\\theta_{t+1}=\\theta_t-\\eta\\,\\nabla_\\theta\\Big[\\nu_B\\sum_{i\\in B_t}
\\ell\\big(f^{\\rm lin}_{\\theta_{s(t)}}(x_i;\\theta),y_i\\big)\\Big]_{\\theta=\\theta_t}
=\\theta_t-\\eta\\,\\nu_B\\sum_{i\\in B_t}J_{\\theta_{s(t)}}(x_i)^\\top
\\nabla_f\\ell\\big(f^{\\rm lin}_{\\theta_{s(t)}}(x_i;\\theta_t),y_i\\big)$$

(§2 [derived; consistent with the paper's description]) for `"sgd"`, and the same gradient fed
to any optax optimiser otherwise.  A *feature update* is the reset
$\\theta_s\\leftarrow\\theta_t$ at the steps $t$ with $t\\bmod K=0$; in between, the features
$\\nabla_\\theta f_{\\theta_s}$ and the kernel $\\Theta_s=J_{\\theta_s}J_{\\theta_s}^\\top$ are
frozen.  $K=1$ is plain (S)GD and $K=\\infty$ (`period=None`) trains the model linearised at
initialisation, the finite-width lazy/NTK regime (§3 [derived]; the paper's framing [paper]).

Losses ($\\nu_B=1/|B|$ for `"mean"`, the paper's $\\mathcal L=\\frac1n\\sum_i\\ell_i$; $\\nu_B=1$
for `"sum"`):

- `"mse"`: $\\ell(f,y)=\\frac12\\lVert f-y\\rVert^2$ (summed over the $C$ outputs).
- `"cross-entropy"`: $\\ell(f,y)=-\\log\\operatorname{softmax}(f)_y$ with an integer label
  $y\\in\\{0,\\dots,C-1\\}$, $C\\ge2$ outputs.

For MSE, full batch and plain GD one round is
$\\theta_{s+K}-\\theta_s=J^\\top\\big[I-(I-\\eta\\nu JJ^\\top)^K\\big](JJ^\\top)^{-1}r$,
$r=Y-f_{\\theta_s}(X)$, and $K=\\infty$ converges to kernel regression with the empirical NTK at
$\\theta_0$ plus the $f_0$ offset (§3, §4 [derived, checked in the tests]).

Implementation: each inner step evaluates `jax.linearize` of $\\theta\\mapsto f_\\theta(X_B)$
at $\\theta_s$ (one forward pass and the linear tangent map, never the Jacobian), applies it to
$\\theta_t-\\theta_s$, and pulls the loss gradient back with its `jax.linear_transpose`: about
forward + JVP + VJP per step.  $\\theta_s$ lives in the loop carry, the reset is a select on
$t\\bmod K=0$, and the whole run is one jit-compiled `lax.scan` over the records with a
`fori_loop` block of steps before each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ._custom_types import Array, Float, Int, Key, PyTree
from ._linearisation import (
    _batch_indices,
    _check_array,
    _check_int,
    _check_learning_rate,
    _concrete,
    _make_optimizer,
    _record_steps,
    _tree_norm,
)
from ._precision import check_finite

__all__ = ["iterative_linearised_training", "model_ntk"]

_LOSSES = ("mse", "cross-entropy")
_NORMALISATIONS = ("mean", "sum")
_SAMPLINGS = ("epoch", "replacement")
_OPTIMIZERS = ("sgd", "momentum", "adam")
_OUTPUT_KEYS = ("f_train", "f_test", "network_f_train", "network_f_test")


# --------------------------------------------------------------------------------------------
# small pieces


def _tree_sub(a, b):
    return jax.tree_util.tree_map(jnp.subtract, a, b)


def _tree_select(predicate, on_true, on_false):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(predicate, a, b), on_true, on_false)


def _optimizer(optimizer, learning_rate) -> optax.GradientTransformation:
    # "sgd" and callables go through the shared helper; the two extra names are added here.
    if isinstance(optimizer, str) and optimizer == "momentum":
        return optax.sgd(learning_rate, momentum=0.9)
    if isinstance(optimizer, str) and optimizer == "adam":
        return optax.adam(learning_rate)
    return _make_optimizer(optimizer, learning_rate)


def _example_losses(loss: str, f, y):
    """Per-example losses $\\ell(f_i,y_i)$, shape `(batch,)`."""
    if loss == "mse":
        d2 = (f - y) ** 2
        return 0.5 * (d2 if d2.ndim == 1 else jnp.sum(d2, axis=-1))
    return jax.nn.logsumexp(f, axis=-1) - jnp.take_along_axis(f, y[:, None], axis=-1)[:, 0]


def _accuracy(loss: str, f, y, dtype):
    if f.ndim == 1:  # scalar output (MSE only): sign agreement with +-1 labels
        hits = f * y > 0
    else:
        target = y if loss == "cross-entropy" else jnp.argmax(y, axis=-1)
        hits = jnp.argmax(f, axis=-1) == target
    return jnp.mean(hits.astype(dtype))


def _targets(loss: str, y, num_outputs: int, dtype):
    """Labels as an `(N, C')` real matrix for $YY^\\top$ (one-hot for cross-entropy)."""
    if loss == "cross-entropy":
        return jax.nn.one_hot(y, num_outputs, dtype=dtype)
    return y.astype(dtype).reshape(y.shape[0], -1)


# --------------------------------------------------------------------------------------------
# the empirical NTK of a general model


def _per_example_jacobian(apply_fn, params, x):
    """Leaves of $\\partial_\\theta f(x_i)$ reshaped to `(N, C, p_leaf)` ($C=1$ for scalars)."""
    out_shape = jax.eval_shape(apply_fn, params, x[:1]).shape
    num_outputs = 1 if len(out_shape) == 1 else out_shape[1]

    def one(xi):
        return jax.jacrev(lambda p: apply_fn(p, xi[None])[0])(params)

    jac = jax.vmap(one)(x)
    return [leaf.reshape(x.shape[0], num_outputs, -1) for leaf in jax.tree_util.tree_leaves(jac)]


@functools.partial(jax.jit, static_argnames=("apply_fn", "output_trace"))
def _model_ntk(apply_fn, params, x1, x2, *, output_trace: bool):
    j1 = _per_example_jacobian(apply_fn, params, x1)
    j2 = j1 if x2 is None else _per_example_jacobian(apply_fn, params, x2)
    spec = "icp,jcp->ij" if output_trace else "icp,jdp->ijcd"
    return sum(jnp.einsum(spec, a, b) for a, b in zip(j1, j2))


def _check_apply_fn(apply_fn) -> None:
    if not callable(apply_fn):
        raise TypeError(
            f"apply_fn must be a callable apply_fn(params, x) -> outputs, got "
            f"{type(apply_fn).__name__}"
        )


def _check_params(params):
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must be a pytree with at least one array leaf, got no leaves")
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(
                f"params{jax.tree_util.keystr(path)} must be a floating array (every leaf is "
                f"trained), got dtype {dtype}"
            )
        concrete = _concrete(leaf)
        if concrete is not None and not np.all(np.isfinite(concrete)):
            raise ValueError(f"params{jax.tree_util.keystr(path)} must be finite, got non-finite "
                             "entries")
    # Floating leaves in JAX's default float: float64 inside float64().
    dtype = jnp.result_type(float)
    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf, dtype=dtype), params)


def _check_inputs(name: str, value, trailing: tuple[int, ...] | None = None):
    """Inputs `(N, ...)`, $N\\ge1$; `trailing` fixes the per-example shape."""
    if trailing is None:
        if np.ndim(value) < 1:
            raise ValueError(
                f"{name} must be an array of shape (N, ...) with N >= 1 examples, got "
                f"{type(value).__name__} of shape {np.shape(value)}"
            )
        trailing = tuple(np.shape(value)[1:])
    names = ("N" if name != "x_test" else "M",) + trailing
    array = _check_array(name, value, names, (-1,) + trailing)
    if jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    return array


def _output_shape(apply_fn, params, x, name: str) -> tuple[int, ...]:
    try:
        out = jax.eval_shape(apply_fn, params, x)
    except Exception as error:  # noqa: BLE001 - any failure of the model on these inputs
        raise ValueError(
            f"apply_fn(params, {name}) failed for {name} of shape {x.shape}: "
            f"{type(error).__name__}: {error}"
        ) from error
    shape = getattr(out, "shape", None)
    if shape is None or len(shape) not in (1, 2) or shape[0] != x.shape[0] or 0 in shape:
        raise ValueError(
            f"apply_fn(params, {name}) must return an array of shape ({x.shape[0]},) or "
            f"({x.shape[0]}, C), got {shape if shape is not None else type(out).__name__}"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"apply_fn(params, {name}) must return floats, got dtype {out.dtype}")
    return tuple(shape)


def model_ntk(
    apply_fn: Callable[[PyTree, Array], Array],
    params: PyTree,
    x1: Array,
    x2: Array | None = None,
    *,
    output_trace: bool = True,
) -> Float[Array, "N1 N2"] | Float[Array, "N1 N2 C C"]:
    """Empirical NTK of any model, $\\Theta(x,x')=\\sum_p\\partial_pf(x)\\,\\partial_pf(x')$.

    For $C$ outputs, `output_trace=True` (default) returns the trace over outputs
    $\\sum_c\\sum_p\\partial_pf_c(x)\\partial_pf_c(x')$, an `(N1, N2)` matrix (for scalar
    outputs: the NTK itself); `output_trace=False` returns the full
    $\\Theta_{cc'}(x,x')=\\sum_p\\partial_pf_c(x)\\partial_pf_{c'}(x')$ as `(N1, N2, C, C)`
    (`(N1, N2, 1, 1)` for scalar outputs).  Computed from per-example Jacobians
    (`jax.vmap` of `jax.jacrev` of `apply_fn(params, x[None])[0]`), so memory is
    $O((N_1+N_2)\\,C\\,P)$ and `apply_fn` must treat examples independently (no batch
    statistics).  Meant for the small input sets of diagnostics; for the MLPs of
    [`MLPConfig`][limitlab.numerics.MLPConfig] the layer-structured
    [`empirical_ntk`][limitlab.numerics.empirical_ntk] is much cheaper.  Jit-compiled with
    `apply_fn` static.

    **Arguments:**

    - `apply_fn`: the model, `apply_fn(params, x)` with `x` of shape `(N, ...)` returning
      `(N,)` or `(N, C)`.
    - `params`: its parameter pytree (floating leaves).
    - `x1`: inputs `(N1, ...)`.
    - `x2`: second inputs `(N2, ...)` with the same per-example shape; default `x1`.
    - `output_trace`: trace over the outputs (default) or the full `(N1, N2, C, C)` kernel.

    **Returns:** `(N1, N2)` or `(N1, N2, C, C)`.

    **Raises:** `TypeError` if `apply_fn` is not callable; `ValueError` naming the argument for
    inputs or parameters of the wrong shape or dtype, or outputs not `(N,)`/`(N, C)`.
    """
    _check_apply_fn(apply_fn)
    if not isinstance(output_trace, bool):
        raise ValueError(f"output_trace must be True or False, got {output_trace!r}")
    params = _check_params(params)
    x1 = _check_inputs("x1", x1)
    _output_shape(apply_fn, params, x1, "x1")
    if x2 is not None:
        x2 = _check_inputs("x2", x2, tuple(x1.shape[1:]))
        if x2.dtype != x1.dtype:
            dtype = jnp.result_type(x1, x2)
            x1, x2 = x1.astype(dtype), x2.astype(dtype)
    return _model_ntk(apply_fn, params, x1, x2, output_trace=output_trace)


# --------------------------------------------------------------------------------------------
# the simulation


def _ntk_records(n_records: int, ntk_every: int | None) -> np.ndarray:
    """Indices of the records that carry NTK statistics: 0, k, 2k, ... and the last."""
    if ntk_every is None:
        return np.zeros(0, dtype=int)
    rows = set(range(0, n_records, ntk_every)) | {n_records - 1}
    return np.asarray(sorted(rows))


@functools.partial(
    jax.jit,
    static_argnames=(
        "apply_fn",
        "steps",
        "batch_size",
        "record_every",
        "ntk_every",
        "ntk_points",
        "optimizer",
        "loss",
        "loss_normalisation",
        "sampling",
        "evaluate_network",
        "reset_optimizer_state",
    ),
)
def _train(
    params0,
    x_train,
    y_train,
    x_test,
    y_test,
    learning_rate,
    key,
    period,
    *,
    apply_fn,
    steps: int,
    batch_size: int | None,
    record_every: int,
    ntk_every: int | None,
    ntk_points: int,
    optimizer,
    loss: str,
    loss_normalisation: str,
    sampling: str,
    evaluate_network: bool,
    reset_optimizer_state: bool,
):
    dtype = jnp.result_type(float)
    n_train, n_test = x_train.shape[0], x_test.shape[0]
    mean = loss_normalisation == "mean"
    opt = _optimizer(optimizer, learning_rate)
    b = n_train if batch_size is None else batch_size

    def total_loss(f, y, n):
        # L = nu sum_i l_i with nu = 1/n ("mean") or 1 ("sum").
        summed = jnp.sum(_example_losses(loss, f, y))
        return summed / n if mean else summed

    def batch(t):
        if batch_size is None:
            return x_train, y_train
        idx = _batch_indices(key, t, n_train, batch_size, sampling)
        return x_train[idx], y_train[idx]

    def step_fn(_, carry):
        params, theta_s, state, t, points = carry
        # A step at t with t % K == 0 is the first to use the linearisation point theta_t.
        # period: traced int32, 0 for K = infinity (one compilation for every K).
        k = jnp.maximum(period, 1)
        new_point = jnp.where(period > 0, t % k == 0, t == 0)
        points = points + new_point.astype(points.dtype)
        xb, yb = batch(t)
        f_s, jvp = jax.linearize(lambda p: apply_fn(p, xb), theta_s)
        f_lin = f_s + jvp(_tree_sub(params, theta_s))
        g = jax.grad(total_loss)(f_lin, yb, b)
        (grad,) = jax.linear_transpose(jvp, theta_s)(g)
        updates, state = opt.update(grad, state, params)
        params = optax.apply_updates(params, updates)
        t = t + 1
        # The feature update for step t is done at the end of step t - 1, so that the
        # record of step t (t % K == 0) already shows the new linearisation point.
        reset = (period > 0) & (t % k == 0)
        theta_s = _tree_select(reset, params, theta_s)
        if reset_optimizer_state:
            state = _tree_select(reset, opt.init(params), state)
        return params, theta_s, state, t, points

    x_all = jnp.concatenate([x_train, x_test])

    def metrics(f_all, prefix):
        f_train, f_test = f_all[:n_train], f_all[n_train:]
        return {
            f"{prefix}train_loss": total_loss(f_train, y_train, n_train),
            f"{prefix}test_loss": total_loss(f_test, y_test, n_test),
            f"{prefix}train_accuracy": _accuracy(loss, f_train, y_train, dtype),
            f"{prefix}test_accuracy": _accuracy(loss, f_test, y_test, dtype),
            f"{prefix}f_train": f_train,
            f"{prefix}f_test": f_test,
        }

    if ntk_every is not None:
        x_ntk = x_train[:ntk_points]
        out_shape = jax.eval_shape(apply_fn, params0, x_ntk).shape
        num_outputs = 1 if len(out_shape) == 1 else out_shape[1]
        y_ntk = _targets(loss, y_train[:ntk_points], num_outputs, dtype)
        yy = y_ntk @ y_ntk.T
        yy_norm = jnp.linalg.norm(yy)
        ntk0 = _model_ntk(apply_fn, params0, x_ntk, None, output_trace=True)
        ntk0_norm = jnp.linalg.norm(ntk0)

        def ntk_stats(theta_s):
            ntk = _model_ntk(apply_fn, theta_s, x_ntk, None, output_trace=True)
            drift = jnp.linalg.norm(ntk - ntk0) / ntk0_norm
            alignment = jnp.sum(ntk * yy) / (jnp.linalg.norm(ntk) * yy_norm)
            return jnp.stack([drift, alignment])

        def no_ntk_stats(theta_s):
            return jnp.zeros(2, dtype)

    def record(carry, with_ntk):
        params, theta_s, _, _, points = carry
        moved = _tree_sub(params, theta_s)
        f_s_all, jvp_all = jax.linearize(lambda p: apply_fn(p, x_all), theta_s)
        out = metrics(f_s_all + jvp_all(moved), "")
        if evaluate_network:
            out.update(metrics(apply_fn(params, x_all), "network_"))
        out["feature_updates"] = points
        out["distance_to_linearisation_point"] = _tree_norm(moved)
        out["distance_from_init"] = _tree_norm(_tree_sub(params, params0))
        if ntk_every is not None:
            # The predicate comes from the scan's (unbatched) inputs, so the cond stays a cond
            # under vmap over keys and the kernel is only computed on the flagged records.
            out["ntk_stats"] = lax.cond(with_ntk, ntk_stats, no_ntk_stats, theta_s)
        return out

    def block(carry, xs):
        length, with_ntk = xs
        carry = lax.fori_loop(0, length, step_fn, carry)
        return carry, record(carry, with_ntk)

    recorded = _record_steps(steps, record_every)
    ntk_rows = _ntk_records(len(recorded), ntk_every)
    flags = np.zeros(len(recorded), dtype=bool)
    flags[ntk_rows] = True
    lengths = jnp.asarray(np.diff((0,) + recorded), dtype=jnp.int32)
    zero = jnp.zeros((), jnp.int32)
    carry = (params0, params0, opt.init(params0), zero, zero)
    (params, theta_s, _, _, _), out = lax.scan(block, carry, (lengths, jnp.asarray(flags)))
    if ntk_every is not None:
        stats = out.pop("ntk_stats")[ntk_rows]
        out["ntk_drift"], out["kernel_alignment"] = stats[:, 0], stats[:, 1]
        out["ntk_steps"] = jnp.asarray(np.asarray(recorded)[ntk_rows])
    out["steps"] = jnp.asarray(recorded)
    out["params"] = params
    out["linearisation_point"] = theta_s
    return out


def _check_period(period) -> Array:
    """`period` as an int32 scalar, 0 for `None` (K = infinity).  A JAX integer scalar (possibly
    traced, e.g. under `vmap` over K) is taken as it is, 0 meaning K = infinity."""
    if period is None:
        return jnp.zeros((), jnp.int32)
    if isinstance(period, jax.Array):
        if period.ndim != 0 or not jnp.issubdtype(period.dtype, jnp.integer):
            raise ValueError(f"period must be an integer scalar, got shape {period.shape} and "
                             f"dtype {period.dtype}")
        concrete = _concrete(period)
        if concrete is not None and int(concrete) < 0:
            raise ValueError(f"period must be >= 1, None, or 0 (infinity) as an array, got "
                             f"{int(concrete)}")
        return period.astype(jnp.int32)
    return jnp.asarray(_check_int("period", period, 1), jnp.int32)


def _check_key(key) -> None:
    dtype = getattr(key, "dtype", None)
    typed = dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)
    raw = dtype == jnp.uint32 and getattr(key, "shape", None) == (2,)
    if not ((typed and key.shape == ()) or raw):
        raise ValueError(
            f"key must be a PRNG key (jax.random.key(seed)), got {type(key).__name__} "
            f"{getattr(key, 'shape', '')} {dtype if dtype is not None else ''}".rstrip()
        )


def _check_labels(name, value, loss, out_shape, n_name):
    n = out_shape[0]
    if loss == "mse":
        names = (f"{n_name}={n}",) + ((f"C={out_shape[1]}",) if len(out_shape) == 2 else ())
        return _check_array(name, value, names, out_shape).astype(jnp.result_type(float))
    labels = _check_array(name, value, (f"{n_name}={n}",), (n,))
    num_classes = out_shape[1]
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"{name} must hold integer class labels in [0, {num_classes}) for "
            f"loss='cross-entropy', got dtype {labels.dtype}"
        )
    concrete = _concrete(labels)
    if concrete is not None and (concrete.min() < 0 or concrete.max() >= num_classes):
        raise ValueError(
            f"{name} must hold integer class labels in [0, C) = [0, {num_classes}) for "
            f"loss='cross-entropy', got labels in [{concrete.min()}, {concrete.max()}]"
        )
    return labels.astype(jnp.int32)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def iterative_linearised_training(
    apply_fn: Callable[[PyTree, Array], Array],
    params: PyTree,
    *,
    x_train: Array,
    y_train: Array,
    x_test: Array,
    y_test: Array,
    steps: int,
    period: int | None,
    learning_rate: float | Float[Array, ""],
    key: Key,
    loss: str = "mse",
    batch_size: int | None = None,
    optimizer: str | Callable[[float], optax.GradientTransformation] = "sgd",
    record_every: int = 1,
    ntk_every: int | None = None,
    ntk_points: int | None = None,
    loss_normalisation: str = "mean",
    sampling: str = "epoch",
    evaluate_network: bool = True,
    reset_optimizer_state: bool = False,
    return_outputs: bool = False,
) -> dict[str, Float[Array, "..."] | Int[Array, "..."] | PyTree]:
    """Train with feature updates every `period` steps (iterative linearisation).

    From $\\theta_0$ = `params`, step $t=0,\\dots,T-1$ ($T$ = `steps`) feeds the gradient

    $$g_t=\\nabla_\\theta\\,\\nu_B\\sum_{i\\in B_t}\\ell\\big(f^{\\rm lin}_{\\theta_{s(t)}}
    (x_i;\\theta)\\big|_{\\theta_t},y_i\\big),\\qquad s(t)=K\\lfloor t/K\\rfloor,$$

    to the optimiser ($\\theta_{t+1}=\\theta_t-\\eta g_t$ for `"sgd"`), where
    $f^{\\rm lin}_{\\theta_s}(x;\\theta)=f_{\\theta_s}(x)+J_{\\theta_s}(x)(\\theta-\\theta_s)$ is
    evaluated by a JVP at $\\theta_s$ and the gradient by its transpose (module docstring).
    $K$ = `period`: `1` is plain (S)GD, `None` ($K=\\infty$) trains the linearisation at
    $\\theta_0$.  Losses and $\\nu_B$ as in the module docstring (iterative-linearisation.md §2
    [derived]).  Jit-compiled (`apply_fn`, `steps`, `batch_size`, `record_every`,
    `ntk_every`, `ntk_points`, `optimizer`, `loss`, `loss_normalisation`, `sampling`,
    `evaluate_network`, `reset_optimizer_state` are static: pass the same `apply_fn` and
    `optimizer` objects to reuse a compilation) and `vmap`-able over `key`, `params` and
    `learning_rate`.  Computes in JAX's default float: run it inside
    [`float64()`][limitlab.numerics.float64] for float64 (floating inputs and parameters are
    cast to it).

    Conventions:

    - **Optimiser state at a feature update: kept** (default).  The parameters are the same
      vector before and after the reset, only the model the gradient is taken through changes,
      so momentum and Adam's moments and step count carry on.  `reset_optimizer_state=True`
      re-initialises the state at every reset instead (with `"sgd"` the two coincide).  The
      paper does not say which it uses (reference §2).
    - **Which model is evaluated.**  The records' primary quantities are those of the model
      being trained, $f^{\\rm lin}_{\\theta_s}(\\cdot;\\theta_t)$ with $\\theta_s$ the current
      linearisation point; with `evaluate_network=True` the network $f_{\\theta_t}$ is
      evaluated too (`network_*` keys).  The two coincide at reset records ($t\\bmod K=0$;
      for $K=1$ at every record).
    - **Records at a reset.**  The record of step $t$ shows the state after $t$ steps with the
      linearisation point $\\theta_{s(t)}$ that step $t$ will use, so at $t\\bmod K=0$ it shows
      the new point ($f^{\\rm lin}=f$, distance 0).
    - **Accuracy.**  Scalar outputs (MSE): sign agreement, the fraction of $f(x_i)\\,y_i>0$ (for
      $\\pm1$ labels).  $C\\ge2$ outputs: $\\arg\\max_cf_c(x_i)$ equals the integer label
      (cross-entropy) or $\\arg\\max_cy_{ic}$ (MSE, e.g. one-hot targets).
    - **NTK statistics** use the output-traced empirical NTK of
      [`model_ntk`][limitlab.numerics.model_ntk] on the first `ntk_points` training inputs at
      the current linearisation point, $\\Theta_s$: the kernel of the model being trained,
      which changes only at feature updates.

    **Arguments:**

    - `apply_fn`: the model, `apply_fn(params, x)`, `x` of shape `(N, ...)`, returning `(N,)`
      or `(N, C)` floats; it must treat examples independently.  E.g.
      `functools.partial(mlp_apply, config)`.
    - `params`: the initial parameters $\\theta_0$, any pytree of floating arrays.
    - `x_train`, `x_test`: inputs `(N, ...)` and `(M, ...)`, the same per-example shape.
    - `y_train`, `y_test`: for `"mse"` real targets of the shape of the outputs, `(N,)` or
      `(N, C)`; for `"cross-entropy"` integer labels `(N,)` in $[0,C)$ (one convention:
      convert one-hot labels with `argmax`).
    - `steps`: number of steps $T\\ge1$.
    - `period`: $K\\ge1$, or `None` for $K=\\infty$ (no feature update after $\\theta_0$).
      Not a static argument: every $K$ shares one compilation, and a JAX integer scalar
      (0 meaning $K=\\infty$) may be traced, e.g. `vmap` over an array of periods.
    - `learning_rate`: $\\eta>0$, finite; may be traced (then only its shape is checked).
    - `key`: PRNG key of the minibatches (unused for full batch).
    - `loss`: `"mse"` (default) or `"cross-entropy"`.
    - `batch_size`: `None` for full-batch GD, else an integer in $[1,N]$ for minibatch SGD.
    - `optimizer`: `"sgd"` (`optax.sgd(eta)`), `"momentum"` (`optax.sgd(eta, momentum=0.9)`),
      `"adam"` (`optax.adam(eta)`), or a callable `eta -> optax.GradientTransformation`.
    - `record_every`: record at steps `0, record_every, 2 * record_every, ...` and `steps`.
    - `ntk_every`: `None` (default, no kernel statistics) or compute them on every
      `ntk_every`-th record (records 0, `ntk_every`, ... and the last).  Costly:
      $O(N'CP)$ memory and $N'C$ backward passes each, $N'$ = `ntk_points`.
    - `ntk_points`: the first `ntk_points` training inputs enter the kernel statistics
      (default all; only with `ntk_every`).
    - `loss_normalisation`: `"mean"` ($\\nu_B=1/|B|$, default) or `"sum"` ($\\nu_B=1$); the
      recorded losses use the same normalisation over the whole train or test set.
    - `sampling`: minibatches for `batch_size`: `"epoch"` (default; epoch $e$ is the
      permutation `jax.random.permutation(fold_in(key, e), N)` cut into $\\lfloor N/b\\rfloor$
      batches, the last $N\\bmod b$ points unused) or `"replacement"` (step $t$ draws $b$
      indices with `fold_in(key, t)`).
    - `evaluate_network`: also record the network $f_{\\theta_t}$ (default).
    - `reset_optimizer_state`: re-initialise the optimiser state at feature updates.
    - `return_outputs`: also return the model outputs per record.

    **Returns:** a dict; $R$ records ($R=\\lceil T/k\\rceil+1$, $k$ = `record_every`):

    - `"steps"` `(R,)`: the recorded step counts $t$.
    - `"train_loss"`, `"test_loss"` `(R,)`: $\\nu\\sum_i\\ell(f^{\\rm lin}_{\\theta_{s(t)}}(x_i;
      \\theta_t),y_i)$ over the training resp. test set ($\\nu=1/N$ resp. $1/M$ for
      `"mean"`, 1 for `"sum"`).
    - `"train_accuracy"`, `"test_accuracy"` `(R,)`: accuracy of the same model.
    - `"network_train_loss"`, `"network_test_loss"`, `"network_train_accuracy"`,
      `"network_test_accuracy"` `(R,)`: the same for $f_{\\theta_t}$ (if `evaluate_network`).
    - `"feature_updates"` `(R,)` int: the number of distinct linearisation points used by the
      first $t$ steps, the initial one counted: $\\lceil t/K\\rceil$ (0 at $t=0$; $\\min(t,1)$
      for $K=\\infty$) (reference §6 item 6).
    - `"distance_to_linearisation_point"` `(R,)`: $\\lVert\\theta_t-\\theta_{s(t)}\\rVert_2$ over
      all parameters (0 at reset records).
    - `"distance_from_init"` `(R,)`: $\\lVert\\theta_t-\\theta_0\\rVert_2$.
    - with `ntk_every`: `"ntk_steps"` `(R',)` (the steps of the kernel records),
      `"ntk_drift"` `(R',)` $\\lVert\\Theta_s-\\Theta_0\\rVert_F/\\lVert\\Theta_0\\rVert_F$ and
      `"kernel_alignment"` `(R',)` $\\langle\\Theta_s,YY^\\top\\rangle_F/(\\lVert\\Theta_s
      \\rVert_F\\lVert YY^\\top\\rVert_F)$, $Y$ the `(N', C')` targets (one-hot for
      cross-entropy, the $C$ or one MSE target columns).
    - `"params"`: $\\theta_T$; `"linearisation_point"`: $\\theta_{s(T)}$ (pytrees like `params`).
    - with `return_outputs`: `"f_train"` `(R, N[, C])`, `"f_test"` `(R, M[, C])` of
      $f^{\\rm lin}$ and, with `evaluate_network`, `"network_f_train"`, `"network_f_test"`.

    **Raises:**

    - `TypeError` if `apply_fn` is not callable.
    - `ValueError` naming the argument, what is allowed and the value received: shapes that do
      not fit each other or the model's outputs, non-finite inputs or parameters, labels out of
      range, `steps`/`period`/`record_every`/`ntk_every` < 1, `batch_size` or `ntk_points`
      outside $[1,N]$, a learning rate not finite and positive, an unknown `loss`,
      `optimizer`, `loss_normalisation` or `sampling`.
    - `FloatingPointError` if a returned value is not finite (checked when the call is not
      itself traced, e.g. not under `vmap`).
    """
    _check_apply_fn(apply_fn)
    if not isinstance(loss, str) or loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    params = _check_params(params)
    x_train = _check_inputs("x_train", x_train)
    n_train = x_train.shape[0]
    out_train = _output_shape(apply_fn, params, x_train, "x_train")
    x_test = _check_inputs("x_test", x_test, tuple(x_train.shape[1:]))
    if x_test.dtype != x_train.dtype:
        dtype = jnp.result_type(x_train, x_test)
        x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    out_test = _output_shape(apply_fn, params, x_test, "x_test")
    if loss == "cross-entropy" and (len(out_train) != 2 or out_train[1] < 2):
        raise ValueError(
            f"loss='cross-entropy' needs apply_fn(params, x) of shape (N, C) with C >= 2 "
            f"logits, got shape {out_train}"
        )
    y_train = _check_labels("y_train", y_train, loss, out_train, "N")
    y_test = _check_labels("y_test", y_test, loss, out_test, "M")
    steps = _check_int("steps", steps, 1)
    period = _check_period(period)
    _check_learning_rate(learning_rate)
    _check_key(key)
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size, 1, n_train)
    if not (
        (isinstance(optimizer, str) and optimizer in _OPTIMIZERS)
        or (not isinstance(optimizer, str) and callable(optimizer))
    ):
        raise ValueError(
            f"optimizer must be one of {_OPTIMIZERS} or a callable learning_rate -> "
            f"optax.GradientTransformation, got {optimizer!r}"
        )
    record_every = _check_int("record_every", record_every, 1)
    if ntk_every is not None:
        ntk_every = _check_int("ntk_every", ntk_every, 1)
        ntk_points = n_train if ntk_points is None else _check_int(
            "ntk_points", ntk_points, 1, n_train
        )
    elif ntk_points is not None:
        raise ValueError(f"ntk_points needs ntk_every (kernel statistics), got ntk_points="
                         f"{ntk_points!r} with ntk_every=None")
    if loss_normalisation not in _NORMALISATIONS:
        raise ValueError(
            f"loss_normalisation must be one of {_NORMALISATIONS}, got {loss_normalisation!r}"
        )
    if sampling not in _SAMPLINGS:
        raise ValueError(f"sampling must be one of {_SAMPLINGS}, got {sampling!r}")
    evaluate_network = _check_bool("evaluate_network", evaluate_network)
    reset_optimizer_state = _check_bool("reset_optimizer_state", reset_optimizer_state)
    return_outputs = _check_bool("return_outputs", return_outputs)

    out = _train(
        params,
        x_train,
        y_train,
        x_test,
        y_test,
        jnp.asarray(learning_rate, dtype=jnp.result_type(float)),
        key,
        period,
        apply_fn=apply_fn,
        steps=steps,
        batch_size=batch_size,
        record_every=record_every,
        ntk_every=ntk_every,
        ntk_points=ntk_points,
        optimizer=optimizer,
        loss=loss,
        loss_normalisation=loss_normalisation,
        sampling=sampling,
        evaluate_network=evaluate_network,
        reset_optimizer_state=reset_optimizer_state,
    )
    if not return_outputs:
        # Dropped after the call: one compiled program serves both, and under an outer jit XLA
        # removes the unused outputs.
        for name in _OUTPUT_KEYS:
            out.pop(name, None)
    try:
        check_finite("iterative_linearised_training", out)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        pass  # traced by an outer transformation: the caller checks the final values
    return out
