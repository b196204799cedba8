import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

from limitlab.numerics import (
    MLPConfig,
    empirical_ntk,
    float64,
    init_mlp,
    iterative_linearised_training,
    mlp_apply,
    model_ntk,
)

# Module-level models: the same function object lets runs share compiled programs.
_CFG = MLPConfig(depth=1, width=16, input_dim=3, activation="tanh", bias_std=0.3)
_mlp = functools.partial(mlp_apply, _CFG)
_CLASSES = 3


def _classifier(params, x):
    """C = 3 logits of a one-hidden-layer tanh network (a dict pytree)."""
    h = jnp.tanh(x @ params["hidden"]["W"].T / np.sqrt(3) + params["hidden"]["b"])
    return h @ params["readout"].T / np.sqrt(16)


def _mlp_params(seed):
    return init_mlp(_CFG, key=jax.random.key(seed))


def _classifier_params(seed):
    rng = np.random.default_rng(seed)
    return {"hidden": {"W": rng.standard_normal((16, 3)), "b": 0.3 * rng.standard_normal(16)},
            "readout": rng.standard_normal((_CLASSES, 16))}


def _run(*args, **kwargs):
    """The training function with its results as numpy (call inside float64())."""
    return jax.tree.map(np.asarray, iterative_linearised_training(*args, **kwargs))


def _data(loss, n_train=8, n_test=4, seed=0):
    # numpy, not jax.random: eager jax.random compiles a kernel per shape.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_train + n_test, 3))
    if loss == "mse":
        y = np.sign(np.sin(2 * x[:, 0]) + 0.3 * x[:, 1])
    else:
        y = rng.integers(0, _CLASSES, n_train + n_test)
    return dict(x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:],
                y_test=y[n_train:])


def _flat(tree):
    # numpy, not ravel_pytree: outside float64() jnp.concatenate would round to float32.
    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in jax.tree.leaves(tree)])


# --------------------------------------------------------------------------------------------
# an independent reference: plain (S)GD with optax


_OPTAX = {
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "adam": lambda lr: optax.adam(lr),
}


def _reference_losses(loss, f, y):
    if loss == "mse":
        return 0.5 * (f - y) ** 2
    return -jnp.take_along_axis(jax.nn.log_softmax(f), y[:, None], axis=1)[:, 0]


def _reference_run(apply_fn, params, data, *, loss, optimizer, lr, steps, batch_size, key):
    """Plain (S)GD on L = 1/|B| sum_i l_i; batches: epoch e = permutation(fold_in(key, e))."""
    x, y = np.asarray(data["x_train"]), np.asarray(data["y_train"])
    n = x.shape[0]
    opt = _OPTAX[optimizer](lr)

    def batch_loss(p, xb, yb):
        return jnp.mean(_reference_losses(loss, apply_fn(p, xb), yb))

    @jax.jit
    def step(p, state, xb, yb):
        updates, state = opt.update(jax.grad(batch_loss)(p, xb, yb), state, p)
        return optax.apply_updates(p, updates), state

    full_loss = jax.jit(batch_loss)
    state, losses = opt.init(params), [float(full_loss(params, x, y))]
    for t in range(steps):
        if batch_size is None:
            idx = np.arange(n)
        else:
            per_epoch = n // batch_size
            epoch, position = divmod(t, per_epoch)
            perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
            idx = perm[position * batch_size:(position + 1) * batch_size]
        params, state = step(params, state, x[idx], y[idx])
        losses.append(float(full_loss(params, x, y)))
    return params, np.asarray(losses)


# Each loss and each optimizer, each loss with full batches and with minibatches.  Other tests
# reuse these static arguments (steps=100, record_every=10), hence these compilations.
_K1 = dict(steps=100, period=1, record_every=10)


