import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from limitlab.numerics import (
    MLPConfig,
    empirical_ntk,
    float64,
    init_mlp,
    learning_rate_scale,
    mlp_apply,
    ravel_mlp,
    train_with_linearisation,
)


def _data(config, n_train, n_test, seed=0):
    # numpy, not jax.random: eager jax.random compiles a kernel per shape.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_train, config.input_dim))
    y = np.sin(x[:, 0]) + 0.5 * rng.standard_normal(n_train)
    xt = rng.standard_normal((n_test, config.input_dim))
    return x, y, xt


def _params0(config, key):
    # The documented key split: key_init, key_batch = split(key).
    return init_mlp(config, key=jax.random.split(key)[0])


# References are jitted: op-by-op dispatch of a Hessian costs seconds of compilation.
@functools.partial(jax.jit, static_argnames="config")
def _one_step_reference(config, key, x, y, weights, inputs, eta):
    """f(theta_0 + dtheta) and 1/2 d^2 f[dtheta, dtheta] on `inputs`, dtheta = -eta grad L,
    L = 1/2 sum_i weights_i (f(x_i) - y_i)^2."""
    theta0, apply = ravel_mlp(config, _params0(config, key))
    grad = jax.grad(lambda t: 0.5 * jnp.sum(weights * (apply(t, x) - y) ** 2))(theta0)
    dtheta = -eta * grad
    hess = jax.vmap(lambda xi: jax.hessian(apply)(theta0, xi))(inputs)
    second = 0.5 * jnp.einsum("p,ipq,q->i", dtheta, hess, dtheta)
    return apply(theta0 + dtheta, inputs), second


@functools.partial(jax.jit, static_argnames="config")
def _kernel_reference(config, key, x, xt):
    """f_0 on x and xt, Theta_0(x, x) and Theta_0(xt, x)."""
    params0 = _params0(config, key)
    f0 = mlp_apply(config, params0, jnp.concatenate([x, xt]))
    ntk = empirical_ntk(config, params0, x)
    ntk_test = empirical_ntk(config, params0, xt, x)
    return f0[: x.shape[0]], f0[x.shape[0]:], ntk, ntk_test


# Linear activation, one hidden layer: f = c2 V^T (c1 U x) is bilinear in (U, V).  Standard
# parametrisation, so that the learning-rate scale 1/n is exercised (NTK runs everywhere else).
_BILINEAR = MLPConfig(depth=1, width=7, input_dim=3, activation="linear",
                      parametrization="standard")


