import jax
import jax.numpy as jnp
import numpy as np
import pytest

from limitlab.numerics import (
    ACTIVATIONS,
    MLPConfig,
    empirical_ntk,
    float64,
    init_mlp,
    ravel_mlp,
)

PARAMETRIZATIONS = ("ntk", "standard", "mean-field", "general:a=3/4,b=1/2")


def jacobian_ntk(config, params, x1, x2):
    theta, apply = ravel_mlp(config, params)
    j1 = jax.jacrev(apply)(theta, x1)
    j2 = jax.jacrev(apply)(theta, x2)
    return j1 @ j2.T


def _check_against_jacobian(config, seed):
    x1 = jax.random.normal(jax.random.key(1), (5, 3))
    x2 = jax.random.normal(jax.random.key(2), (4, 3))
    params = init_mlp(config, key=jax.random.key(seed))
    got = empirical_ntk(config, params, x1, x2)
    expected = jacobian_ntk(config, params, x1, x2)
    assert got.shape == (5, 4) and got.dtype == jnp.float64
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10 * scale)
    sym = empirical_ntk(config, params, x1)
    np.testing.assert_allclose(sym, jacobian_ntk(config, params, x1, x1), rtol=1e-10,
                               atol=1e-10 * scale)


# Eager on purpose: op-by-op dispatch reuses compiled kernels across configurations of one
# shape, where jit would compile every configuration afresh.  Activations and
# parametrisations enter the kernel independently (through Delta_l, H_l and through the
# constants c_l, beta_l), so each is checked once against the materialised Jacobian.


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_matches_materialised_jacobian_for_every_activation(activation):
    with float64():
        for depth, bias in ((1, 0.0), (3, 0.3)):
            config = MLPConfig(depth=depth, width=6, input_dim=3, activation=activation,
                               bias_std=bias)
            _check_against_jacobian(config, seed=10 + depth)


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_matches_materialised_jacobian_for_every_parametrization(parametrization):
    with float64():
        for scaling, bias in ((True, 0.0), (False, 0.3)):
            config = MLPConfig(depth=2, width=6, input_dim=3, activation="tanh",
                               parametrization=parametrization, bias_std=bias,
                               input_scaling=scaling)
            _check_against_jacobian(config, seed=20 + scaling)


def test_one_hidden_layer_linear_closed_form():
    # random-tensor-orders.md §8: f = n^-1/2 sum_i V_i U_i x, Theta = (1/n) sum (U^2 + V^2) x x'.
    n = 11
    config = MLPConfig(depth=1, width=n, input_dim=1, activation="linear")
    with float64():
        params = init_mlp(config, key=jax.random.key(3))
        u, v = params[0]["W"][:, 0], params[1]["W"][0]
        x = np.array([[0.5], [-2.0], [1.5]])
        got = np.asarray(empirical_ntk(config, params, x))
        expected = np.sum(np.asarray(u) ** 2 + np.asarray(v) ** 2) / n * np.outer(x, x)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_single_vector_and_bad_shapes():
    config = MLPConfig(depth=2, width=6, input_dim=3, activation="tanh")
    with float64():
        params = init_mlp(config, key=jax.random.key(0))
        x = jnp.array([0.3, -0.4, 1.0])
        assert empirical_ntk(config, params, x).shape == (1, 1)
        assert empirical_ntk(config, params, x, jnp.ones((4, 3))).shape == (1, 4)
    with pytest.raises(ValueError, match="input_dim"):
        empirical_ntk(config, params, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="input_dim"):
        empirical_ntk(config, params, jnp.ones((3, 3)), jnp.ones(4))


def test_jittable():
    config = MLPConfig(depth=2, width=6, input_dim=3, activation="tanh", bias_std=0.3)
    with float64():
        params = init_mlp(config, key=jax.random.key(0))
        x = jax.random.normal(jax.random.key(1), (5, 3))
        jitted = jax.jit(lambda p, x: empirical_ntk(config, p, x))(params, x)
        np.testing.assert_allclose(jitted, empirical_ntk(config, params, x), rtol=1e-12)
        eigenvalues = np.linalg.eigvalsh(np.asarray(jitted))
    assert eigenvalues.min() > -1e-12  # a Gram matrix