@pytest.mark.parametrize(
    ("loss", "optimizer", "batch_size"),
    [
        ("mse", "sgd", 3),
        ("mse", "momentum", 3),
        ("cross-entropy", "sgd", None),
        ("cross-entropy", "adam", 3),
    ],
)
def test_period_one_is_plain_gradient_descent(loss, optimizer, batch_size):
    steps, lr = _K1["steps"], (0.01 if optimizer == "adam" else 0.2)
    key = jax.random.key(3)
    apply_fn = _mlp if loss == "mse" else _classifier
    with float64():
        params = _mlp_params(1) if loss == "mse" else _classifier_params(1)
        data = _data(loss)
        out = _run(
            apply_fn, params, **data, **_K1, learning_rate=lr, key=key, loss=loss,
            batch_size=batch_size, optimizer=optimizer,
        )
        ref_params, ref_losses = _reference_run(
            apply_fn, params, data, loss=loss, optimizer=optimizer, lr=lr, steps=steps,
            batch_size=batch_size, key=key,
        )
    assert out["train_loss"].dtype == np.float64
    np.testing.assert_allclose(_flat(out["params"]), _flat(ref_params), rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["train_loss"], ref_losses[::10], rtol=1e-12)
    np.testing.assert_allclose(out["network_train_loss"], ref_losses[::10], rtol=1e-12)
    assert ref_losses[-1] < 0.9 * ref_losses[0]  # it trained: the comparison is not vacuous
    np.testing.assert_array_equal(out["feature_updates"], np.arange(0, steps + 1, 10))
    np.testing.assert_array_equal(out["distance_to_linearisation_point"], 0.0)


# --------------------------------------------------------------------------------------------
# a model linear in its parameters: every period gives the same trajectory


_FEATURE_MAP = np.random.default_rng(9).standard_normal((3, 12))


def _linear_model(params, x):
    phi = jnp.tanh(x @ _FEATURE_MAP)
    return phi @ params["w"] + params["b"]


_PERIODS = (1, 3, 7, None)


@functools.lru_cache(maxsize=1)
def _linear_model_runs():
    """Adam on minibatches of the linear model, for each period (shared by two tests)."""
    rng = np.random.default_rng(4)
    with float64():
        params = {"w": rng.standard_normal(12), "b": rng.standard_normal(())}
        return {
            period: _run(
                _linear_model, params, **_data("mse"), steps=30, period=period,
                learning_rate=0.05, key=jax.random.key(2), optimizer="adam", batch_size=3,
                return_outputs=True,
            )
            for period in _PERIODS
        }


def test_linear_model_is_independent_of_the_period():
    outs = _linear_model_runs()
    base = outs[1]
    for out in outs.values():
        np.testing.assert_allclose(_flat(out["params"]), _flat(base["params"]), rtol=0,
                                   atol=1e-12)
        for name in ("train_loss", "test_loss", "f_train", "f_test", "network_f_test"):
            np.testing.assert_allclose(out[name], base[name], rtol=1e-12, atol=1e-12)
    # The runs did differ in their linearisation points.
    assert outs[7]["distance_to_linearisation_point"][5] > 1e-3
    assert base["train_loss"][-1] < 0.9 * base["train_loss"][0]


def test_feature_updates_count_and_distance_resets():
    # ceil(t / K) distinct linearisation points over t steps (reference §6 item 6); the record
    # of a reset step shows the new point, at distance 0.
    for period, out in _linear_model_runs().items():
        t = out["steps"]
        np.testing.assert_array_equal(t, np.arange(31))
        k = math.inf if period is None else period
        expected = [min(s, 1) if period is None else math.ceil(s / k) for s in t]
        np.testing.assert_array_equal(out["feature_updates"], expected)
        assert out["feature_updates"].dtype.kind == "i"
        at_reset = (t % period == 0) if period else (t == 0)
        distance = out["distance_to_linearisation_point"]
        assert np.all(distance[at_reset] == 0.0)
        assert np.all(distance[~at_reset] > 1e-4)
        assert out["distance_from_init"][0] == 0.0
        assert np.all(out["distance_from_init"][1:] > 0)
        # the last step (30) is a reset exactly when K divides 30
        same = np.array_equal(_flat(out["linearisation_point"]), _flat(out["params"]))
        assert same == (30 % k == 0)


# --------------------------------------------------------------------------------------------
# K = infinity: GD on the fixed-Jacobian model, converging to kernel regression


_TINY = MLPConfig(depth=1, width=6, input_dim=2, activation="tanh", bias_std=0.5)
_tiny = functools.partial(mlp_apply, _TINY)