def test_bilinear_network_one_step_deviation_is_the_second_order_term():
    # f(theta0 + dtheta) = f0 + J dtheta + 1/2 d^2 f[dtheta, dtheta] with no remainder.
    config = _BILINEAR
    key = jax.random.key(11)
    lr = 0.4
    with float64():
        x, y, xt = _data(config, 5, 4)
        out = train_with_linearisation(config, x_train=x, y_train=y, x_test=xt, steps=1,
                                       learning_rate=lr, key=key, return_outputs=True)
        eta = lr * learning_rate_scale(config)
        f_new, second = _one_step_reference(config, key, x, y, np.ones(5),
                                            np.concatenate([x, xt]), eta)
    out, f_new, second = jax.tree.map(np.asarray, (out, f_new, second))
    for part, name in ((slice(0, 5), "train"), (slice(5, None), "test")):
        f_new_part, second_part = f_new[part], second[part]
        got = out[f"f_{name}"][1] - out[f"f_lin_{name}"][1]
        scale = float(np.max(np.abs(second_part)))
        assert scale > 1e-3  # the test is not vacuous
        np.testing.assert_allclose(got, second_part, rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(out[f"f_{name}"][1], f_new_part, rtol=1e-12)
        assert float(out[f"dev_{name}_t"][0]) < 1e-14  # f_lin = f at step 0 up to rounding
        np.testing.assert_allclose(out[f"dev_{name}_t"][1], np.max(np.abs(second_part)),
                                   rtol=1e-10)
    assert float(out["sup_dev_test"]) == pytest.approx(float(out["dev_test_t"][1]))


@pytest.mark.parametrize("normalisation", ["sum", "mean"])
def test_linearised_model_follows_kernel_gradient_descent(normalisation):
    # f_lin,t(X) - y = (I - eta nu Theta_0)^t (f_0(X) - y) exactly; on test inputs
    # f_lin,t(x) = f_0(x) - eta nu Theta_0(x, X) sum_{s<t} r_s.
    config = MLPConfig(depth=2, width=24, input_dim=3, activation="tanh", bias_std=0.2)
    key = jax.random.key(3)
    steps, n = 15, 6
    lr = 0.2 if normalisation == "sum" else 0.2 * n  # the same steps in function space
    with float64():
        x, y, xt = _data(config, n, 3, seed=1)
        out = train_with_linearisation(config, x_train=x, y_train=y, x_test=xt, steps=steps,
                                       learning_rate=lr, key=key, return_outputs=True,
                                       loss_normalisation=normalisation)
        f0, f0_test, ntk, ntk_test = map(np.asarray, _kernel_reference(config, key, x, xt))
    out, y = jax.tree.map(np.asarray, out), np.asarray(y)
    nu = 1.0 if normalisation == "sum" else 1.0 / n
    step_matrix = np.eye(n) - lr * nu * ntk
    assert np.max(np.abs(np.linalg.eigvalsh(step_matrix))) < 1  # a converging run
    residual = f0 - np.asarray(y)
    cumulative = np.zeros(n)
    for t in range(steps + 1):
        np.testing.assert_allclose(out["f_lin_train"][t] - y, residual, rtol=0, atol=1e-8)
        np.testing.assert_allclose(out["f_lin_test"][t],
                                   f0_test - lr * nu * ntk_test @ cumulative, rtol=0, atol=1e-8)
        np.testing.assert_allclose(out["train_loss_lin"][t],
                                   0.5 * nu * np.sum(residual**2), rtol=1e-8)
        cumulative += residual
        residual = step_matrix @ residual
    # The network trains too, and its loss at step 0 is the linear model's.
    assert out["train_loss"][-1] < 0.5 * out["train_loss"][0]
    assert out["train_loss"][0] == out["train_loss_lin"][0]


def test_deviation_shrinks_with_width():
    # |f - f_lin| = O(1/n) at fixed steps (random-tensor-orders.md §5.3, §8 item 16): from
    # n = 64 to n = 512 the mean over seeds should drop by about 8; ask for 4.
    keys = jax.random.split(jax.random.key(7), 4)
    means = {}
    with float64():
        for width in (64, 512):
            config = MLPConfig(depth=1, width=width, input_dim=4, activation="tanh")
            x, y, xt = _data(config, 8, 4, seed=2)

            def run(key, config=config, x=x, y=y, xt=xt):
                return train_with_linearisation(config, x_train=x, y_train=y, x_test=xt,
                                                steps=30, learning_rate=0.3, key=key,
                                                record_every=10)

            out = jax.vmap(run)(keys)
            means[width] = {k: float(np.mean(out[k][..., -1] if out[k].ndim > 1 else out[k]))
                            for k in ("sup_dev_test", "ntk_change", "weight_change")}
    assert means[64]["sup_dev_test"] > 4 * means[512]["sup_dev_test"]
    assert means[64]["ntk_change"] > 4 * means[512]["ntk_change"]
    # weight change ~ n^-1/2: a factor sqrt(8) ~ 2.8
    assert means[64]["weight_change"] > 1.8 * means[512]["weight_change"]


# One small problem shared by the next two tests, so that they reuse compiled programs.
_SMALL = MLPConfig(depth=1, width=8, input_dim=2, activation="tanh")


def _small_problem():
    x, y, xt = _data(_SMALL, 5, 2, seed=4)
    return dict(x_train=x, y_train=y, x_test=xt, steps=6, record_every=4, learning_rate=0.3,
                return_outputs=True)


def test_minibatch_sampling_and_optimizers():
    with float64():
        common = dict(_small_problem(), key=jax.random.key(4))
        full = train_with_linearisation(_SMALL, **common)
        # One epoch = one permutation of all points: the same sum as full-batch GD.
        epoch = train_with_linearisation(_SMALL, batch_size=5, **common)
        repl = train_with_linearisation(_SMALL, batch_size=2, sampling="replacement", **common)
        momentum = train_with_linearisation(
            _SMALL, optimizer=functools.partial(optax.sgd, momentum=0.9), **common
        )
        with pytest.raises(ValueError, match="optimizer"):
            train_with_linearisation(_SMALL, optimizer=lambda lr: 3, **common)
    full, epoch, repl, momentum = jax.tree.map(np.asarray, (full, epoch, repl, momentum))
    np.testing.assert_array_equal(full["steps"], [0, 4, 6])
    for name in ("f_train", "f_lin_train", "f_test", "f_lin_test"):
        np.testing.assert_allclose(epoch[name], full[name], rtol=1e-12, atol=1e-14)
    for other in (repl, momentum):
        assert all(np.all(np.isfinite(value)) for value in other.values())
        assert not np.allclose(other["f_train"][-1], full["f_train"][-1])


def test_records_start_at_zero_and_vmap_over_keys_matches_single_runs():
    keys = jax.random.split(jax.random.key(1), 3)
    with float64():
        common = _small_problem()

        def run(key):
            return train_with_linearisation(_SMALL, key=key, batch_size=2,
                                            sampling="replacement", **common)

        batched = jax.tree.map(np.asarray, jax.jit(jax.vmap(run))(keys))
        singles = [jax.tree.map(np.asarray, run(k)) for k in keys]
    np.testing.assert_array_equal(batched["steps"], [[0, 4, 6]] * 3)
    for name in ("dev_train_t", "dev_test_t", "ntk_change", "weight_change", "train_loss",
                 "train_loss_lin"):
        assert batched[name].shape == (3, 3)
        assert np.all(np.isfinite(batched[name]))
    assert batched["f_test"].shape == (3, 3, 2)
    assert np.all(batched["weight_change"][:, 0] == 0.0)
    for name in ("dev_train_t", "dev_test_t", "ntk_change", "weight_change"):
        # Zero up to rounding: f_lin and Theta_0 are evaluated by separately compiled code.
        assert np.all(batched[name][:, 0] < 1e-14)
        assert np.all(batched[name][:, 1:] > 1e-6)
    # Per layer: zero at step 0, and the total is their norm-weighted combination.
    layers = batched["weight_change_layers"]
    assert layers.shape == (3, 3, _SMALL.depth + 1) and np.all(layers[:, 0] == 0.0)
    with float64():
        norms = np.array([[float(np.sqrt(sum(np.sum(np.asarray(v) ** 2) for v in layer.values())))
                           for layer in _params0(_SMALL, k)] for k in keys])
    total = np.sqrt(np.sum((layers * norms[:, None, :]) ** 2, axis=2)
                    / np.sum(norms**2, axis=1)[:, None])
    np.testing.assert_allclose(total, batched["weight_change"], rtol=1e-12)
    np.testing.assert_array_equal(batched["sup_dev_test"], batched["dev_test_t"].max(axis=1))
    np.testing.assert_array_equal(batched["sup_dev_train"], batched["dev_train_t"].max(axis=1))
    for i, single in enumerate(singles):
        for name, value in single.items():
            np.testing.assert_allclose(batched[name][i], value, rtol=1e-10, atol=1e-14)
    # Different seeds, different networks and batches.
    assert not np.allclose(batched["train_loss"][0], batched["train_loss"][1])


def test_both_models_see_the_same_minibatch():
    # Bilinear network, one SGD step on one point i: f_lin moves by -eta Theta_0[:, i] r_i and
    # f - f_lin is the second-order term of the gradient of that same point.
    config = _BILINEAR
    key = jax.random.key(11)
    lr = 0.4
    eta = lr * learning_rate_scale(config)
    with float64():
        x, y, xt = _data(config, 5, 4)
        out = train_with_linearisation(config, x_train=x, y_train=y, x_test=xt, steps=1,
                                       learning_rate=lr, key=key, batch_size=1,
                                       return_outputs=True)
        f0, _, ntk, _ = map(np.asarray, _kernel_reference(config, key, x, xt))
        residual = f0 - np.asarray(y)
        moved = np.asarray(out["f_lin_train"][1] - out["f_lin_train"][0])
        candidates = [-eta * ntk[:, i] * residual[i] for i in range(5)]
        (i,) = [i for i, c in enumerate(candidates) if np.allclose(moved, c, atol=1e-12)]
        _, second = _one_step_reference(config, key, x, y, np.eye(5)[i],
                                        np.concatenate([x, xt]), eta)
        second = np.asarray(second)
        dev = np.asarray(out["f_train"][1] - out["f_lin_train"][1])
        dev_test = np.asarray(out["f_test"][1] - out["f_lin_test"][1])
    np.testing.assert_allclose(dev, second[:5], atol=1e-12)
    np.testing.assert_allclose(dev_test, second[5:], atol=1e-12)


_CONFIG = MLPConfig(depth=1, width=4, input_dim=2, activation="tanh")
_X = np.ones((3, 2))


@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        (dict(x_train=np.ones((3, 5))), "x_train"),
        (dict(x_train=np.ones(2)), "x_train"),
        (dict(x_train=np.ones((0, 2)), y_train=np.ones(0)), "x_train"),
        (dict(x_train=np.full((3, 2), np.nan)), "x_train"),
        (dict(y_train=np.ones(4)), "y_train"),
        (dict(y_train=np.ones((3, 1))), "y_train"),
        (dict(x_test=np.ones((2, 3))), "x_test"),
        (dict(steps=0), "steps"),
        (dict(steps=2.0), "steps"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=float("inf")), "learning_rate"),
        (dict(learning_rate=float("nan")), "learning_rate"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=4), "batch_size"),
        (dict(record_every=0), "record_every"),
        (dict(optimizer="adam"), "optimizer"),
        (dict(loss_normalisation="rms"), "loss_normalisation"),
        (dict(sampling="stratified"), "sampling"),
    ],
)
def test_bad_inputs_raise(changes, argument):
    kwargs = dict(x_train=_X, y_train=np.ones(3), x_test=_X, steps=2, learning_rate=0.1,
                  key=jax.random.key(0))
    kwargs.update(changes)
    with pytest.raises(ValueError, match=argument):
        train_with_linearisation(_CONFIG, **kwargs)
    with pytest.raises(TypeError, match="config"):
        train_with_linearisation("ntk", **kwargs)
