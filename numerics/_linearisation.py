"""A wide network and its linearisation at initialisation, trained side by side.

The linearised model of a network $f(x;\\theta)$ around its initialisation $\\theta_0$ is

$$f_{\\rm lin}(x;\\theta)=f(x;\\theta_0)+J(x)\\,(\\theta-\\theta_0),\\qquad
J(x)=\\nabla_\\theta f(x;\\theta_0)^\\top .$$

Both are trained from $\\theta_0$ on the same loss, with the same step size and the same
sequence of (mini)batches $B_s\\subset\\{1,\\dots,N\\}$:

$$L_B(\\theta)=\\frac{\\nu_B}2\\sum_{i\\in B}\\big(f(x_i;\\theta)-y_i\\big)^2,\\qquad
\\theta_{s+1}=\\theta_s-\\eta\\,\\nabla_\\theta L_{B_s}(\\theta_s),\\qquad
\\eta=\\eta_0\\,n^{b},$$

with $\\eta_0$ the `learning_rate` argument, $n^b$ = `learning_rate_scale(config)`, and
$\\nu_B=1$ (`loss_normalisation="sum"`, the D&G convention $L=\\sum\\frac12(f-y)^2$,
random-tensor-orders.md §1 [paper]) or $\\nu_B=1/|B|$ (`"mean"`).  For the linearised model the
gradient is $J_B^\\top\\nu_B(f_{\\rm lin}(X_B)-y_B)$, so in function space, exactly,

$$f_{{\\rm lin},s+1}(x)=f_{{\\rm lin},s}(x)-\\eta\\,\\nu_{B_s}\\sum_{i\\in B_s}
\\Theta_0(x,x_i)\\big(f_{{\\rm lin},s}(x_i)-y_i\\big),$$

the linearised dynamics with the kernel frozen at initialisation (S&O §6.1, whose $\\Theta_0$
includes $\\eta$ [reconstructed]); for full-batch GD with the sum loss this is
$f_{{\\rm lin},t}(X)-y=(I-\\eta\\Theta_0)^t(f_0(X)-y)$ on the training set (D&G §5.6, discrete
time, leading order [paper]; exact for the linear model [derived]).  One step of the network
instead moves $f$ by
$-\\eta\\sum_{i}\\Theta_s(x,x_i)\\partial_f\\ell_i+\\frac{\\eta^2}2\\partial^2f[g,g]-\\dots$
(D&G §5.5 [paper]), and the higher terms and the drift of $\\Theta_s$ are $O(1/n)$ in the NTK
parametrisation, so at a fixed number of steps $f_t-f_{{\\rm lin},t}=O(1/n)$,
$\\lVert\\Theta_t-\\Theta_0\\rVert/\\lVert\\Theta_0\\rVert=O(1/n)$ and, for one hidden layer,
$\\lVert\\theta_t-\\theta_0\\rVert/\\lVert\\theta_0\\rVert=O(n^{-1/2})$ (random-tensor-orders.md
§5.2, §5.3, §8 item 16 [paper / derived]).  S&O state the same $O(1/m)$, $m=n$, and under
an assumed exponential decay of the linearised residual a bound uniform in the number of
steps (§6.5 [reconstructed]); the per-record deviations returned here show whether the
constant grows with $t$.

The learning-rate scale $n^b$ of the parametrisation (1 for NTK, $n^{-1}$ standard, $n$ mean
field, §7 [derived]) keeps $\\eta\\Theta$ of order one, so one `learning_rate` gives comparable
dynamics across parametrisations.  The linearisation is expected to be accurate only where
higher correlations vanish (NTK, standard); in mean field the kernel moves by $O(1)$ (§7).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ._custom_types import Array, Float, Int, Key
from ._empirical_ntk import empirical_ntk
from ._mlp import MLPConfig, _require_scalar_output, init_mlp, learning_rate_scale, mlp_apply

__all__ = ["train_with_linearisation"]

_NORMALISATIONS = ("sum", "mean")
_SAMPLINGS = ("epoch", "replacement")


# --------------------------------------------------------------------------------------------
# argument checks


def _concrete(value) -> np.ndarray | None:
    """`value` as a numpy array, or `None` if it is a tracer (then only shapes are checked)."""
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def _check_array(name: str, value, shape: tuple[str | int, ...], expected: tuple[int, ...]):
    """`value` as a floating array of the given rank; `-1` in `expected` means any size >= 1."""
    try:
        array = jnp.asarray(value)
    except TypeError:
        raise ValueError(f"{name} must be a real array, got {type(value).__name__}") from None
    wanted = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    if array.ndim != len(expected) or any(
        (e == -1 and a < 1) or (e != -1 and a != e) for a, e in zip(array.shape, expected)
    ):
        raise ValueError(f"{name} must have shape {wanted}, got shape {array.shape}")
    if not (jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)):
        raise ValueError(f"{name} must be real, got dtype {array.dtype}")
    concrete = _concrete(array)
    if concrete is not None and not np.all(np.isfinite(concrete)):
        raise ValueError(f"{name} must be finite, got non-finite entries")
    return array


def _check_learning_rate(value) -> None:
    concrete = _concrete(value)
    if concrete is None:
        if jnp.ndim(value) != 0:
            raise ValueError(f"learning_rate must be a scalar, got shape {jnp.shape(value)}")
        return
    if (
        isinstance(value, bool)
        or concrete.ndim != 0
        or concrete.dtype.kind not in "fiu"
        or not np.isfinite(concrete)
        or concrete <= 0
    ):
        raise ValueError(f"learning_rate must be a finite real number > 0, got {value!r}")


def _make_optimizer(optimizer, learning_rate) -> optax.GradientTransformation:
    if isinstance(optimizer, str):
        if optimizer != "sgd":
            raise ValueError(
                f"optimizer must be 'sgd' or a callable learning_rate -> "
                f"optax.GradientTransformation, got {optimizer!r}"
            )
        return optax.sgd(learning_rate)
    transformation = optimizer(learning_rate)
    if not isinstance(transformation, optax.GradientTransformation):
        raise ValueError(
            f"optimizer(learning_rate) must return an optax.GradientTransformation, got "
            f"{type(transformation).__name__}"
        )
    return transformation


# --------------------------------------------------------------------------------------------
# the simulation


def _record_steps(steps: int, record_every: int) -> tuple[int, ...]:
    """Step counts at which the state is recorded: 0, k, 2k, ... and `steps`."""
    recorded = list(range(0, steps + 1, record_every))
    if recorded[-1] != steps:
        recorded.append(steps)
    return tuple(recorded)


def _batch_indices(key: Key, step, n_train: int, batch_size: int, sampling: str):
    """Indices of the minibatch of step `step` (a pure function of `key` and `step`)."""
    if sampling == "epoch":
        per_epoch = n_train // batch_size
        epoch, position = step // per_epoch, step % per_epoch
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n_train)
        return lax.dynamic_slice(perm, (position * batch_size,), (batch_size,))
    return jax.random.randint(jax.random.fold_in(key, step), (batch_size,), 0, n_train)


def _tree_norm(tree) -> Array:
    return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(tree)))


@functools.partial(
    jax.jit,
    static_argnames=(
        "config",
        "steps",
        "batch_size",
        "record_every",
        "optimizer",
        "sampling",
    ),
)
def _train(
    x_train,
    y_train,
    x_test,
    learning_rate,
    nu,
    nu_full,
    key,
    *,
    config: MLPConfig,
    steps: int,
    batch_size: int | None,
    record_every: int,
    optimizer,
    sampling: str,
):
    # nu, nu_full: loss weights of a minibatch and of the whole training set (1 for "sum";
    # 1/|B| and 1/N for "mean"), traced so that both normalisations share one compilation.
    n_train = x_train.shape[0]
    dtype = jnp.result_type(float)
    x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    y_train = y_train.astype(dtype)
    key_init, key_batch = jax.random.split(key)
    params0 = init_mlp(config, key=key_init)
    eta = learning_rate * learning_rate_scale(config)
    opt = _make_optimizer(optimizer, eta)

    # f_lin on all recorded inputs: one linearisation at theta_0 (J is never materialised).
    x_all = jnp.concatenate([x_train, x_test])
    f0_all, jvp_all = jax.linearize(lambda p: mlp_apply(config, p, x_all), params0)
    ntk0 = empirical_ntk(config, params0, x_train)
    ntk0_norm = jnp.linalg.norm(ntk0)
    theta0_norm = _tree_norm(params0)

    def batch(step):
        if batch_size is None:
            return x_train, y_train
        idx = _batch_indices(key_batch, step, n_train, batch_size, sampling)
        return x_train[idx], y_train[idx]

    def step_fn(carry):
        params, delta, state, state_lin, step = carry
        xb, yb = batch(step)

        def loss(p):
            return 0.5 * nu * jnp.sum((mlp_apply(config, p, xb) - yb) ** 2)

        grad = jax.grad(loss)(params)
        updates, state = opt.update(grad, state, params)
        params = optax.apply_updates(params, updates)

        # Linear model, state delta = theta_lin - theta_0: f_lin(X_B) = f_0(X_B) + J_B delta,
        # gradient J_B^T nu (f_lin - y) by transposing the jvp at theta_0.
        f0_b, jvp_b = jax.linearize(lambda p: mlp_apply(config, p, xb), params0)
        residual = nu * (f0_b + jvp_b(delta) - yb)
        (grad_lin,) = jax.linear_transpose(jvp_b, params0)(residual)
        theta_lin = jax.tree_util.tree_map(jnp.add, params0, delta)
        updates_lin, state_lin = opt.update(grad_lin, state_lin, theta_lin)
        delta = optax.apply_updates(delta, updates_lin)
        return params, delta, state, state_lin, step + 1

    def record(carry):
        params, delta, _, _, _ = carry
        f_all = mlp_apply(config, params, x_all)
        f_lin_all = f0_all + jvp_all(delta)
        f_train, f_test = f_all[:n_train], f_all[n_train:]
        f_lin_train, f_lin_test = f_lin_all[:n_train], f_lin_all[n_train:]
        ntk = empirical_ntk(config, params, x_train)
        moved = jax.tree_util.tree_map(jnp.subtract, params, params0)
        out = {
            "dev_train_t": jnp.max(jnp.abs(f_train - f_lin_train)),
            "dev_test_t": jnp.max(jnp.abs(f_test - f_lin_test)),
            "ntk_change": jnp.linalg.norm(ntk - ntk0) / ntk0_norm,
            "weight_change": _tree_norm(moved) / theta0_norm,
            "weight_change_layers": jnp.stack(
                [_tree_norm(m) / _tree_norm(p0) for m, p0 in zip(moved, params0)]
            ),
            "train_loss": 0.5 * nu_full * jnp.sum((f_train - y_train) ** 2),
            "train_loss_lin": 0.5 * nu_full * jnp.sum((f_lin_train - y_train) ** 2),
            "f_train": f_train,
            "f_lin_train": f_lin_train,
            "f_test": f_test,
            "f_lin_test": f_lin_test,
        }
        return out

    # One scan over the records, each running its block of steps first (0 for the record at
    # step 0, then record_every, and the remainder): a single copy of the step and of the
    # record in the compiled program.
    def block(carry, length):
        carry = lax.fori_loop(0, length, lambda _, c: step_fn(c), carry)
        return carry, record(carry)

    recorded = _record_steps(steps, record_every)
    lengths = jnp.asarray(np.diff((0,) + recorded), dtype=jnp.int32)
    zero = jax.tree_util.tree_map(jnp.zeros_like, params0)
    carry = (params0, zero, opt.init(params0), opt.init(params0), jnp.zeros((), jnp.int32))
    _, out = lax.scan(block, carry, lengths)
    out["sup_dev_train"] = jnp.max(out["dev_train_t"])
    out["sup_dev_test"] = jnp.max(out["dev_test_t"])
    out["steps"] = jnp.asarray(recorded)
    return out


def train_with_linearisation(
    config: MLPConfig,
    *,
    x_train: Float[Array, "N D"],
    y_train: Float[Array, " N"],
    x_test: Float[Array, "M D"],
    steps: int,
    learning_rate: float | Float[Array, ""],
    key: Key,
    batch_size: int | None = None,
    record_every: int = 1,
    optimizer: str | Callable[[float], optax.GradientTransformation] = "sgd",
    loss_normalisation: str = "sum",
    sampling: str = "epoch",
    return_outputs: bool = False,
) -> dict[str, Float[Array, "..."] | Int[Array, " R"]]:
    """Train a network and its linearisation at initialisation on the same data, side by side.

    From $\\theta_0$ both the network $f$ and $f_{\\rm lin}(x;\\theta)=f(x;\\theta_0)+
    J(x)(\\theta-\\theta_0)$ take `steps` steps of

    $$\\theta_{s+1}=\\theta_s-\\eta\\nabla_\\theta\\frac{\\nu_B}2\\sum_{i\\in B_s}
    \\big(f(x_i;\\theta_s)-y_i\\big)^2,\\qquad\\eta=\\eta_0\\,n^{b},$$

    $\\eta_0$ = `learning_rate`, $\\nu_B=1$ (`"sum"`, D&G §1) or $1/|B|$ (`"mean"`), $n^b$ =
    [`learning_rate_scale(config)`][limitlab.numerics.learning_rate_scale]; the linearised
    model's step is the kernel step with $\\Theta_0$ frozen (S&O §6.1 [reconstructed]), so for
    full-batch GD with the sum loss $f_{{\\rm lin},t}(X)-y=(I-\\eta\\Theta_0)^t(f_0(X)-y)$
    exactly, while the network's step carries the $O(\\eta^2/n)$ corrections of D&G §5.5
    [paper] (module docstring).  $J(x)\\delta$ is a `jax.jvp` at $\\theta_0$ and
    $J_B^\\top r$ its `jax.linear_transpose`; the Jacobian is never formed.  Jit-compiled
    (one `lax.scan` over the records, a loop over the steps between them; `config`, `steps`,
    `batch_size`, `record_every`, `optimizer` and `sampling` are static,
    so pass the same `optimizer` object to reuse a compilation), and `vmap`-able over `key`
    (and `learning_rate`): one seed is one call of
    [`run_ensemble`][limitlab.numerics.run_ensemble]'s `simulate`.  Run it inside
    [`float64()`][limitlab.numerics.float64]: the deviations of interest are $O(1/n)$.

    Predicted width exponents in the NTK parametrisation, fixed steps, smooth activation
    (random-tensor-orders.md §5.2, §5.3, §8 item 16 [paper / derived]): `sup_dev_test` $n^{-1}$,
    `ntk_change` $n^{-1}$, `weight_change` $n^{-1/2}$ (one hidden layer).

    **Arguments:**

    - `config`: the network ([`MLPConfig`][limitlab.numerics.MLPConfig]).
    - `x_train`: training inputs, shape `(N, input_dim)`, $N\\ge1$.
    - `y_train`: training labels, shape `(N,)`.
    - `x_test`: held-out inputs, shape `(M, input_dim)`, $M\\ge1$ (only evaluated).
    - `steps`: number of (S)GD steps $\\ge1$.
    - `learning_rate`: $\\eta_0>0$, finite; multiplied by `learning_rate_scale(config)`.  May be
      a traced scalar (then checked only for its shape).
    - `key`: typed PRNG key, split as `key_init, key_batch = jax.random.split(key)`;
      $\\theta_0$ = `init_mlp(config, key=key_init)`.
    - `batch_size`: `None` for full-batch GD; otherwise an integer in `[1, N]` for minibatch SGD
      (the same minibatch at every step for both models).
    - `record_every`: record the state at steps `0, record_every, 2 * record_every, ...` and at
      `steps`.
    - `optimizer`: `"sgd"` (`optax.sgd(eta)`, the update above) or a callable `eta ->
      optax.GradientTransformation` such as `functools.partial(optax.sgd, momentum=0.9)`, called
      with the scaled learning rate; the closed forms above hold for `"sgd"` only.
    - `loss_normalisation`: `"sum"` ($\\nu_B=1$, default) or `"mean"` ($\\nu_B=1/|B|$).
    - `sampling`: how minibatches are drawn when `batch_size` is given. `"epoch"` (default):
      without replacement within an epoch of $\\lfloor N/b\\rfloor$ steps, epoch $e$ a
      permutation drawn with `fold_in(key_batch, e)`, the last $N\\bmod b$ points of it unused;
      `"replacement"`: step $s$ draws $b$ indices uniformly with replacement with
      `fold_in(key_batch, s)` (a repeated index counts twice in the loss).
    - `return_outputs`: also return the recorded outputs (below).

    **Returns:** a dict of arrays, with $R=\\lceil S/k\\rceil+1$ records ($S$ = `steps`, $k$ =
    `record_every`):

    - `"steps"` `(R,)`: the recorded step counts $0,k,2k,\\dots$ and $S$.
    - `"sup_dev_train"`, `"sup_dev_test"` (scalars): $\\max_t\\max_i|f_t(x_i)-f_{{\\rm lin},t}
      (x_i)|$ over the recorded steps, on training resp. test inputs.
    - `"dev_train_t"`, `"dev_test_t"` `(R,)`: the per-record $\\max_i|f_t-f_{{\\rm lin},t}|$.
    - `"ntk_change"` `(R,)`: $\\lVert\\Theta_t-\\Theta_0\\rVert_F/\\lVert\\Theta_0\\rVert_F$ on the
      training inputs ([`empirical_ntk`][limitlab.numerics.empirical_ntk] of the network).
    - `"weight_change"` `(R,)`: $\\lVert\\theta_t-\\theta_0\\rVert_2/\\lVert\\theta_0\\rVert_2$
      over all parameters of the network.  It is exactly 0 at step 0; the deviations and the
      NTK change are 0 there up to rounding ($f_{\\rm lin}$ and $\\Theta_0$ are evaluated by
      separately compiled code).
    - `"weight_change_layers"` `(R, L+1)`: the same per layer (weights and bias of layer $l$,
      the readout last), $\\lVert\\theta^{(l)}_t-\\theta^{(l)}_0\\rVert_2/
      \\lVert\\theta^{(l)}_0\\rVert_2$.  The layers move at different orders in $n$, so the
      total is dominated by the largest layer's share of $\\lVert\\theta_0\\rVert$ (see
      docs/random-tensors.md, "weight change").
    - `"train_loss"`, `"train_loss_lin"` `(R,)`: $\\frac{\\nu}2\\sum_{i=1}^N(f-y_i)^2$ on the whole
      training set ($\\nu=1$ or $1/N$ by `loss_normalisation`) for $f_t$ resp. $f_{{\\rm lin},t}$.
    - with `return_outputs=True` also `"f_train"`, `"f_lin_train"` `(R, N)` and `"f_test"`,
      `"f_lin_test"` `(R, M)`.

    **Raises:**

    - `TypeError` if `config` is not an `MLPConfig`.
    - `ValueError` naming the argument for shapes that do not fit `config` or each other,
      non-finite inputs, `steps < 1`, `record_every < 1`, a learning rate that is not finite and
      positive, `batch_size` outside `[1, N]`, or an unknown `optimizer`,
      `loss_normalisation` or `sampling`.
    """
    if not isinstance(config, MLPConfig):
        raise TypeError(f"config must be an MLPConfig, got {type(config).__name__}")
    _require_scalar_output(config, "train_with_linearisation")
    d = config.input_dim
    x_train = _check_array("x_train", x_train, ("N", f"input_dim={d}"), (-1, d))
    n_train = x_train.shape[0]
    y_train = _check_array("y_train", y_train, (f"N={n_train}",), (n_train,))
    x_test = _check_array("x_test", x_test, ("M", f"input_dim={d}"), (-1, d))
    steps = _check_int("steps", steps, 1)
    record_every = _check_int("record_every", record_every, 1)
    _check_learning_rate(learning_rate)
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size, 1, n_train)
    if loss_normalisation not in _NORMALISATIONS:
        raise ValueError(
            f"loss_normalisation must be one of {_NORMALISATIONS}, got {loss_normalisation!r}"
        )
    if sampling not in _SAMPLINGS:
        raise ValueError(f"sampling must be one of {_SAMPLINGS}, got {sampling!r}")
    if not (optimizer == "sgd" or (not isinstance(optimizer, str) and callable(optimizer))):
        raise ValueError(
            f"optimizer must be 'sgd' or a callable learning_rate -> "
            f"optax.GradientTransformation, got {optimizer!r}"
        )
    if not isinstance(return_outputs, bool):
        raise ValueError(f"return_outputs must be True or False, got {return_outputs!r}")
    b = n_train if batch_size is None else batch_size
    mean = loss_normalisation == "mean"
    dtype = jnp.result_type(float)
    out = _train(
        x_train,
        y_train,
        x_test,
        jnp.asarray(learning_rate, dtype=dtype),
        jnp.asarray(1.0 / b if mean else 1.0, dtype=dtype),
        jnp.asarray(1.0 / n_train if mean else 1.0, dtype=dtype),
        key,
        config=config,
        steps=steps,
        batch_size=batch_size,
        record_every=record_every,
        optimizer=optimizer,
        sampling=sampling,
    )
    if not return_outputs:
        # Dropped after the call, not inside it: one compiled program serves both, and under an
        # outer jit XLA removes the unused outputs.
        for name in ("f_train", "f_lin_train", "f_test", "f_lin_test"):
            del out[name]
    return out