def _tiny_problem(n_train=4, n_test=3, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_train + n_test, 2))
    y = np.sin(2 * x[:, 0]) - x[:, 1]
    params = init_mlp(_TINY, key=jax.random.key(seed))
    return params, dict(x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:],
                        y_test=y[n_train:])


@functools.partial(jax.jit, static_argnums=0)
def _explicit_jacobian(apply_fn, params, x):
    """`(N, C, P)` (or `(N, P)`) Jacobian of the flattened parameters, by jax.jacrev."""
    theta, unravel = ravel_pytree(params)
    return jax.jacrev(lambda t: apply_fn(unravel(t), x))(theta)


def _jacobian(params, x):
    return np.asarray(_explicit_jacobian(_tiny, params, x))


def test_infinite_period_is_gradient_descent_on_the_fixed_jacobian_model():
    steps, every = 1500, 50
    with float64():
        params, data = _tiny_problem()
        x, y, xt = data["x_train"], data["y_train"], data["x_test"]
        n = x.shape[0]
        theta0 = _flat(params)
        jac, jac_test = _jacobian(params, x), _jacobian(params, xt)
        f0, f0_test = np.asarray(_tiny(params, x)), np.asarray(_tiny(params, xt))
        ntk, ntk_test = jac @ jac.T, jac_test @ jac.T
        lam = np.linalg.eigvalsh(ntk)
        eta = 2 * n / (lam[-1] + lam[0])  # optimal constant step for the mean loss
        out = _run(
            _tiny, params, **data, steps=steps, period=None, learning_rate=eta,
            key=jax.random.key(0), record_every=every, return_outputs=True,
        )
    # convergence factor per step (kappa - 1) / (kappa + 1): small enough for 1e-6 below
    assert ((lam[-1] - lam[0]) / (lam[-1] + lam[0])) ** steps < 1e-9
    theta = theta0.copy()
    for t in range(steps + 1):
        if t % every == 0:
            r = t // every
            np.testing.assert_allclose(out["f_train"][r], f0 + jac @ (theta - theta0),
                                       rtol=0, atol=1e-10)
            np.testing.assert_allclose(out["f_test"][r], f0_test + jac_test @ (theta - theta0),
                                       rtol=0, atol=1e-10)
        if t < steps:
            theta = theta - eta * jac.T @ (f0 + jac @ (theta - theta0) - y) / n
    np.testing.assert_allclose(_flat(out["params"]), theta, rtol=0, atol=1e-10)
    # kernel regression with the empirical NTK at theta_0 plus the f_0 offset
    kernel_prediction = f0_test + ntk_test @ np.linalg.solve(ntk, y - f0)
    np.testing.assert_allclose(out["f_test"][-1], kernel_prediction, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["f_train"][-1], y, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out["feature_updates"], np.minimum(out["steps"], 1))
    # The network itself left the linear regime: the comparison above is of the linear model.
    assert np.max(np.abs(out["network_f_test"][-1] - out["f_test"][-1])) > 1e-4


def _spectral_round(jac, r, eta, k):
    """delta_K = J^T sum_i g_K(lambda_i) u_i u_i^T r, g_K = (1 - (1 - eta lambda)^K) / lambda."""
    lam, u = np.linalg.eigh(jac @ jac.T)
    safe = np.where(lam > 1e-12 * lam[-1], lam, 1.0)
    gain = np.where(lam > 1e-12 * lam[-1], (1 - (1 - eta * lam) ** k) / safe, eta * k)
    return jac.T @ (u @ (gain * (u.T @ r)))


def test_one_round_matches_the_spectral_closed_form():
    k = 5
    with float64():
        params, data = _tiny_problem()
        jac = _jacobian(params, data["x_train"])
        r = data["y_train"] - np.asarray(_tiny(params, data["x_train"]))
        lam = np.linalg.eigvalsh(jac @ jac.T)
        eta = 1.5 / lam[-1]  # the top direction oscillates (1 < eta lambda < 2)
        out = _run(
            _tiny, params, **data, steps=k, period=k, learning_rate=eta,
            key=jax.random.key(0), loss_normalisation="sum", record_every=k,
        )
    delta = _spectral_round(jac, r, eta, k)
    assert np.linalg.norm(delta) > 0.1
    np.testing.assert_allclose(_flat(out["params"]) - _flat(params), delta, rtol=0, atol=1e-10)
    # the round ends with a feature update
    assert float(out["distance_to_linearisation_point"][-1]) == 0.0
    np.testing.assert_array_equal(_flat(out["linearisation_point"]), _flat(out["params"]))


# --------------------------------------------------------------------------------------------
# feature updates, the reset invariant


@functools.partial(jax.jit, static_argnums=0)
def _gd_step(apply_fn, params, x, y, lr):
    """One step of plain GD on the mean cross-entropy of the network."""
    def loss(p):
        return jnp.mean(_reference_losses("cross-entropy", apply_fn(p, x), y))

    return jax.tree.map(lambda p, g: p - lr * g, params, jax.grad(loss)(params))


def test_reset_invariant_linear_model_equals_network_and_first_step_is_the_true_gradient():
    # reference §6 item 5, for cross-entropy with three logits and K = 3
    k, lr = 3, 0.4
    with float64():
        data = _data("cross-entropy")
        out = _run(_classifier, _classifier_params(3), **data, steps=k + 1, period=k,
                   learning_rate=lr, key=jax.random.key(0), loss="cross-entropy",
                   return_outputs=True)
        # theta_K is the linearisation point at the end (the reset at t = K is the last one)
        expected = _gd_step(_classifier, out["linearisation_point"], data["x_train"],
                            data["y_train"], lr)
    t = out["steps"]
    reset = t % k == 0
    np.testing.assert_array_equal(t, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(out["feature_updates"], [0, 1, 1, 1, 2])
    for name in ("f_train", "f_test"):
        gap = np.max(np.abs(out[name] - out[f"network_{name}"]), axis=(1, 2))
        assert np.all(gap[reset] < 1e-13)
        assert np.all(gap[~reset] > 1e-6)
    for name in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        np.testing.assert_allclose(out[name][reset], out[f"network_{name}"][reset], rtol=1e-13)
    # the first step after the reset at t = K is a step of plain GD from theta_K
    np.testing.assert_allclose(_flat(out["params"]), _flat(expected), rtol=0, atol=1e-13)
    assert np.linalg.norm(_flat(out["params"]) - _flat(out["linearisation_point"])) > 1e-3


def test_optimizer_state_is_kept_unless_reset():
    # K = 1 with momentum: re-initialising the state at every reset is plain SGD.
    with float64():
        params = _mlp_params(4)
        common = dict(**_data("mse"), **_K1, learning_rate=0.2, key=jax.random.key(0),
                      batch_size=3)
        momentum_reset = _run(
            _mlp, params, optimizer="momentum", reset_optimizer_state=True, **common)
        momentum = _run(_mlp, params, optimizer="momentum", **common)
        sgd = _run(_mlp, params, optimizer="sgd", **common)
    np.testing.assert_allclose(_flat(momentum_reset["params"]), _flat(sgd["params"]),
                               rtol=0, atol=1e-13)
    assert not np.allclose(_flat(momentum["params"]), _flat(sgd["params"]), atol=1e-6)


# --------------------------------------------------------------------------------------------
# kernels


_layerwise_ntk = jax.jit(empirical_ntk, static_argnums=0)


def test_model_ntk_matches_explicit_jacobian_and_the_layerwise_ntk():
    with float64():
        params, mlp_params = _classifier_params(6), _mlp_params(6)
        x = np.random.default_rng(0).standard_normal((5, 3))
        x2 = x[::-1] + 0.5
        jac = np.asarray(_explicit_jacobian(_classifier, params, x))
        jac2 = np.asarray(_explicit_jacobian(_classifier, params, x2))
        full = np.asarray(model_ntk(_classifier, params, x, x2, output_trace=False))
        traced = np.asarray(model_ntk(_classifier, params, x))
        scalar = np.asarray(model_ntk(_mlp, mlp_params, x, x2))
        layerwise = np.asarray(_layerwise_ntk(_CFG, mlp_params, x, x2))
    assert jac.shape[:2] == (5, _CLASSES) and full.shape == (5, 5, _CLASSES, _CLASSES)
    np.testing.assert_allclose(full, np.einsum("icp,jdp->ijcd", jac, jac2), atol=1e-12)
    np.testing.assert_allclose(traced, np.einsum("icp,jcp->ij", jac, jac), atol=1e-12)
    np.testing.assert_allclose(scalar, layerwise, rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(full[:, :, 0, 1])) > 1e-3  # shared hidden layer: outputs coupled


# One configuration for the kernel statistics and the vmap test (shared compilation).
_NTK_RUN = dict(steps=9, period=4, learning_rate=0.5, batch_size=3, sampling="replacement",
                ntk_every=1, ntk_points=5)


def test_ntk_statistics():
    with float64():
        params = _mlp_params(7)
        data = _data("mse")
        out = _run(_mlp, params, **data, **_NTK_RUN, key=jax.random.key(0))
        x5, y5 = data["x_train"][:5], data["y_train"][:5]
        ntk0 = np.asarray(_layerwise_ntk(_CFG, params, x5))
        ntk_last = np.asarray(_layerwise_ntk(_CFG, out["linearisation_point"], x5))
    np.testing.assert_array_equal(out["ntk_steps"], np.arange(10))
    yy = np.outer(y5, y5)

    def alignment(k):
        return np.sum(k * yy) / (np.linalg.norm(k) * np.linalg.norm(yy))

    np.testing.assert_allclose(out["kernel_alignment"][0], alignment(ntk0), rtol=1e-12)
    np.testing.assert_allclose(out["kernel_alignment"][-1], alignment(ntk_last), rtol=1e-12)
    np.testing.assert_allclose(out["ntk_drift"][-1],
                               np.linalg.norm(ntk_last - ntk0) / np.linalg.norm(ntk0),
                               rtol=1e-10)
    # Theta_s: frozen within a round (t = 0..3, 4..7, 8..9), moving at the feature updates
    drift = out["ntk_drift"]
    assert np.all(drift[:4] < 1e-14)
    np.testing.assert_allclose(drift[4:8], drift[4], rtol=1e-12)
    np.testing.assert_allclose(drift[8:], drift[8], rtol=1e-12)
    assert 1e-4 < drift[4] != drift[8]
    np.testing.assert_array_equal(out["feature_updates"], [0, 1, 1, 1, 1, 2, 2, 2, 2, 3])


# --------------------------------------------------------------------------------------------
# transformations, precision, checks


def test_vmap_over_keys_matches_single_runs():
    keys = jax.random.split(jax.random.key(8), 3)
    with float64():
        params, data = _mlp_params(7), _data("mse")

        def run(key):
            return iterative_linearised_training(_mlp, params, **data, **_NTK_RUN, key=key)

        batched = jax.tree.map(np.asarray, jax.vmap(run)(keys))
        singles = [jax.tree.map(np.asarray, run(k)) for k in keys]
    for i, single in enumerate(singles):
        for name, value in single.items():
            np.testing.assert_allclose(_flat(jax.tree.map(lambda v: v[i], batched[name])),
                                       _flat(value), rtol=1e-12, atol=1e-14)
    assert not np.allclose(batched["train_loss"][0], batched["train_loss"][1])


def test_divergence_raises_floating_point_error():
    with float64(), pytest.raises(FloatingPointError, match="iterative_linearised_training"):
        iterative_linearised_training(_mlp, _mlp_params(0), **_data("mse"), **_K1,
                                      learning_rate=1e3, key=jax.random.key(0), batch_size=3)


_X = np.ones((4, 3))


@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        (dict(x_train=np.ones((4, 5))), "x_train"),
        (dict(x_train=np.ones(3)), "x_train"),
        (dict(x_train=np.full((4, 3), np.nan)), "x_train"),
        (dict(x_test=np.ones((2, 4))), "x_test"),
        (dict(y_train=np.ones(5)), "y_train"),
        (dict(y_train=np.ones((4, 1))), "y_train"),
        (dict(y_test=np.ones(3)), "y_test"),
        (dict(steps=0), "steps"),
        (dict(steps=2.0), "steps"),
        (dict(period=0), "period"),
        (dict(period=1.5), "period"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=float("nan")), "learning_rate"),
        (dict(key=3), "key"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=5), "batch_size"),
        (dict(record_every=0), "record_every"),
        (dict(ntk_every=0), "ntk_every"),
        (dict(ntk_every=1, ntk_points=5), "ntk_points"),
        (dict(ntk_points=2), "ntk_points"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(optimizer=lambda lr: 3), "optimizer"),
        (dict(loss="hinge"), "loss"),
        (dict(loss="cross-entropy"), "cross-entropy"),  # scalar outputs
        (dict(loss_normalisation="rms"), "loss_normalisation"),
        (dict(sampling="stratified"), "sampling"),
        (dict(evaluate_network=1), "evaluate_network"),
        (dict(params={"w": np.ones(3, dtype=np.int32)}), "params"),
        (dict(params=[{"W": np.full((2, 2), np.inf)}]), "params"),
        (dict(apply_fn=lambda p, x: jnp.ones((x.shape[0], 2, 2))), "apply_fn"),
    ],
)
def test_bad_inputs_raise(changes, argument):
    kwargs = dict(apply_fn=_mlp, params=_mlp_params(0), x_train=_X, y_train=np.ones(4),
                  x_test=_X[:2], y_test=np.ones(2), steps=2, period=1, learning_rate=0.1,
                  key=jax.random.key(0))
    kwargs.update(changes)
    with pytest.raises(ValueError, match=argument):
        iterative_linearised_training(**kwargs)


@pytest.mark.parametrize(
    ("y", "message"),
    [(np.array([0.0, 1.0, 2.0, 1.0]), "integer class labels"),
     (np.array([0, 1, 3, 1]), r"\[0, 3\)"),
     (np.array([0, -1, 2, 1]), r"\[0, 3\)")],
)
def test_bad_cross_entropy_labels_raise(y, message):
    with pytest.raises(ValueError, match=f"y_train.*{message}"):
        iterative_linearised_training(
            _classifier, _classifier_params(0), x_train=_X, y_train=y, x_test=_X[:2],
            y_test=np.array([0, 1]), steps=2, period=1, learning_rate=0.1,
            key=jax.random.key(0), loss="cross-entropy")


def test_not_callable_model_raises_type_error():
    with pytest.raises(TypeError, match="apply_fn"):
        iterative_linearised_training(
            "mlp", _mlp_params(0), x_train=_X, y_train=np.ones(4), x_test=_X,
            y_test=np.ones(4), steps=2, period=1, learning_rate=0.1, key=jax.random.key(0))
    with pytest.raises(TypeError, match="apply_fn"):
        model_ntk(None, _mlp_params(0), _X)
    with pytest.raises(ValueError, match="x2"):
        model_ntk(_mlp, _mlp_params(0), _X, np.ones((2, 4)))


def _linear_in_theta(p, x):
    return x @ p["theta"]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), period=st.integers(2, 12),
       lr=st.floats(0.01, 0.3), optimizer=st.sampled_from(["sgd", "momentum", "adam"]),
       batch=st.sampled_from([None, 4]))
def test_random_linear_models_train_identically_for_every_period(seed, period, lr, optimizer,
                                                                 batch):
    # Shapes are fixed and the period is traced, so the examples share compilations.
    rng = np.random.default_rng(seed)
    phi, y = rng.standard_normal((10, 6)), rng.standard_normal(10)
    test = rng.standard_normal((3, 6))
    with float64():
        p0 = {"theta": jnp.asarray(rng.standard_normal(6))}

        def run(k):
            return np.asarray(iterative_linearised_training(
                _linear_in_theta, p0, x_train=phi, y_train=y, x_test=test,
                y_test=np.zeros(3), steps=20, period=k, learning_rate=lr,
                key=jax.random.key(seed), batch_size=batch, optimizer=optimizer,
                return_outputs=True, evaluate_network=False)["f_train"])

        base = run(1)
        for k in (period, None):
            np.testing.assert_allclose(run(k), base, rtol=0, atol=1e-12)
